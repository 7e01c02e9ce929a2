"""The upkeep loop's timing on a virtual clock: a pass at start, the next at the earliest renewal the
pass left (at most `check_every` later), a failed pass tried again after `retry_after`, and lapsed
mailboxes handed to the runtime for a reconcile."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from calsync.runtime.clock import VirtualClock
from calsync.runtime.upkeep import UpkeepLoop

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class Pass:
    reconcile: list[str] = field(default_factory=list)
    next_due: datetime | None = None


async def test_passes_follow_the_renewals_and_failures_are_retried() -> None:
    clock = VirtualClock(T0)
    plan: list[Pass | Exception] = [
        Pass(["a@x"], T0 + timedelta(minutes=3)),  # at start: a lapsed mailbox, a renewal due in 3 min
        RuntimeError("Graph is down"),  # at 3 min
        Pass(),  # at 4 min (retry after 1 min); nothing due: next at 4 + 10 min
        Pass(),
    ]
    at: list[datetime] = []
    reconciled: list[dict[str, set[str] | None]] = []

    async def run_pass() -> Pass:
        at.append(clock.now())
        outcome = plan.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def reconcile(hints: dict[str, set[str] | None]) -> None:
        reconciled.append(hints)

    loop = UpkeepLoop(run_pass, reconcile, clock, check_every=timedelta(minutes=10))
    loop.start()
    try:
        await clock.advance(timedelta(minutes=2, seconds=59))
        assert at == [T0]
        assert reconciled == [{"a@x": None}]
        await clock.advance(timedelta(minutes=11, seconds=2))
        assert at == [T0 + timedelta(minutes=m) for m in (0, 3, 4, 14)]
        assert loop.passes == 4
    finally:
        await loop.stop()
