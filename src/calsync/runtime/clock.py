"""Clocks for the runtime's timers: the system clock, and a virtual one that tests move by hand.

Everything in `calsync.runtime` that waits for a time of day or an interval takes a `Clock`, so that a
test can run a week of rounds, a daylight-saving change or a stop with a grace period in milliseconds,
deterministically and without real sleeps or wall-clock assertions.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once `now() >= when` (at once when it already is)."""
        ...


class SystemClock:
    """The real clock. It sleeps in naps of at most `max_nap` seconds and reads the time again after
    each, because asyncio's timers run on the monotonic clock: after a suspend/resume or a wall-clock
    correction, a single long sleep would fire hours late or early for a time of day."""

    def __init__(self, max_nap: float = 60.0) -> None:
        if max_nap <= 0:
            raise ValueError("max_nap must be positive")
        self._max_nap = max_nap

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        while (left := (when - self.now()).total_seconds()) > 0:
            await asyncio.sleep(min(left, self._max_nap))


class VirtualClock:
    """A clock that moves only when told to, for tests.

    `advance` lets time run: every sleeper wakes at its own deadline, earliest first (ties in the order
    they went to sleep), and the event loop is given `settle_passes` passes after each wake, so the work
    a wake starts (and sleepers it registers within the span) happens before time moves on. `jump` is
    time passing while nothing ran (a suspended machine): sleepers that are due wake late, all at the new
    time.

    asyncio has no "every task is blocked" check (trio's `wait_all_tasks_blocked`), so settling is a
    fixed number of loop passes; each pass runs whatever became ready in the previous one, so any chain
    of up to `settle_passes` hand-offs without a real wait completes. Code that waits on real I/O is not
    a candidate for this clock.
    """

    def __init__(self, start: datetime, *, settle_passes: int = 50) -> None:
        if start.tzinfo is None:
            raise ValueError("a VirtualClock starts at a timezone-aware time")
        self._now = start
        self._settle_passes = settle_passes
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            await asyncio.sleep(0)  # still yield, so a loop of past deadlines cannot starve the others
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), wake))
        await wake  # a cancelled sleeper's future is cancelled too and skipped when its time comes

    @property
    def next_wake(self) -> datetime | None:
        """The earliest deadline anyone is still sleeping until."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    async def advance(self, delta: timedelta) -> None:
        """Let `delta` pass, waking each sleeper at its deadline in turn."""
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        target = self._now + delta
        await self.settle()
        while (when := self.next_wake) is not None and when <= target:
            _, _, wake = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            wake.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    async def jump(self, delta: timedelta) -> None:
        """Move time forward by `delta` at once, then wake everyone now due (late, at the new time)."""
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        self._now += delta
        while (when := self.next_wake) is not None and when <= self._now:
            heapq.heappop(self._sleepers)[2].set_result(None)
        await self.settle()

    async def settle(self) -> None:
        """Give the event loop `settle_passes` passes without moving time."""
        for _ in range(self._settle_passes):
            await asyncio.sleep(0)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


def next_daily(after: datetime, at: time, zone: tzinfo) -> datetime:
    """The first instant strictly after `after` whose wall-clock time in `zone` is `at`, in UTC.

    Across a daylight-saving change the wall-clock time is kept: 03:00 in Berlin is 01:00 UTC in
    summer and 02:00 UTC in winter. A time that occurs twice (the hour repeated in autumn) counts once,
    at its first occurrence; a time that does not exist (the hour skipped in spring) falls on the same
    instant as the wall time an hour later, as zoneinfo resolves it (02:30 -> 03:30 summer time).
    """
    if at.tzinfo is not None:
        raise ValueError("the daily time is a wall-clock time; give the zone separately")
    day = after.astimezone(zone).date()
    for offset in range(3):  # today's may have passed; offset changes can shift one more day
        candidate = datetime.combine(day + timedelta(days=offset), at, tzinfo=zone).astimezone(UTC)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a wall-clock time recurs within two days")  # pragma: no cover
