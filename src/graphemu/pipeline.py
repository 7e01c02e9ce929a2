"""What happens to every Graph request, direct or inside a `$batch`: log, throttle, fault, wait, run.

Order (each step may answer instead of the handler):
1. Retry-After check: a request to the same app + mailbox + method + path before the Retry-After of a 429
   sent for it elapsed is throttled again, and counted as a violation (Dev Proxy's RetryAfterPlugin) if the
   client received that 429: one inside a `$batch` whose response was lost to commit-then-drop was never
   seen, so the client could not honour it (`Pipeline.answers_lost`).
2. Outlook limits per app and mailbox (graph-facts §7): 10,000 requests per 10 minutes, 4 in flight;
   over either -> 429 ApplicationThrottled with Retry-After.
3. Random faults (seeded): 429/500/502/503/504, and 507 on writes, at the configured rate.
4. Latency (fixed plus jitter), while the request holds its in-flight slot.
5. The handler. Then commit-then-drop: the write stays applied but the response is lost (connection reset,
   timeout or 503), which is how a client meets an *indeterminate* outcome.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphemu.errors import GraphError
from graphemu.graph.access import require_permission, resolve_mailbox
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Router, split_path

RETRY_GRACE_SECONDS = 0.05
TRANSIENT_412 = (
    "The send or update operation could not be performed because the change key passed in the request "
    "does not match the current change key for the item."
)  # a request already on the wire when the 429 left is not a violation


class ConnectionDropped(Exception):
    """Raised after a write was applied, to make the transport reset the connection."""


class SimulatedTimeout(Exception):
    """Raised after a write was applied, to make the transport time out (hang, then close)."""


@dataclass
class _Block:
    """The latest 429 sent for one method + path: when, until when its Retry-After runs, and whether the
    client got it (False once the response carrying it was lost)."""

    issued: float
    until: float
    request_id: str
    delivered: bool = True


@dataclass
class _MailboxState:
    in_flight: int = 0
    window: collections.deque[float] = field(default_factory=collections.deque)
    blocked_until: dict[tuple[str, str], _Block] = field(default_factory=dict)  # by (method, lower path)


@dataclass
class LogEntry:
    """One line of the request log the control API exposes."""

    seq: int
    at: float
    method: str
    path: str
    query: dict[str, str]
    status: int
    client_id: str
    mailbox: str
    request_id: str
    client_request_id: str
    in_batch: bool
    body: Any = None
    outcome: str = "ok"  # ok | throttled | fault | dropped


class Pipeline:
    """Runs Graph requests against the router with the emulator's limits and faults."""

    def __init__(self, ctx: Context, router: Router) -> None:
        self.ctx = ctx
        self.router = router
        self.rng = random.Random(ctx.config.faults.seed)  # noqa: S311 - determinism, not security
        self.mailboxes: dict[tuple[str, str], _MailboxState] = collections.defaultdict(_MailboxState)
        self.log: collections.deque[LogEntry] = collections.deque(maxlen=100_000)
        self._seq = 0

    def reseed(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311

    def mailbox_key(self, req: GraphRequest, segments: list[str]) -> str:
        """The mailbox a request counts against: the addressed user's id, else the tenant."""
        if len(segments) >= 2 and segments[0].lower() == "users":
            user = self.ctx.world.find_user(segments[1], req.principal.tenant_id)
            return user.id if user else segments[1].lower()
        return f"tenant:{req.principal.tenant_id}"

    async def execute(
        self, req: GraphRequest, *, in_batch: bool = False, sent_at: float | None = None
    ) -> GraphResponse:
        """Run one request through every step; GraphErrors become error responses here. `sent_at` is when the
        client sent it (a `$batch` item: when its batch arrived), so that items of a batch that was already
        on its way when a 429 left are not counted as Retry-After violations."""
        world, config = self.ctx.world, self.ctx.config
        world.counters.requests += 1
        entry = self._log(req, in_batch)
        try:
            segments = split_path(req.path, req.principal)
            mailbox = self.mailbox_key(req, segments)
        except GraphError as exc:
            return self._error(req, exc, entry)
        state = self._state(req, mailbox)
        entry.mailbox = mailbox
        now = world.clock.monotonic()
        blocked = state.blocked_until.get((req.method, req.path.lower()))
        if blocked is not None and now < blocked.until - RETRY_GRACE_SECONDS:
            sent = sent_at if sent_at is not None else now
            if blocked.delivered and sent > blocked.issued + RETRY_GRACE_SECONDS:
                world.counters.retry_after_violations += 1
            return self._throttle(
                req, state, entry, blocked.until - now, "Application is over its MailboxConcurrency limit."
            )
        # Rolling 10-minute window.
        while state.window and state.window[0] <= now - config.mailbox_window_seconds:
            state.window.popleft()
        if len(state.window) >= config.mailbox_window_requests:
            world.counters.throttled_window += 1
            retry = state.window[0] + config.mailbox_window_seconds - now
            return self._throttle(req, state, entry, retry, "Application is over its request limit.")
        state.window.append(now)
        if state.in_flight >= config.mailbox_concurrency:
            world.counters.throttled_mailbox_concurrency += 1
            return self._throttle(
                req,
                state,
                entry,
                config.throttle_retry_after,
                "Application is over its MailboxConcurrency limit.",
            )
        state.in_flight += 1
        world.counters.max_in_flight_per_mailbox = max(
            world.counters.max_in_flight_per_mailbox, state.in_flight
        )
        try:
            return await self._run(req, segments, state, entry)
        finally:
            state.in_flight -= 1

    def _state(self, req: GraphRequest, mailbox: str) -> _MailboxState:
        """The limits' state a request counts against: per app and mailbox, or per app."""
        scope = mailbox if self.ctx.config.concurrency_scope == "app+mailbox" else "*"
        return self.mailboxes[(req.principal.client_id, scope)]

    def answers_lost(self, requests: Iterable[GraphRequest]) -> None:
        """These requests ran, but the client never received their answers (their `$batch` response was
        dropped): a 429 among them is still in force, yet a retry before its Retry-After is no violation."""
        for req in requests:
            try:
                mailbox = self.mailbox_key(req, split_path(req.path, req.principal))
            except GraphError:
                continue
            blocked = self._state(req, mailbox).blocked_until.get((req.method, req.path.lower()))
            if blocked is not None and blocked.request_id == req.request_id:
                blocked.delivered = False

    async def _run(
        self, req: GraphRequest, segments: list[str], state: _MailboxState, entry: LogEntry
    ) -> GraphResponse:
        faults = self.ctx.config.faults
        if faults.rate and req.method in faults.methods and self.rng.random() < faults.rate:
            allowed = [s for s in faults.statuses if s != 507 or req.method in ("POST", "PATCH", "PUT")]
            if allowed:
                self.ctx.world.counters.injected_faults += 1
                entry.outcome = "fault"
                return self._fault(req, state, entry, self.rng.choice(allowed))
        delay = faults.latency_ms + (self.rng.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        try:
            route, params = self.router.match(req.method, segments)
            kwargs: dict[str, Any] = dict(params)
            if route.permission:
                require_permission(req.principal, route.permission)
            if route.permission and route.permission.startswith("Calendars") and "user" in kwargs:
                kwargs["mailbox"] = resolve_mailbox(self.ctx, req.principal, kwargs.pop("user"))
            if (
                req.method == "PATCH"
                and faults.transient_412_rate
                and self.rng.random() < faults.transient_412_rate
            ):
                raise GraphError(412, "ErrorIrresolvableConflict", TRANSIENT_412)
            result = route.handler(self.ctx, req, **kwargs)
            response = await result if inspect.isawaitable(result) else result
        except GraphError as exc:
            return self._error(req, exc, entry)
        entry.status = response.status
        if (
            faults.commit_then_drop_rate
            and req.method in faults.commit_then_drop_methods
            and response.status < 300
            and self.rng.random() < faults.commit_then_drop_rate
        ):
            self.ctx.world.counters.commit_then_drop += 1
            entry.outcome = "dropped"
            if faults.commit_then_drop_mode == "reset":
                raise ConnectionDropped(req.request_id)
            if faults.commit_then_drop_mode == "timeout":
                raise SimulatedTimeout(req.request_id)
            return self._error(req, GraphError(503, "ServiceUnavailable", "Service Unavailable"), entry)
        return response

    # -- answers -----------------------------------------------------------------------------------

    def _throttle(
        self, req: GraphRequest, state: _MailboxState, entry: LogEntry, retry_after: float, message: str
    ) -> GraphResponse:
        retry_after = max(retry_after, 0.001)
        now = self.ctx.world.clock.monotonic()
        state.blocked_until[(req.method, req.path.lower())] = _Block(now, now + retry_after, req.request_id)
        entry.outcome = "throttled"
        exc = GraphError(
            429, "ApplicationThrottled", message, headers={"Retry-After": _fmt_seconds(retry_after)}
        )
        return self._error(req, exc, entry)

    def _fault(self, req: GraphRequest, state: _MailboxState, entry: LogEntry, status: int) -> GraphResponse:
        faults = self.ctx.config.faults
        if status == 429:
            response = self._throttle(req, state, entry, faults.retry_after, "Please retry again later.")
            response.body["error"]["code"] = "TooManyRequests"
            response.body["error"]["innerError"].update({"code": "429", "status": "429"})
            entry.outcome = "fault"
            return response
        codes = {
            500: ("generalException", "General exception while processing."),
            502: ("BadGateway", "Bad Gateway"),
            503: ("ServiceUnavailable", "Service Unavailable"),
            504: ("GatewayTimeout", "Gateway Timeout"),
            507: ("ErrorQuotaExceeded", "Cannot save changes made to an item to store."),
        }
        code, message = codes.get(status, ("generalException", "Error"))
        return self._error(req, GraphError(status, code, message), entry)

    def _error(self, req: GraphRequest, exc: GraphError, entry: LogEntry) -> GraphResponse:
        world = self.ctx.world
        if exc.status == 400:
            world.counters.status_400 += 1
        if exc.code == "TimeZoneNotSupportedException":
            world.counters.time_zone_not_supported += 1
        entry.status = exc.status
        body = exc.body(world.clock.now(), req.request_id, req.client_request_id)
        return GraphResponse(exc.status, body, dict(exc.headers))

    def _log(self, req: GraphRequest, in_batch: bool) -> LogEntry:
        self._seq += 1
        entry = LogEntry(
            seq=self._seq,
            at=self.ctx.world.clock.time(),
            method=req.method,
            path=req.path,
            query=dict(req.query),
            status=0,
            client_id=req.principal.client_id,
            mailbox="",
            request_id=req.request_id,
            client_request_id=req.client_request_id,
            in_batch=in_batch,
            body=req.body if req.method in ("POST", "PATCH", "PUT") else None,
        )
        self.log.append(entry)
        return entry


def _fmt_seconds(seconds: float) -> str:
    """Retry-After as Graph sends it: whole seconds when integral, else a decimal like "2.128"."""
    if abs(seconds - round(seconds)) < 1e-9:
        return str(round(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
