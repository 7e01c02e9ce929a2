"""Client-side limits that keep calsync inside Graph's Outlook limits instead of learning them from 429s.

Why each limit (graph-facts §6-7):
- **Per mailbox, at most N requests in flight** (default 4: Outlook allows 4 concurrent requests per app and
  mailbox). Keyed by the lower-cased segment after `/users/` (object id or UPN: use one form per mailbox) or
  `me`. A `$batch` to one mailbox is one HTTP request, but Graph runs up to 4 of its items in parallel
  against Outlook, so a batch takes *all* N slots of its mailbox: otherwise a batch plus a few single
  requests would exceed the limit and come back as MailboxConcurrency 429s.
- **A throttled mailbox pauses alone**: after a 429 with Retry-After on mailbox M, no new request for M
  leaves before the pause ends, while other mailboxes go on. Graph's Retry-After answers one request, but
  the limits behind it are per app and mailbox, so the whole mailbox waits.
- **A global request rate per app** (token bucket, default 6,500 requests/s: half of today's documented
  130,000 per 10 s, so other processes of the same app registration keep room; the older docs said 2,000/s).
  A `$batch` costs one token per item, as Graph counts items.
- **A global cap on requests in flight** so waiting happens here, in order, not in httpx's connection pool
  (where it would end as PoolTimeout).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from calsync.graph.retry import Clock, SystemClock

__all__ = ["MailboxLimiter", "RateLimiter", "WeightedSemaphore", "mailbox_key"]

_VERSIONS = frozenset({"v1.0", "beta"})


def mailbox_key(path: str) -> str | None:
    """The mailbox a Graph path addresses: `users/{key}/...` gives the lower-cased key, `me/...` gives
    "me", anything else (subscriptions, groups, `$batch`) None. Accepts a leading version segment."""
    segments = [unquote(s) for s in urlsplit(path).path.split("/") if s]
    if segments and segments[0].lower() in _VERSIONS:
        segments = segments[1:]
    if not segments:
        return None
    head = segments[0].lower()
    if head == "me":
        return "me"
    if head == "users" and len(segments) >= 2:
        return segments[1].lower()
    return None


class WeightedSemaphore:
    """A FIFO semaphore whose holders take 1..capacity units: a waiting batch (capacity units) is not
    overtaken by later single requests, so it cannot starve."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.in_use = 0
        self.max_in_use = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def acquire(self, weight: int = 1) -> int:
        """Take `weight` units (clamped to 1..capacity); returns the units taken, to give to `release`."""
        weight = max(1, min(weight, self.capacity))
        if not self._waiters and self.in_use + weight <= self.capacity:
            self._take(weight)
            return weight
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((weight, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(weight)  # granted just before the cancellation: give it back
            else:
                self._wake()
            raise
        return weight

    def release(self, weight: int) -> None:
        """Give back units taken by `acquire`."""
        self.in_use -= weight
        self._wake()

    def _take(self, weight: int) -> None:
        self.in_use += weight
        self.max_in_use = max(self.max_in_use, self.in_use)

    def _wake(self) -> None:
        while self._waiters:
            weight, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if self.in_use + weight > self.capacity:
                return
            self._waiters.popleft()
            self._take(weight)
            future.set_result(None)


class RateLimiter:
    """A token bucket: `rate` tokens per second, at most `burst` saved up. rate <= 0 disables it."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Clock | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self._clock = clock or SystemClock()
        self._tokens = self.burst
        self._stamp = self._clock.monotonic()
        self._lock = asyncio.Lock()

    def set_rate(self, rate: float) -> None:
        """Change the rate (and a default burst with it) from now on: several worker processes share one
        app's budget and re-divide it as workers come and go (calsync.runtime.jobs.watch_budget)."""
        now = self._clock.monotonic()
        self._tokens = (
            min(self.burst, self._tokens + (now - self._stamp) * self.rate) if self.rate > 0 else 0.0
        )
        self._stamp = now
        self.rate = rate
        self.burst = max(rate, 1.0)
        self._tokens = min(self._tokens, self.burst)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` tokens (clamped to the burst) are available and take them; FIFO."""
        if self.rate <= 0:
            return
        cost = min(cost, self.burst)
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= cost - 1e-9:  # tolerance: float sums of waits land a hair short
                    self._tokens = max(0.0, self._tokens - cost)
                    return
                await self._clock.sleep(max((cost - self._tokens) / self.rate, 1e-6))


@dataclass
class _Mailbox:
    slots: WeightedSemaphore
    paused_until: float = 0.0
    requests: int = field(default=0)


class MailboxLimiter:
    """Per-mailbox concurrency and pauses, a global in-flight cap and a global request rate.

    Args:
        per_mailbox: requests in flight per mailbox (a batch counts as all of them).
        max_in_flight: requests in flight across the process.
        rate_per_second: the global token-bucket rate (<= 0: unlimited); `burst` its depth.
    """

    def __init__(
        self,
        per_mailbox: int = 4,
        *,
        max_in_flight: int = 100,
        rate_per_second: float = 6500.0,
        burst: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.per_mailbox = per_mailbox
        self._clock = clock or SystemClock()
        self._mailboxes: dict[str | None, _Mailbox] = {}
        self._global = WeightedSemaphore(max_in_flight)
        self.rate = RateLimiter(rate_per_second, burst, clock=self._clock)

    def _get(self, key: str | None) -> _Mailbox:
        mailbox = self._mailboxes.get(key)
        if mailbox is None:
            mailbox = self._mailboxes[key] = _Mailbox(WeightedSemaphore(self.per_mailbox))
        return mailbox

    def pause(self, key: str | None, seconds: float) -> None:
        """Hold back new requests for `key` (None: requests that address no mailbox) for `seconds`."""
        mailbox = self._get(key)
        mailbox.paused_until = max(mailbox.paused_until, self._clock.monotonic() + seconds)

    def paused_for(self, key: str | None) -> float:
        """Seconds until `key` may send again (0 when not paused)."""
        mailbox = self._mailboxes.get(key)
        return max(0.0, mailbox.paused_until - self._clock.monotonic()) if mailbox else 0.0

    def max_in_flight(self, key: str | None) -> int:
        """The most slots of `key` ever held at once (a batch counts as all of them)."""
        mailbox = self._mailboxes.get(key)
        return mailbox.slots.max_in_use if mailbox else 0

    @asynccontextmanager
    async def slot(self, key: str | None, *, batch: bool = False, cost: float = 1.0) -> AsyncIterator[None]:
        """Hold a place for one request to `key` (all of the mailbox's places for a batch) while it runs.

        Waits, in this order, for: the mailbox's pause, its slots, a global slot, rate tokens; then checks
        the pause again (a 429 may have arrived meanwhile) and starts over if it must.
        """
        mailbox = self._get(key)
        weight = self.per_mailbox if batch else 1
        while True:
            wait = mailbox.paused_until - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
                continue
            held = await mailbox.slots.acquire(weight)
            try:
                await self._global.acquire(1)
            except BaseException:
                mailbox.slots.release(held)
                raise
            try:
                await self.rate.acquire(cost)
            except BaseException:
                self._global.release(1)
                mailbox.slots.release(held)
                raise
            if mailbox.paused_until > self._clock.monotonic():
                self._global.release(1)
                mailbox.slots.release(held)
                continue
            break
        mailbox.requests += 1
        try:
            yield
        finally:
            self._global.release(1)
            mailbox.slots.release(held)
