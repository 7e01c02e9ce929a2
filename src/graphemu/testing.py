"""In-process use of the emulator from httpx, with network failures that look real.

`EmulatorTransport(app)` is httpx's ASGITransport plus what a network does on commit-then-drop: a dropped
connection surfaces as `httpx.RemoteProtocolError` and a hang as `httpx.ReadTimeout`, exactly the
exceptions a client sees against `graphemu serve` over TLS. Clients under test need no other seam.
"""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp

from graphemu.pipeline import ConnectionDropped, SimulatedTimeout


class EmulatorTransport(httpx.AsyncBaseTransport):
    """An httpx async transport that runs requests against an in-process graphemu app."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        except SimulatedTimeout:
            raise httpx.ReadTimeout("The read operation timed out", request=request) from None

    async def aclose(self) -> None:
        await self._inner.aclose()
