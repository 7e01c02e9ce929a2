"""GraphClient: one async client for Microsoft Graph, with auth, limits, retries, paging, delta and `$batch`.

Create **one GraphClient per process** (per app registration) and share it: it owns one httpx.AsyncClient
(connection pool, HTTP/2) and the per-mailbox limiter, and both only work as intended when every request of
the process goes through them (the Outlook limits are per app and mailbox, not per client object).

Each logical request goes: retry loop (retry.py) -> limiter slot (limiter.py) -> httpx with `GraphAuth`
(token, one refresh on 401) -> transport. Every request carries a fresh `client-request-id` (uuid4, kept
across the retries of one call so Graph's logs tie them together); every error keeps Graph's `request-id`.
Logs: one `calsync.graph.request` record per HTTP exchange (method, path without query values, status,
request ids, elapsed), `calsync.graph.retry_scheduled` per retry; never headers, tokens or bodies.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from calsync.graph import batch as batch_module
from calsync.graph import delta as delta_module
from calsync.graph import paging
from calsync.graph.api import CalendarApi
from calsync.graph.directory import DirectoryApi
from calsync.graph.errors import Throttled, graph_error
from calsync.graph.limiter import MailboxLimiter, mailbox_key
from calsync.graph.requester import Params
from calsync.graph.retry import Clock, RetryPolicy, SystemClock, is_retry_safe, retrying
from calsync.graph.schedule import ScheduleApi
from calsync.graph.subscriptions import SubscriptionApi
from calsync.graph.tokens import TokenProvider
from calsync.graph.transport import (
    DEFAULT_TIMEOUT,
    GraphAuth,
    build_http_client,
    loggable_path,
    transport_error,
)

__all__ = ["DEFAULT_BASE_URL", "GraphClient"]

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
log = logging.getLogger("calsync.graph")


class GraphClient(CalendarApi, DirectoryApi, SubscriptionApi, ScheduleApi):
    """The Graph client. Use as `async with GraphClient(provider) as graph: ...` or call `aclose()`.

    Args:
        token_provider: where access tokens come from (`AppTokenProvider`, `DelegatedTokenProvider`).
        base_url: Graph's version root; graphemu: "https://127.0.0.1:8443/v1.0".
        transport: an httpx transport (tests: graphemu's EmulatorTransport or httpx.MockTransport).
        verify: True, an `ssl.SSLContext`, or the path of a CA bundle (graphemu's ca.pem).
        timeout: httpx timeouts; connect 10 s, everything else 30 s by default.
        mailbox_concurrency: requests in flight per mailbox (Outlook allows 4).
        max_in_flight: requests in flight in all (also the connection pool size).
        rate_limit: requests per second for the whole app (<= 0: unlimited); batch items count one each.
        retry: attempts and time bounds of retries.
        clock: time and sleep; tests pass a fake that never sleeps.
        rng: randomness of the backoff jitter (seed it in tests).
        http2: None = use HTTP/2 when the h2 package is installed.
        observer: called after every HTTP exchange with (method, status or None when the request could
            not be sent, Retry-After seconds of a 429 or None): metrics, without this package knowing them.
    """

    def __init__(
        self,
        token_provider: TokenProvider,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | str | Path | bool = True,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        mailbox_concurrency: int = 4,
        max_in_flight: int = 100,
        rate_limit: float = 6500.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        http2: bool | None = None,
        trust_env: bool = True,
        observer: Callable[[str, int | None, float | None], None] | None = None,
    ) -> None:
        self.observer = observer
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self._base_path = self.base_url.path.rstrip("/")
        self.retry_policy = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.limiter = MailboxLimiter(
            mailbox_concurrency, max_in_flight=max_in_flight, rate_per_second=rate_limit, clock=self.clock
        )
        self.auth = GraphAuth(token_provider, self.base_url)
        self._http = build_http_client(
            base_url=str(self.base_url),
            auth=self.auth,
            verify=verify,
            timeout=timeout,
            max_connections=max_in_flight,
            transport=transport,
            http2=http2,
            trust_env=trust_env,
        )
        self.requests_sent = 0  # HTTP exchanges (a $batch counts once), for benchmarks and tests

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- the primitives ---------------------------------------------------------------------------

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
        """Send one logical request with retries; any Graph path or absolute Graph URL.

        Args:
            idempotent: override the retry-safety guess (retry.is_retry_safe), e.g. True for a POST that
                only reads.

        Raises:
            HTTPStatusError: (a subclass) for an error status, after retries where allowed.
            Indeterminate: the request was sent and its outcome is unknown.
            TransportError: the request could not be sent.
        """
        method = method.upper()
        url = self._http.build_request(method, path, params=params).url
        relative = self._relative(url)
        client_request_id = str(uuid.uuid4())

        async def attempt() -> httpx.Response:
            return await self.send_once(
                method, path, params=params, json=json, headers=headers, client_request_id=client_request_id
            )

        def on_retry(exc: Exception, number: int, delay: float) -> None:
            if isinstance(exc, Throttled):
                self.limiter.pause(mailbox_key(relative), delay)
            log.info(
                "calsync.graph.retry_scheduled",
                extra={
                    "method": method,
                    "path": loggable_path(url, self._base_path),
                    "attempt": number,
                    "wait_seconds": round(delay, 3),
                    "error": type(exc).__name__,
                },
            )

        return await retrying(
            attempt,
            retry_safe=is_retry_safe(method, json, idempotent=idempotent),
            method=method,
            path=loggable_path(url, self._base_path),
            policy=self.retry_policy,
            clock=self.clock,
            rng=self.rng,
            on_retry=on_retry,
        )

    async def send_once(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        client_request_id: str | None = None,
        limit_key: str | None = None,
        batch: bool = False,
        cost: float = 1.0,
    ) -> httpx.Response:
        """One attempt, no retries: limiter slot, send, classify. A 429 pauses the mailbox at once.

        `limit_key` replaces the mailbox parsed from the path (used for `$batch`, whose path names none).
        """
        request_headers = {"client-request-id": client_request_id or str(uuid.uuid4()), **(headers or {})}
        request = self._http.build_request(method, path, params=params, json=json, headers=request_headers)
        key = limit_key if batch else mailbox_key(self._relative(request.url))
        async with self.limiter.slot(key, batch=batch, cost=cost):
            started = time.perf_counter()
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                self._log(request, None, started)
                if self.observer is not None:
                    self.observer("$batch" if batch else request.method, None, None)
                raise transport_error(
                    exc, request.method, loggable_path(request.url, self._base_path)
                ) from exc
            self.requests_sent += 1
            self._log(request, response, started)
            if response.status_code >= 400:
                error = graph_error(response.status_code, response.headers, response.content)
                retry_after = error.retry_after if isinstance(error, Throttled) else None
                if retry_after is not None:
                    self.limiter.pause(key, retry_after)
                if self.observer is not None:
                    self.observer("$batch" if batch else request.method, response.status_code, retry_after)
                raise error
            if self.observer is not None:
                self.observer("$batch" if batch else request.method, response.status_code, None)
        return response

    async def send_batch_once(
        self, mailbox: str | None, payload: dict[str, Any], items: int
    ) -> httpx.Response:
        """POST one `$batch` envelope for `mailbox` (all its slots held, one rate token per item)."""
        return await self.send_once("POST", "$batch", json=payload, limit_key=mailbox, batch=True, cost=items)

    def paginate(
        self,
        path: str,
        *,
        params: Params = None,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink` verbatim (paging.py)."""
        return paging.paginate(self, path, params=params, page_size=page_size, headers=headers)

    def pages(
        self,
        path: str,
        *,
        params: Params = None,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a collection (for callers that need `@odata.count` or the links)."""
        return paging.pages(self, path, params=params, page_size=page_size, headers=headers)

    async def delta_round(
        self,
        start: delta_module.DeltaStart | str,
        *,
        known_ids: Any = None,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> delta_module.DeltaRound:
        """One calendarView delta round from a `DeltaStart` or a saved deltaLink (delta.py)."""
        return await delta_module.delta_round(
            self, start, known_ids=known_ids, page_size=page_size, headers=headers
        )

    async def batch(self, items: Sequence[batch_module.BatchItem]) -> list[batch_module.BatchResult]:
        """Send many requests as `$batch` calls of at most 20, one mailbox each (batch.py)."""
        return await batch_module.run_batch(self, items)

    # -- helpers ----------------------------------------------------------------------------------

    def _relative(self, url: httpx.URL) -> str:
        path = url.path
        return path[len(self._base_path) :] if self._base_path and path.startswith(self._base_path) else path

    def _log(self, request: httpx.Request, response: httpx.Response | None, started: float) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug(
            "calsync.graph.request",
            extra={
                "method": request.method,
                "path": loggable_path(request.url, self._base_path),
                "status": response.status_code if response is not None else None,
                "request_id": response.headers.get("request-id") if response is not None else None,
                "client_request_id": request.headers.get("client-request-id"),
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
