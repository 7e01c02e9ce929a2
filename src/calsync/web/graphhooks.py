"""Where Graph posts change notifications and lifecycle events (graph-facts §8).

    POST /graph/notifications   change notifications of calsync's subscriptions
    POST /graph/lifecycle       reauthorizationRequired, subscriptionRemoved, missed

Both answer the validation handshake first: a POST with `?validationToken=` gets 200, `text/plain`, the
decoded token, before anything else is looked at (Graph allows 10 s). A notification batch is answered
202 at once and put on a bounded queue: Graph wants 2xx within 3 s and throttles, then drops, an endpoint
that is slow (which ends in `missed`). One task per process drains the queue, taking every batch waiting
at that moment together, so a storm of notifications for one mailbox asks for one run of it, and the
runtime coalesces that with whatever is running or waiting already (the in-process scheduler, or the
job's queueing lock on PostgreSQL).

What a batch means (clientState checked in constant time, echoes of calsync's own writes dropped, events
calsync does not manage left alone) is decided by calsync.services.notifications; this module only
receives. A full queue answers 503 with Retry-After, which Graph retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from calsync.services import notifications
from calsync.services.deployment import Deployment
from calsync.services.subscribing import LIFECYCLE_PATH, NOTIFICATIONS_PATH

log = logging.getLogger("calsync.notifications")

RequestRuns = Callable[[notifications.Hints], Awaitable[None]]
"""Ask the runtime to reconcile these scopes (profile, mailbox) soon, with the ids of the events that
notifications named (calsync.services.notifications.Hints); coalesced with pending runs."""

MAX_BODY = 8 * 1024 * 1024  # a batch of 1,000 notifications is about 1 MiB
MAX_PENDING = 1_000  # batches waiting to be sorted; beyond that, 503 and Graph retries


class GraphHooks:
    """The two endpoints and the task that sorts what they received."""

    def __init__(
        self, deployment: Deployment, request_runs: RequestRuns, *, max_pending: int = MAX_PENDING
    ) -> None:
        self.deployment = deployment
        self.request_runs = request_runs
        self.queue: asyncio.Queue[tuple[str, list[Mapping[str, Any]]]] = asyncio.Queue(max_pending)
        self.received = notifications.Received()  # totals since start (tests, the demo)
        self.seen = notifications.RecentIds()
        self._task: asyncio.Task[None] | None = None

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post(NOTIFICATIONS_PATH, include_in_schema=False)
        async def changes(request: Request) -> Response:
            return await self._receive(request, "changes")

        @router.post(LIFECYCLE_PATH, include_in_schema=False)
        async def lifecycle(request: Request) -> Response:
            return await self._receive(request, "lifecycle")

        return router

    async def _receive(self, request: Request, kind: str) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:  # the handshake: echo the (already decoded) token, nothing else
            return PlainTextResponse(token, status_code=200, headers={"X-Content-Type-Options": "nosniff"})
        body = await _capped_body(request)
        if body is None:
            return Response(status_code=413)
        try:
            payload = json.loads(body)
        except ValueError:
            return Response(status_code=400)
        items = notifications.items_of(payload)
        if not items:
            return Response(status_code=400)
        try:
            self.queue.put_nowait((kind, items))
        except asyncio.QueueFull:
            log.warning("calsync.notifications.queue_full")
            return Response(status_code=503, headers={"Retry-After": "5"})
        self._ensure_task()
        return Response(status_code=202)

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="calsync-graph-notifications")

    async def _drain(self) -> None:
        while True:
            batches = [await self.queue.get()]
            while not self.queue.empty():  # everything waiting now is sorted together
                batches.append(self.queue.get_nowait())
            try:
                await self._sort(batches)
            except Exception as exc:  # a database or Graph failure: the daily full run is the backstop
                log.error("calsync.notifications.failed", exc_info=exc)
            finally:
                for _ in batches:
                    self.queue.task_done()

    async def _sort(self, batches: list[tuple[str, list[Mapping[str, Any]]]]) -> None:
        changes = [item for kind, items in batches if kind == "changes" for item in items]
        lifecycle = [item for kind, items in batches if kind == "lifecycle" for item in items]
        done = notifications.Received()
        if lifecycle:
            done.merge(await notifications.receive_lifecycle(self.deployment, lifecycle))
        if changes:
            done.merge(await notifications.receive_changes(self.deployment, changes, self.seen))
        self.received.merge(done)
        if done.scopes:
            await self.request_runs(done.scopes)

    async def settled(self) -> None:
        """Wait until every batch received so far has been sorted (tests, the demo)."""
        await self.queue.join()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _capped_body(request: Request) -> bytes | None:
    """The body, or None once it grows past MAX_BODY (read no further: a sender cannot make this
    process hold more than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def subscription_counts(deployment: Deployment) -> dict[str, float]:
    """Subscriptions by status, read at scrape time (calsync_graph_subscriptions{status})."""
    from calsync.services.subscribing import table

    return {status: float(n) for status, n in table(deployment).counts().items()}
