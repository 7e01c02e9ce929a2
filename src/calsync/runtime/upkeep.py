"""The subscription upkeep loop of embedded `calsync serve` (on PostgreSQL a periodic job does it).

Each pass runs `upkeep()` (calsync.services.subscribing: create what is missing, renew what is past half
its lifetime, delete what is no longer synced), asks for a reconcile of every mailbox whose subscription
had lapsed, then sleeps until the earliest renewal the pass left for later, and at most `check_every`
(so new mailboxes get their subscription soon, and a failed create is tried again). A pass that raises
is logged and tried again after `retry_after`: the loop never ends but by `stop()`.

The loop starts once the web app listens: creating a subscription makes Graph call the notification URL
(the validation handshake) before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from calsync.runtime.clock import Clock

log = logging.getLogger("calsync.runtime")


class PassResult(Protocol):
    @property
    def reconcile(self) -> list[str]: ...

    @property
    def next_due(self) -> datetime | None: ...


@dataclass
class UpkeepLoop:
    run_pass: Callable[[], Awaitable[PassResult]]
    reconcile: Callable[[dict[str, set[str] | None]], Awaitable[None]]  # scope -> None: the whole mailbox
    clock: Clock
    check_every: timedelta = timedelta(minutes=10)
    retry_after: timedelta = timedelta(minutes=1)
    passes: int = 0  # finished passes, for tests and the demo
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="calsync-subscription-upkeep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            now = self.clock.now()
            wake = now + self.check_every
            try:
                done = await self.run_pass()
                if done.reconcile:
                    await self.reconcile(dict.fromkeys(done.reconcile))
                if done.next_due is not None:
                    wake = min(wake, max(done.next_due, now + timedelta(seconds=1)))
            except Exception as exc:  # Graph or the database down: try again soon, never stop
                log.error("calsync.notifications.upkeep_failed", exc_info=exc)
                wake = now + self.retry_after
            self.passes += 1
            await self.clock.sleep_until(wake)
