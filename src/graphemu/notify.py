"""Change-notification delivery: subscriptions' state, the outbound queue, retries and lifecycle events.

Graph tells a subscriber about event changes by POSTing `{"value": [changeNotification, ...]}` to its
notificationUrl (graph-facts §8). The emulator does the same from a background asyncio task, so a slow or
failing receiver never holds up the Graph request that changed the event. The World's change listener
(`Notifier.on_change`) only appends to a queue; the task posts, retries failures with backoff for up to
four hours of *emulator* clock, then drops, and records every attempt in `world.extra["notifications_log"]`.

Outbound HTTP goes through `world.extra["notification_transport"]` when a test puts an httpx transport
there (for example `httpx.ASGITransport(app=receiver)`), else to the real network, verifying TLS as
`EmulatorConfig.notification_verify_tls` says. Redirects are never followed.

CHOICE: a notification is a separate POST unless `notification_batch` is on; then the task waits up to
BATCH_WINDOW_SECONDS (real time, or until `drain`) and posts everything due for one URL together, possibly
for several subscriptions (at most MAX_BATCH items), as Graph may.
CHOICE: `notification_duplicate_rate` re-sends a notification later in its own POST with the same `id`;
`notification_reorder` shuffles what is due before posting. Both use an RNG seeded from `faults.seed`.
CHOICE: retry delays are 30 s doubling to 1 h (emulator clock); a notification is dropped once its next
attempt would fall more than 4 h after the first. Dropping sends a `missed` lifecycle notification when the
subscription has a lifecycleNotificationUrl, as Graph documents `missed` for undelivered notifications.
CHOICE: queued change notifications of a deleted or expired subscription are discarded at send time;
lifecycle notifications are always sent (subscriptionRemoved follows the deletion).
CHOICE: the HTTP timeout for a notification POST is 3 s, the client timeout Graph documents for webhooks;
the handshake allows 10 s. Both are enforced on in-process transports too (asyncio.wait_for).

The `Subscription` and `SubscriptionStore` it reads live in `graphemu.graph.subscription_store` (shared
with the Graph routes) and are re-exported here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import httpx

from graphemu import ids
from graphemu.errors import GraphError
from graphemu.graph.router import Context
from graphemu.graph.subscription_store import Subscription, SubscriptionStore
from graphemu.world import Change

__all__ = [
    "BATCH_WINDOW_SECONDS",
    "LIFECYCLE_EVENTS",
    "MAX_BATCH",
    "POLL_SECONDS",
    "POST_TIMEOUT_SECONDS",
    "RETRY_WINDOW_SECONDS",
    "VALIDATION_TEXT",
    "VALIDATION_TIMEOUT_SECONDS",
    "Notifier",
    "Subscription",
    "SubscriptionStore",
    "drain",
    "notification_time",
    "notifier",
    "validate_endpoint",
]

BATCH_WINDOW_SECONDS = 1.0
MAX_BATCH = 1000
POST_TIMEOUT_SECONDS = 3.0  # EmulatorConfig.notification_timeout_seconds overrides
VALIDATION_TIMEOUT_SECONDS = 10.0  # EmulatorConfig.notification_validation_timeout_seconds overrides
VALIDATION_TEXT = "Validation: Testing client application reachability for subscription Request-Id: {}"
RETRY_WINDOW_SECONDS = 4 * 3600.0
POLL_SECONDS = 0.25  # how often a waiting task re-reads the (possibly advanced) emulator clock
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


@dataclass
class _Pending:
    url: str
    item: dict[str, Any]
    sub_id: str
    lifecycle: bool
    first_at: float
    due_at: float
    attempt: int = 1
    duplicate: bool = False


@dataclass
class Notifier:
    """The outbound queue and the task that empties it; one per World."""

    ctx: Context
    store: SubscriptionStore = field(default_factory=SubscriptionStore)
    queue: collections.deque[_Pending] = field(default_factory=collections.deque)
    log: collections.deque[dict[str, Any]] = field(default_factory=lambda: collections.deque(maxlen=100_000))
    in_flight: int = 0
    flush: bool = False
    _task: asyncio.Task[None] | None = None
    _kick: asyncio.Event | None = None
    _client: httpx.AsyncClient | None = None
    _client_key: object = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.ctx.config.faults.seed)  # noqa: S311 - determinism, not security

    # -- queueing -----------------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """World listener: queue one notification per matching, active, not paused subscription."""
        world = self.ctx.world
        now = world.clock.now()
        subs = self.store.by_owner.get(change.owner_id)
        if not subs:
            return
        for sub in list(subs.values()):
            if not sub.active(now):
                self.store.remove(sub.id)
                continue
            if change.kind not in sub.change_types or self._paused(sub):
                continue
            if sub.calendar_id is not None and sub.calendar_id != change.calendar_id:
                continue
            self.enqueue(sub.notification_url, sub, self._change_item(sub, change), lifecycle=False)

    def _paused(self, sub: Subscription) -> bool:
        """After a reauthorizationRequired challenge, delivery pauses once the grace period passes."""
        if sub.reauthorization_required_at is None:
            return False
        grace = self.ctx.config.notification_reauth_grace_seconds
        return self.ctx.world.clock.time() >= sub.reauthorization_required_at + grace

    def _change_item(self, sub: Subscription, change: Change) -> dict[str, Any]:
        path = f"Users/{change.owner_id}/Events/{change.event_id}"
        data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": path}
        event = self.ctx.world.events.get(change.owner_id, {}).get(change.event_id)
        if event is not None and change.kind != "deleted":
            data["@odata.etag"] = f'W/"{event.change_key}"'
        data["id"] = change.event_id
        return {
            "id": ids.change_key().rstrip("="),
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": notification_time(sub.expiration),
            "changeType": change.kind,
            "resource": path,
            "resourceData": data,
            "clientState": sub.client_state,
            "tenantId": sub.tenant_id,
        }

    def lifecycle(self, sub: Subscription, event: str) -> bool:
        """Queue a lifecycle notification; False when the subscription has no lifecycleNotificationUrl.

        CHOICE: a subscription without a lifecycleNotificationUrl gets no challenge and so never pauses.
        """
        if not sub.lifecycle_url:
            return False
        if event == "reauthorizationRequired":
            sub.reauthorization_required_at = self.ctx.world.clock.time()
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": notification_time(sub.expiration),
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        self.enqueue(sub.lifecycle_url, sub, item, lifecycle=True)
        return True

    def enqueue(self, url: str, sub: Subscription, item: dict[str, Any], *, lifecycle: bool) -> None:
        now = self.ctx.world.clock.time()
        self.queue.append(_Pending(url, item, sub.id, lifecycle, first_at=now, due_at=now))
        self.wake()

    def wake(self) -> None:
        """Start the delivery task if needed (only possible inside a running event loop) and nudge it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a change made outside any loop (seeding); the next wake or drain delivers it
        if self._kick is None:
            self._kick = asyncio.Event()
        self._kick.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())

    # -- delivery -----------------------------------------------------------------------------------

    def _due(self) -> list[_Pending]:
        now = self.ctx.world.clock.time()
        due = [p for p in self.queue if p.due_at <= now]
        if due:
            self.queue = collections.deque(p for p in self.queue if p.due_at > now)
        return due

    def has_due(self) -> bool:
        now = self.ctx.world.clock.time()
        return any(p.due_at <= now for p in self.queue)

    async def _wait(self, seconds: float) -> None:
        assert self._kick is not None
        self._kick.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), timeout=max(seconds, 0.0))

    async def _run(self) -> None:
        config = self.ctx.config
        while self.queue:
            if config.notification_batch and not self.flush:
                await self._wait(BATCH_WINDOW_SECONDS)
            due = self._due()
            if not due:
                if not self.queue:
                    break
                next_due = min(p.due_at for p in self.queue) - self.ctx.world.clock.time()
                await self._wait(min(next_due, POLL_SECONDS))
                continue
            if config.notification_reorder:
                self.rng.shuffle(due)
            self.in_flight += len(due)
            try:
                for url, batch in self._batches(due):
                    await self._post(url, batch)
            finally:
                self.in_flight -= len(due)

    def _batches(self, due: list[_Pending]) -> list[tuple[str, list[_Pending]]]:
        now = self.ctx.world.clock.now()
        live: list[_Pending] = []
        for pending in due:
            sub = self.store.by_id.get(pending.sub_id)
            if pending.lifecycle or (sub is not None and sub.active(now)):
                live.append(pending)
            else:
                self.record(pending.url, {"value": [pending.item]}, None, pending.attempt, "discarded")
        if not self.ctx.config.notification_batch:
            return [(p.url, [p]) for p in live]
        grouped: dict[str, list[_Pending]] = {}
        for pending in live:
            grouped.setdefault(pending.url, []).append(pending)
        return [
            (url, items[i : i + MAX_BATCH])
            for url, items in grouped.items()
            for i in range(0, len(items), MAX_BATCH)
        ]

    async def _post(self, url: str, batch: list[_Pending]) -> None:
        payload = {"value": [p.item for p in batch]}
        status: int | None = None
        error: str | None = None
        timeout = self.ctx.config.notification_timeout_seconds
        try:
            response = await asyncio.wait_for(
                self.client().post(
                    url,
                    json=payload,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=timeout,
                ),
                timeout,
            )
            status = response.status_code
        except Exception as exc:  # any failure of the receiver (an in-process app may raise) is a failed POST
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self.record(url, payload, status, batch[0].attempt, "delivered" if ok else "failed", error=error)
        if ok:
            self._maybe_duplicate(batch)
        else:
            self._retry(batch)

    def _maybe_duplicate(self, batch: list[_Pending]) -> None:
        rate = self.ctx.config.notification_duplicate_rate
        if not rate:
            return
        for pending in batch:
            if not pending.duplicate and self.rng.random() < rate:
                now = self.ctx.world.clock.time()
                self.queue.append(
                    _Pending(
                        pending.url,
                        pending.item,
                        pending.sub_id,
                        pending.lifecycle,
                        first_at=now,
                        due_at=now,
                        duplicate=True,
                    )
                )

    def _retry(self, batch: list[_Pending]) -> None:
        now = self.ctx.world.clock.time()
        missed: set[str] = set()
        for pending in batch:
            delay = min(30.0 * 2 ** (pending.attempt - 1), 3600.0)
            if now + delay - pending.first_at > RETRY_WINDOW_SECONDS:
                self.record(pending.url, {"value": [pending.item]}, None, pending.attempt, "dropped")
                sub = self.store.by_id.get(pending.sub_id)
                if sub is not None and not pending.lifecycle and sub.id not in missed:
                    missed.add(sub.id)
                    self.lifecycle(sub, "missed")
                continue
            pending.attempt += 1
            pending.due_at = now + delay
            self.queue.append(pending)

    def record(
        self,
        url: str,
        payload: Any,
        status: int | None,
        attempt: int,
        outcome: str,
        *,
        error: str | None = None,
    ) -> None:
        """One line of `world.extra["notifications_log"]` (deliveries, failures, drops and handshakes)."""
        self.log.append(
            {
                "at": self.ctx.world.clock.now().isoformat(),
                "url": url,
                "payload": payload,
                "status": status,
                "attempt": attempt,
                "outcome": outcome,
                "error": error,
            }
        )

    async def aclose(self) -> None:
        """Stop delivering and close the outbound connections (the server is shutting down)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def client(self) -> httpx.AsyncClient:
        """One client per transport: the injected in-process one, or the network with configured TLS."""
        transport = self.ctx.world.extra.get("notification_transport")
        key = transport if transport is not None else ("net", self.ctx.config.notification_verify_tls)
        if self._client is None or self._client_key != key:
            if transport is not None:
                self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)
            else:
                self._client = httpx.AsyncClient(verify=self.ctx.config.notification_verify_tls)
            self._client_key = key
        return self._client


async def validate_endpoint(ctx: Context, url: str, request_id: str) -> None:
    """The validation handshake: POST `?validationToken=` (text/plain, empty body) and expect, within the
    timeout, 200 with a text/plain body equal to the decoded token; else the 400 Graph answers."""
    note = notifier(ctx)
    token = VALIDATION_TEXT.format(request_id)
    encoded = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote_plus(token))
    target = f"{url}{'&' if '?' in url else '?'}validationToken={encoded}"
    timeout = ctx.config.notification_validation_timeout_seconds
    try:
        response = await asyncio.wait_for(
            note.client().post(
                target, content=b"", headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=timeout
            ),
            timeout,
        )
    except (httpx.TimeoutException, TimeoutError):
        note.record(target, None, None, 1, "validation-timeout")
        raise GraphError(400, "InvalidRequest", "Subscription validation request timed out.") from None
    except Exception as exc:  # refused, reset, TLS failure, or an in-process receiver that raised
        note.record(target, None, None, 1, "validation-failed", error=f"{type(exc).__name__}: {exc}")
        raise _validation_failed() from None
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    ok = response.status_code == 200 and content_type == "text/plain" and response.text == token
    note.record(target, None, response.status_code, 1, "validated" if ok else "validation-failed")
    if not ok:
        raise _validation_failed()


def _validation_failed() -> GraphError:
    return GraphError(
        400,
        "ValidationError",
        "Subscription validation request failed. Notification endpoint "
        "must respond with 200 OK to validation request.",
    )


def notification_time(value: datetime) -> str:
    """subscriptionExpirationDateTime as Outlook notifications carry it, e.g. 2019-08-02T07:58:15.5+00:00."""
    return value.isoformat(timespec="microseconds")


def notifier(ctx: Context) -> Notifier:
    """The World's notifier, created (and hooked into the change listeners) on first use."""
    existing = ctx.world.extra.get("notifier")
    if isinstance(existing, Notifier):
        return existing
    created = Notifier(ctx)
    ctx.world.extra["notifier"] = created
    ctx.world.extra["subscriptions"] = created.store
    ctx.world.extra["notifications_log"] = created.log
    ctx.world.listeners.append(created.on_change)
    return created


async def drain(ctx: Context) -> None:
    """Wait until every notification that is due has been attempted and nothing is in flight.

    Retries scheduled for later (emulator clock) stay queued: advance the clock and drain again.
    """
    note = notifier(ctx)
    note.flush = True
    try:
        while note.has_due() or note.in_flight:
            note.wake()
            await asyncio.sleep(0.001)
    finally:
        note.flush = False
