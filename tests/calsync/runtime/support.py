"""A fake sync for the scheduler's tests: it records each run and can hold runs until released."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from calsync.runtime.clock import VirtualClock


@dataclass(frozen=True)
class Run:
    mailbox: str
    full: bool
    at: datetime


@dataclass
class FakeSync:
    """`run` and `list_mailboxes` for a Scheduler. With `hold`, each run waits until `release`d, so a
    test decides when runs end. Overlapping runs of one mailbox are recorded in `overlaps` rather than
    asserted, since the scheduler catches whatever a run raises."""

    clock: VirtualClock
    members: list[str] = field(default_factory=list)
    hold: bool = False
    failing: set[str] = field(default_factory=set)
    runs: list[Run] = field(default_factory=list)
    active: set[str] = field(default_factory=set)
    most_active: int = 0
    overlaps: list[str] = field(default_factory=list)
    list_failures: int = 0
    _gates: dict[str, asyncio.Event] = field(default_factory=dict)

    async def run(self, mailbox: str, full: bool) -> str:
        if mailbox in self.active:
            self.overlaps.append(mailbox)
        self.active.add(mailbox)
        self.most_active = max(self.most_active, len(self.active))
        self.runs.append(Run(mailbox, full, self.clock.now()))
        try:
            if self.hold:
                gate = self._gates[mailbox] = asyncio.Event()
                await gate.wait()
            if mailbox in self.failing:
                raise RuntimeError(f"sync of {mailbox} failed")
            return "report"
        finally:
            self.active.discard(mailbox)

    async def list_mailboxes(self) -> Sequence[str]:
        if self.list_failures:
            self.list_failures -= 1
            raise ConnectionError("directory unavailable")
        return list(self.members)

    @property
    def held(self) -> list[str]:
        """Mailboxes whose run is waiting to be released, sorted."""
        return sorted(self._gates)

    def release(self, mailbox: str) -> None:
        self._gates.pop(mailbox).set()

    def count(self, mailbox: str, *, full: bool | None = None) -> int:
        return sum(1 for r in self.runs if r.mailbox == mailbox and (full is None or r.full == full))
