"""The push deliverer's loop in `calsync serve` on SQLite (one process): deliver what is due, then
sleep until the next row is due, a publish wakes it, or `idle` passes (rows written by another
process, e.g. `calsync sync` from cron, are found by then).

A pass that raises (the database is locked for longer than its busy timeout, say) is logged and tried
again after `idle`: the rows are still in the outbox, nothing is lost. Hourly, delivered and dead rows
older than `push_kept_days` are deleted. On PostgreSQL the workers deliver instead (a Procrastinate
task, calsync.runtime.jobs), so that any number of processes share the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Protocol

from calsync.runtime.clock import Clock, SystemClock

log = logging.getLogger("calsync.runtime")


class Delivering(Protocol):
    """What the loop needs of calsync.services.push.Deliverer."""

    async def drain(self) -> object: ...

    async def next_due(self) -> datetime | None: ...

    async def housekeep(self) -> int: ...

    async def aclose(self) -> None: ...


class PushLoop:
    def __init__(
        self,
        deliverer: Delivering,
        *,
        clock: Clock | None = None,
        idle: timedelta = timedelta(seconds=30),
        housekeeping: timedelta = timedelta(hours=1),
    ) -> None:
        self.deliverer = deliverer
        self._clock: Clock = clock if clock is not None else SystemClock(max_nap=5.0)
        self._idle = idle
        self._housekeeping = housekeeping
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.passes = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="calsync-push-deliveries")

    def wake(self) -> None:
        """Deliver now (an outbox listener: called after rows were published, from any thread)."""
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.deliverer.aclose()

    async def _run(self) -> None:
        next_housekeeping = self._clock.now()
        while True:
            self._wake.clear()
            until = self._clock.now() + self._idle
            try:
                await self.deliverer.drain()
                self.passes += 1
                if self._clock.now() >= next_housekeeping:
                    await self.deliverer.housekeep()
                    next_housekeeping = self._clock.now() + self._housekeeping
                due = await self.deliverer.next_due()
                if due is not None:
                    until = min(until, due)
            except Exception as exc:
                log.error(
                    "push deliveries: a pass failed (%s); trying again", type(exc).__name__, exc_info=exc
                )
            await self._sleep(until)

    async def _sleep(self, until: datetime) -> None:
        """Until `until`, or a wake-up, whichever comes first."""
        if self._wake.is_set():
            return
        sleeper = asyncio.create_task(self._clock.sleep_until(until))
        waker = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
