"""Delivering the outbox: claim due rows, POST each signed body to its channel, record the outcome.

One `Deliverer` per process. `run_once` claims a batch (calsync.store.sqlpush: SKIP LOCKED on
PostgreSQL, so any number of processes deliver side by side without sending a row twice), sends the
batch concurrently (a slow receiver holds up only its own rows), and records each outcome:

- 2xx: delivered. 410 Gone: the channel is disabled (the receiver asked to stop), its rows die.
- anything else (3xx, 4xx, 5xx, no answer within `push_timeout_seconds`, a refused connection, a URL
  that now resolves to a refused address): retried on the schedule of calsync.services.push.retry,
  honouring Retry-After on 429/503; after the last attempt the notification dies and the channel is
  disabled, with the reason kept for its owner and the admin pages.

At least once: a process that dies between a receiver's answer and the mark sends that row again once
its claim has expired (`lease`, well above the attempt timeout). Every attempt of a notification
carries the same `webhook-id`, so receivers drop the repeat.

Redirects are not followed (3xx is a failure, as Standard Webhooks says) and the response body is
never read; keep-alive is off, because a connection pinned to one checked address must not be reused
for another host name.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from calsync import metrics
from calsync.services.push import signing
from calsync.services.push.errors import CallbackRefused
from calsync.services.push.guard import CallbackPolicy, pin
from calsync.services.push.retry import Decision, decide
from calsync.services.secretbox import SecretBox, SecretBoxError, secret_box
from calsync.sources.fetch import Resolver, default_resolver
from calsync.store.sqlpush import Claim, SqlPushStore
from calsync.sync.engine import off_loop

if TYPE_CHECKING:
    from calsync.services.deployment import Deployment

log = logging.getLogger("calsync.push")


@dataclass
class PassResult:
    """What one `run_once` did, by verdict."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    gone: int = 0
    dead: int = 0
    lost_claims: int = 0  # the mark came too late: another deliverer had taken the row over


@dataclass
class Attempt:
    status: int | None
    retry_after: str | None
    error: str


@dataclass
class Deliverer:
    """Delivers due notifications (see the module docstring). Close with `aclose`."""

    store: SqlPushStore
    box_factory: Callable[[], SecretBox]
    policy: CallbackPolicy
    timeout: float = 10.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # schedules retries
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # signs (receivers check it)
    resolver: Resolver = default_resolver
    rng: Callable[[], float] = random.random
    batch: int = 64
    parallel: int = 16
    kept: timedelta = timedelta(days=7)
    _client: httpx.AsyncClient | None = field(default=None, repr=False)
    _box: SecretBox | None = field(default=None, repr=False)

    @property
    def lease(self) -> timedelta:
        """How long a claimed row stays invisible to other deliverers: the attempt's timeout and then
        some, so that only a dead deliverer's rows are taken over."""
        return timedelta(seconds=self.timeout * 3 + 30)

    async def run_once(self) -> PassResult:
        """Claim up to `batch` due rows and attempt each; returns what happened."""
        claims = await off_loop(self.store.claim_due, self.clock(), limit=self.batch, lease=self.lease)
        result = PassResult(claimed=len(claims))
        gate = asyncio.Semaphore(self.parallel)

        async def one(claim: Claim) -> None:
            async with gate:
                await self._deliver(claim, result)

        await asyncio.gather(*(one(c) for c in claims))
        return result

    async def drain(self) -> PassResult:
        """`run_once` until nothing is due now; the totals."""
        total = PassResult()
        while True:
            step = await self.run_once()
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(step, name))
            if step.claimed < self.batch:
                return total

    async def next_due(self) -> datetime | None:
        return await off_loop(self.store.next_due)

    async def housekeep(self) -> int:
        """Delete delivered and dead notifications older than `kept`; returns how many."""
        return await off_loop(self.store.purge_outbox, self.clock() - self.kept)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0, max_connections=self.parallel * 2),
            )
        return self._client

    async def _deliver(self, claim: Claim, result: PassResult) -> None:
        started = time.monotonic()
        attempt = await self._attempt(claim)
        now = self.clock()
        decision = decide(
            attempt.status, claim.item.attempts, now, retry_after=attempt.retry_after, rng=self.rng
        )
        kept = await self._record(claim, decision, attempt, now)
        counter = "retried" if decision.verdict == "retry" else decision.verdict
        setattr(result, counter, getattr(result, counter) + 1)
        if not kept:
            result.lost_claims += 1
        lag = (now - claim.item.created).total_seconds() if decision.verdict == "delivered" else None
        metrics.record_push_attempt(decision.verdict, time.monotonic() - started, lag)

    async def _attempt(self, claim: Claim) -> Attempt:
        channel = claim.channel
        try:
            if self._box is None:
                self._box = self.box_factory()
            secret = self._box.open(channel.secret, channel.id)
        except SecretBoxError as exc:
            log.error("channel %s: %s", channel.id, exc)
            return Attempt(None, None, f"not sent: {exc}")
        body = claim.item.payload.encode()
        headers = signing.headers(
            secret, claim.item.webhook_id, body, self.wall(), cronofy=channel.cronofy_signature
        )
        try:
            async with asyncio.timeout(self.timeout):
                target = await pin(channel.callback_url, self.policy, self.resolver)
                headers["host"] = target.host_header
                extensions = {"sni_hostname": target.server_name} if target.server_name else {}
                client = self._http()
                request = client.build_request("POST", target.url, content=body, headers=headers,
                                               extensions=extensions)  # fmt: skip
                response = await client.send(request, stream=True)
                await response.aclose()  # the body is never read
        except CallbackRefused as exc:
            return Attempt(None, None, f"not sent: {exc}")
        except TimeoutError:
            return Attempt(None, None, f"no answer within {self.timeout:g} s")
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            return Attempt(None, None, f"the connection failed ({type(exc).__name__})")
        status = response.status_code
        return Attempt(status, response.headers.get("retry-after"), f"HTTP {status}")

    async def _record(self, claim: Claim, decision: Decision, attempt: Attempt, now: datetime) -> bool:
        store, channel = self.store, claim.channel
        if decision.verdict == "delivered":
            assert attempt.status is not None
            return await off_loop(store.mark_delivered, claim, now, attempt.status)
        if decision.verdict == "retry":
            assert decision.at is not None
            return await off_loop(store.reschedule, claim, decision.at, attempt.status, attempt.error)
        if decision.verdict == "gone":
            reason = "the receiver answered 410 Gone"
        else:
            reason = (
                f"no delivery succeeded in {claim.item.attempts} attempts over days (last: {attempt.error})"
            )
        kept = await off_loop(store.mark_dead, claim, attempt.status, attempt.error)
        if kept:
            log.warning("channel %s disabled: %s", channel.id, reason)
            await off_loop(store.disable_channel, channel.id, reason)
        return kept


def deliverer(deployment: Deployment, **options: object) -> Deliverer:
    """The deployment's deliverer: its database, keys, callback policy, timeout and clock."""
    from calsync.services.push.channels import policy
    from calsync.services.push.publish import push_store

    s = deployment.settings
    made = Deliverer(
        push_store(deployment),
        lambda: secret_box(s),
        policy(s),
        timeout=s.push_timeout_seconds,
        clock=deployment.clock,
        kept=timedelta(days=s.push_kept_days),
    )
    for name, value in options.items():
        setattr(made, name, value)
    return made
