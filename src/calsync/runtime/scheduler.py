"""The in-process scheduler of `calsync serve` on the embedded default (SQLite, one process).

It decides *when* mailboxes sync; *what* a sync does is injected (`RunMailbox`), so the runtime needs
neither services nor Graph. Three things ask for runs:

- a round every `sync_interval` (the first at start): every mailbox `ListMailboxes` returns then, so
  new members of a group are picked up and leavers are no longer asked for;
- a full round once a day at `full_sync_at` in `zone` (a full reconcile). Only the next one is kept:
  after downtime or a suspend, the missed days do not run as a burst;
- `request()`, from webhooks and the "sync now" button.

Requests coalesce: a mailbox has at most one run going and one waiting. A request for a mailbox that is
running makes it wait to run once more (its state may have changed after the run read it); a request for
a mailbox already waiting is merged into that one, a full one winning over an incremental one. So a
storm of notifications for one mailbox costs two runs, not one per notification. At most `parallelism`
runs go at once, started in the order their mailboxes asked (first come, first served).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

from calsync.runtime.clock import Clock, SystemClock, next_daily

RunMailbox = Callable[[str, bool], Awaitable[object]]
"""(mailbox, full) -> a report; whatever it raises is logged and counted, never stops the scheduler."""
ListMailboxes = Callable[[], Awaitable[Sequence[str]]]
"""The mailboxes to sync, resolved again for every round."""

log = logging.getLogger("calsync.runtime")


class Requested(StrEnum):
    """What became of a request (the web layer can tell the user "queued" or "already queued")."""

    QUEUED = "queued"  # a run will start: now, when a slot frees, or after the mailbox's current run
    MERGED = "merged"  # folded into the run already waiting for this mailbox
    REFUSED = "refused"  # the scheduler is stopping


@dataclass
class Counts:
    """Totals since start. `started == finished + failed + cancelled + len(running)` at all times."""

    started: int = 0
    finished: int = 0  # the run returned
    failed: int = 0  # the run raised
    cancelled: int = 0  # cut off by stop() when its grace ran out
    coalesced: int = 0  # requests merged into a waiting run
    dropped: int = 0  # waiting runs discarded by stop(), and requests refused after it
    rounds: int = 0
    failed_rounds: int = 0  # ListMailboxes raised; the round requested nothing


@dataclass(frozen=True)
class Snapshot:
    running: frozenset[str]
    pending: Mapping[str, bool]  # mailbox -> full, in the order they will start
    counts: Counts
    last_round: datetime | None
    next_round: datetime | None
    next_full: datetime | None
    stopping: bool


class Scheduler:
    def __init__(
        self,
        run: RunMailbox,
        mailboxes: ListMailboxes,
        *,
        clock: Clock | None = None,
        sync_interval: timedelta = timedelta(minutes=15),
        full_sync_at: time = time(3, 0),
        zone: tzinfo = UTC,
        parallelism: int = 8,
    ) -> None:
        if sync_interval <= timedelta(0):
            raise ValueError("sync_interval must be positive")
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        if full_sync_at.tzinfo is not None:
            raise ValueError("full_sync_at is a wall-clock time; give its zone as `zone`")
        self._work = run
        self._list = mailboxes
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._interval = sync_interval
        self._full_at = full_sync_at
        self._zone = zone
        self._parallelism = parallelism
        self._pending: dict[str, bool] = {}  # insertion order is the order of service
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[bool]] = set()
        self._counts = Counts()
        self._rounds: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_round: datetime | None = None
        self._next_round: datetime | None = None
        self._next_full: datetime | None = None

    def start(self) -> None:
        """Start the rounds (the first one now) and any runs requested before; needs a running loop."""
        if self._stopping:
            raise RuntimeError("a stopped scheduler cannot be started again")
        if self._rounds is not None:
            return
        now = self._clock.now()
        self._next_round = now
        self._next_full = next_daily(now, self._full_at, self._zone)
        self._rounds = asyncio.create_task(self._round_loop(), name="calsync-scheduler-rounds")
        self._rounds.add_done_callback(_report_crash)
        self._pump()

    def request(self, mailbox: str, full: bool = False) -> Requested:
        """Ask for a run of `mailbox` as soon as a slot is free (see the module's note on coalescing)."""
        if self._stopping:
            self._counts.dropped += 1
            return Requested.REFUSED
        if mailbox in self._pending:
            self._pending[mailbox] = self._pending[mailbox] or full
            self._counts.coalesced += 1
            return Requested.MERGED
        self._pending[mailbox] = full
        self._pump()
        return Requested.QUEUED

    async def stop(self, grace: float | None = None) -> None:
        """Take no more work and wait for the runs in flight; used on SIGTERM.

        Waiting runs are dropped (the next start's first round asks for every mailbox again). Runs
        still going after `grace` seconds (by the scheduler's clock; None waits as long as they take)
        are cancelled. If stop() itself is cancelled, the runs are cancelled with it.
        """
        if not self._stopping:
            self._stopping = True
            self._counts.dropped += len(self._pending)
            self._pending.clear()
            if self._rounds is not None:
                self._rounds.cancel()
                await asyncio.gather(self._rounds, return_exceptions=True)
        runs = set(self._tasks)
        if not runs:
            return
        cut_off = None
        if grace is not None:
            deadline = self._clock.now() + timedelta(seconds=grace)
            cut_off = asyncio.create_task(self._cut_off(runs, deadline, grace))
        try:
            await asyncio.gather(*runs, return_exceptions=True)  # cancelled with stop(), cancels them
        finally:
            if cut_off is not None:
                cut_off.cancel()
                await asyncio.gather(cut_off, return_exceptions=True)

    async def _cut_off(self, runs: set[asyncio.Task[bool]], deadline: datetime, grace: float) -> None:
        await self._clock.sleep_until(deadline)
        if still := [run for run in runs if not run.done()]:
            log.warning("stopping: cancelling %d runs still going after %ss", len(still), grace)
            for run in still:
                run.cancel()

    def snapshot(self) -> Snapshot:
        return Snapshot(
            running=frozenset(self._running),
            pending=dict(self._pending),
            counts=replace(self._counts),
            last_round=self._last_round,
            next_round=self._next_round,
            next_full=self._next_full,
            stopping=self._stopping,
        )

    async def _round_loop(self) -> None:
        assert self._next_round is not None  # both set by start()
        assert self._next_full is not None
        while True:
            now = self._clock.now()
            full = now >= self._next_full
            if full or now >= self._next_round:
                # The next times come from the time this round fired, not from the missed ones: a
                # scheduler that wakes late runs one round, not a catch-up burst.
                if full:
                    self._next_full = next_daily(now, self._full_at, self._zone)
                if now >= self._next_round:
                    self._next_round = now + self._interval
                self._last_round = now
                await self._round(full)
            await self._clock.sleep_until(min(self._next_round, self._next_full))

    async def _round(self, full: bool) -> None:
        self._counts.rounds += 1
        try:
            mailboxes = await self._list()
        except Exception as exc:
            self._counts.failed_rounds += 1
            log.error("round: could not list the mailboxes (%s); trying again next round",
                      type(exc).__name__, exc_info=exc)  # fmt: skip
            return
        for mailbox in dict.fromkeys(mailboxes):  # a mailbox listed twice is one request
            self.request(mailbox, full)

    def _pump(self) -> None:
        """Start waiting runs, oldest request first, while slots are free; a mailbox that is running
        keeps its place until its run ends."""
        if self._rounds is None or self._stopping:
            return
        free = self._parallelism - len(self._running)
        chosen: list[str] = []
        for mailbox in self._pending:  # skips at most len(running) entries, never the whole queue
            if len(chosen) >= free:
                break
            if mailbox not in self._running:
                chosen.append(mailbox)
        for mailbox in chosen:
            full = self._pending.pop(mailbox)
            self._running.add(mailbox)
            self._counts.started += 1
            task = asyncio.create_task(self._run(mailbox, full), name=f"calsync-sync:{mailbox}")
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._settled, mailbox))

    async def _run(self, mailbox: str, full: bool) -> bool:
        try:
            await self._work(mailbox, full)
        except Exception as exc:
            log.error("run of mailbox %s failed (%s)", mailbox, type(exc).__name__, exc_info=exc)
            return False
        return True

    def _settled(self, mailbox: str, task: asyncio.Task[bool]) -> None:
        """Book a run's end. In a done callback rather than the run's own `finally`, because a task
        cancelled before its first step never enters its body, and its slot must free all the same."""
        self._tasks.discard(task)
        self._running.discard(mailbox)
        if task.cancelled():
            self._counts.cancelled += 1
        elif task.exception() is None and task.result():
            self._counts.finished += 1
        else:  # returned False, or a BaseException other than cancellation escaped
            self._counts.failed += 1
        self._pump()


def _report_crash(rounds: asyncio.Task[None]) -> None:
    """The round loop only ends by cancellation; anything else is a bug that would silently stop all
    periodic syncs, so say so loudly (requests still run)."""
    if not rounds.cancelled() and (exc := rounds.exception()) is not None:
        log.critical("the scheduler's rounds stopped (%s); no more periodic syncs", type(exc).__name__,
                     exc_info=exc)  # fmt: skip
