"""The two primitives every typed call is written against: `request` and `paginate`.

Why an abstract base: the typed calls (`api.py`, `directory.py`, `subscriptions.py`) are mixins of
GraphClient; writing them against this small interface keeps them free of transport, retry and limiter
details, and lets mypy check them without importing the client (no import cycle).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

__all__ = ["Requester"]

Params = Mapping[str, str | int | float | bool] | None


class Requester(abc.ABC):
    """What the typed calls need from a client."""

    @abc.abstractmethod
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one logical request (with retries); raise a GraphClientError for error statuses."""

    @abc.abstractmethod
    def paginate(
        self,
        path: str,
        *,
        params: Params = None,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink`."""

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """`request`, then the decoded JSON body (None for an empty body such as a 204)."""
        response = await self.request(
            method, path, params=params, json=json, headers=headers, idempotent=idempotent
        )
        return response.json() if response.content else None
