"""Test support for the identity tests: an msal http_client that runs on the test's event loop, a
self-signed certificate registered on the emulated app, and a reader for the form_post answer page."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser
from typing import Any

import httpx

from graphemu.seed import certificate_from_pem
from graphemu.testing import EmulatorTransport

from .conftest import CLIENT
from .test_credentials import make_certificate, pem

LOGIN = "https://login.emulator.test"


class LoopBridge:
    """msal's small HTTP interface (get/post/close) served by the in-process emulator.

    msal runs in a worker thread (calsync.graph.auth uses asyncio.to_thread); each call is handed to the
    test's event loop, which is free meanwhile, so the emulator's world is only touched from that loop.
    """

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._client = httpx.AsyncClient(transport=EmulatorTransport(app), follow_redirects=False)
        self._loop = loop
        self.calls: list[tuple[str, str]] = []

    def _run(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._client.send(request)
            await response.aread()
            return response

        return asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=30)

    @staticmethod
    def _headers(headers: dict[str, Any] | None) -> dict[str, str]:
        return {k: str(v) for k, v in (headers or {}).items() if v is not None}

    def get(self, url: str, params: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> Any:
        self.calls.append(("GET", url))
        return self._run(
            self._client.build_request("GET", url, params=params, headers=self._headers(headers))
        )

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        self.calls.append(("POST", url))
        if isinstance(data, str | bytes):
            request = self._client.build_request(
                "POST", url, params=params, content=data, headers=self._headers(headers)
            )
        else:  # requests sends bytes form values as text (msal passes the assertion as bytes)
            form = {k: v.decode() if isinstance(v, bytes) else v for k, v in (data or {}).items()}
            request = self._client.build_request(
                "POST", url, params=params, data=form, headers=self._headers(headers)
            )
        return self._run(request)

    def close(self) -> None:
        pass

    @property
    def token_posts(self) -> int:
        return sum(1 for method, url in self.calls if method == "POST" and url.endswith("/oauth2/v2.0/token"))

    async def aclose(self) -> None:
        await self._client.aclose()


def register_certificate(app: Any) -> tuple[Any, Any]:
    """A new key and certificate, the certificate uploaded to the test app; returns (key, cert)."""
    key, cert = make_certificate()
    app.state.world.apps[CLIENT].certificates.append(certificate_from_pem(pem(cert)))
    return key, cert


class HiddenFields(HTMLParser):
    """The hidden inputs of a page (the form_post answer carries code and state in them)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden":
            self.fields[values.get("name") or ""] = values.get("value") or ""
