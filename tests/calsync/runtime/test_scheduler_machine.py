"""The scheduler under random sequences of requests and run endings (a Hypothesis state machine).

Each step either requests a run (a mailbox from a small pool, full or not) or ends one of the runs in
flight (returning or raising), then lets the loop settle. The machine keeps, per mailbox, what is *owed*:
the requests made since that mailbox's last run started (full if any of them was). Checked:

- a run starts only when something is owed, and is full exactly when a full request is owed (every
  request made before a run starts is served by it; none is served twice);
- never two runs of one mailbox at once; never more than `parallelism` runs;
- no idle slot while a mailbox waits that is not running (work-conserving);
- at the end, with every run released, nothing is owed: no request was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from calsync.runtime.clock import VirtualClock
from calsync.runtime.scheduler import Requested, Scheduler
from tests.calsync.runtime.support import FakeSync

MAILBOXES = ["a", "b", "c", "d", "e"]
PARALLELISM = 2


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock(datetime(2025, 1, 6, 10, 0, tzinfo=UTC))
        self.sync = FakeSync(self.clock, hold=True)
        self.owed: dict[str, bool] = {}
        self.served: list[str] = []  # mismatches between a run and what was owed for its mailbox
        self.scheduler = Scheduler(self._run, self.sync.list_mailboxes, clock=self.clock,
                                   parallelism=PARALLELISM)  # fmt: skip
        self._do(self._start())

    def _do(self, step: Coroutine[Any, Any, None]) -> None:
        self.loop.run_until_complete(step)

    async def _start(self) -> None:
        self.scheduler.start()  # the first round lists no mailbox
        await self.clock.settle()

    async def _run(self, mailbox: str, full: bool) -> object:
        if mailbox not in self.owed or self.owed.pop(mailbox) != full:
            self.served.append(mailbox)
        return await self.sync.run(mailbox, full)

    @rule(mailbox=st.sampled_from(MAILBOXES), full=st.booleans())
    def request(self, mailbox: str, full: bool) -> None:
        async def step() -> None:
            assert self.scheduler.request(mailbox, full) is not Requested.REFUSED
            self.owed[mailbox] = self.owed.get(mailbox, False) or full
            await self.clock.settle()

        self._do(step())

    @precondition(lambda self: bool(self.sync.held))
    @rule(data=st.data(), fail=st.booleans())
    def end_a_run(self, data: st.DataObject, fail: bool) -> None:
        mailbox = data.draw(st.sampled_from(self.sync.held))
        if fail:
            self.sync.failing.add(mailbox)
        else:
            self.sync.failing.discard(mailbox)
        self.sync.release(mailbox)
        self._do(self.clock.settle())

    @invariant()
    def runs_match_requests(self) -> None:
        assert self.served == []
        assert self.sync.overlaps == []

    @invariant()
    def slots_are_bounded_and_used(self) -> None:
        snap = self.scheduler.snapshot()
        assert snap.running == set(self.sync.held)
        assert len(snap.running) <= PARALLELISM
        if len(snap.running) < PARALLELISM:
            assert set(snap.pending) <= snap.running
        assert set(snap.pending) <= set(self.owed)
        counts = snap.counts
        assert counts.started == counts.finished + counts.failed + len(snap.running)

    def teardown(self) -> None:
        try:
            for _ in range(len(MAILBOXES) * 2 + 1):  # each mailbox: its current run and one more
                for mailbox in self.sync.held:
                    self.sync.release(mailbox)
                self._do(self.clock.settle())
            assert self.sync.held == []
            assert self.owed == {}
            assert self.served == []
            self._do(self.scheduler.stop())
        finally:
            self.loop.close()


SchedulerMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_scheduler_machine = SchedulerMachine.TestCase
