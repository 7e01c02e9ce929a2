"""The in-process scheduler, driven by a virtual clock: rounds, the daily full round, coalescing,
parallelism, failures, membership changes and stopping. Nothing really sleeps; time moves only through
`VirtualClock.advance`/`jump`, and "later" means after `clock.settle()`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calsync.runtime.clock import VirtualClock
from calsync.runtime.scheduler import Requested, Scheduler
from tests.calsync.runtime.support import FakeSync, Run

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)  # a Monday; the default full round is at 03:00 UTC
BERLIN = ZoneInfo("Europe/Berlin")
MINUTES_15 = timedelta(minutes=15)

MakeScheduler = Callable[..., Scheduler]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def make(clock: VirtualClock) -> AsyncIterator[MakeScheduler]:
    """Builds schedulers over a FakeSync and stops every one at the end (cancelling held runs)."""
    made: list[Scheduler] = []

    def factory(sync: FakeSync, **options: Any) -> Scheduler:
        scheduler = Scheduler(sync.run, sync.list_mailboxes, clock=sync.clock, **options)
        made.append(scheduler)
        return scheduler

    yield factory
    for scheduler in made:
        await scheduler.stop(grace=0)


async def test_a_round_runs_at_start_and_every_interval(clock: VirtualClock, make: MakeScheduler) -> None:
    sync = FakeSync(clock, ["a", "b"])
    scheduler = make(sync)
    scheduler.start()
    await clock.advance(timedelta(hours=1))

    rounds = [START + k * MINUTES_15 for k in range(5)]
    assert [r for r in sync.runs if r.mailbox == "a"] == [Run("a", False, at) for at in rounds]
    assert [r for r in sync.runs if r.mailbox == "b"] == [Run("b", False, at) for at in rounds]
    snap = scheduler.snapshot()
    assert (snap.last_round, snap.next_round) == (START + timedelta(hours=1), START + 5 * MINUTES_15)
    assert (snap.counts.rounds, snap.counts.started, snap.counts.finished) == (5, 10, 10)
    assert snap.next_full == datetime(2025, 1, 7, 3, 0, tzinfo=UTC)


async def test_the_full_round_keeps_its_local_time_across_the_autumn_dst_change(make: MakeScheduler) -> None:
    clock = VirtualClock(datetime(2025, 10, 24, 12, 0, tzinfo=BERLIN))
    sync = FakeSync(clock, ["a"])
    scheduler = make(sync, sync_interval=timedelta(hours=6), full_sync_at=time(3, 0), zone=BERLIN)
    scheduler.start()
    await clock.advance(timedelta(days=4))

    fulls = [r.at for r in sync.runs if r.full]
    assert fulls == [  # 03:00 CEST (UTC+2), then 03:00 CET (UTC+1) from Sunday 26 October on
        datetime(2025, 10, 25, 1, 0, tzinfo=UTC),
        datetime(2025, 10, 26, 2, 0, tzinfo=UTC),
        datetime(2025, 10, 27, 2, 0, tzinfo=UTC),
        datetime(2025, 10, 28, 2, 0, tzinfo=UTC),
    ]
    assert {at.astimezone(BERLIN).time() for at in fulls} == {time(3, 0)}
    assert sync.count("a", full=False) == 17  # every 6 h from 10:00 UTC on the 24th to the 28th
    assert scheduler.snapshot().next_full == datetime(2025, 10, 29, 2, 0, tzinfo=UTC)


async def test_a_full_time_that_occurs_twice_on_the_dst_night_runs_once(make: MakeScheduler) -> None:
    clock = VirtualClock(datetime(2025, 10, 25, 12, 0, tzinfo=BERLIN))
    sync = FakeSync(clock, ["a"])
    scheduler = make(sync, sync_interval=timedelta(hours=6), full_sync_at=time(2, 30), zone=BERLIN)
    scheduler.start()
    await clock.advance(timedelta(days=2))

    # 02:30 happens at 00:30 UTC (summer time) and again at 01:30 UTC (winter time) on the 26th.
    assert [r.at for r in sync.runs if r.full] == [
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
        datetime(2025, 10, 27, 1, 30, tzinfo=UTC),
    ]


async def test_a_full_round_due_with_an_incremental_one_is_one_full_round(make: MakeScheduler) -> None:
    clock = VirtualClock(datetime(2025, 1, 6, 1, 0, tzinfo=UTC))
    sync = FakeSync(clock, ["a"])
    make(sync, sync_interval=timedelta(hours=1), full_sync_at=time(3, 0)).start()
    await clock.advance(timedelta(hours=3))

    assert [(r.at.hour, r.full) for r in sync.runs] == [(1, False), (2, False), (3, True), (4, False)]


async def test_missed_full_rounds_are_not_run_as_a_burst(clock: VirtualClock, make: MakeScheduler) -> None:
    sync = FakeSync(clock, ["a"])
    scheduler = make(sync)
    scheduler.start()
    await clock.advance(timedelta(minutes=1))
    await clock.jump(timedelta(days=3))  # suspended over three 03:00s

    late = START + timedelta(days=3, minutes=1)
    assert sync.runs == [Run("a", False, START), Run("a", True, late)]
    snap = scheduler.snapshot()
    assert snap.next_full == datetime(2025, 1, 10, 3, 0, tzinfo=UTC)
    assert snap.next_round == late + MINUTES_15


async def test_a_start_after_the_full_time_waits_for_the_next_day(make: MakeScheduler) -> None:
    clock = VirtualClock(datetime(2025, 1, 6, 3, 0, tzinfo=UTC))  # exactly at the full time
    sync = FakeSync(clock, ["a"])
    scheduler = make(sync)
    scheduler.start()
    await clock.settle()

    assert sync.runs == [Run("a", False, clock.now())]
    assert scheduler.snapshot().next_full == datetime(2025, 1, 7, 3, 0, tzinfo=UTC)


async def test_requests_while_running_coalesce_into_one_more_run(
    clock: VirtualClock, make: MakeScheduler
) -> None:
    sync = FakeSync(clock, hold=True)
    scheduler = make(sync)
    scheduler.start()
    assert scheduler.request("a") is Requested.QUEUED
    await clock.settle()
    assert sync.held == ["a"]

    answers = [scheduler.request("a") for _ in range(5)]
    assert answers == [Requested.QUEUED] + [Requested.MERGED] * 4
    assert scheduler.snapshot().pending == {"a": False}
    sync.release("a")
    await clock.settle()
    assert sync.held == ["a"]  # the one more run
    assert scheduler.snapshot().pending == {}
    sync.release("a")
    await clock.settle()

    assert sync.count("a") == 2
    counts = scheduler.snapshot().counts
    assert (counts.started, counts.finished, counts.coalesced) == (2, 2, 4)


async def test_a_full_request_wins_over_a_pending_incremental_one(
    clock: VirtualClock, make: MakeScheduler
) -> None:
    sync = FakeSync(clock, hold=True)
    scheduler = make(sync)
    scheduler.start()
    scheduler.request("a")
    await clock.settle()
    scheduler.request("a")
    scheduler.request("a", full=True)
    scheduler.request("a")  # an incremental request does not undo the full one
    assert scheduler.snapshot().pending == {"a": True}
    sync.release("a")
    await clock.settle()

    assert [r.full for r in sync.runs] == [False, True]


async def test_at_most_parallelism_runs_at_once_started_first_come_first_served(
    clock: VirtualClock, make: MakeScheduler
) -> None:
    sync = FakeSync(clock, hold=True)
    scheduler = make(sync, parallelism=3)
    scheduler.start()
    mailboxes = [f"m{i}" for i in range(10)]
    for mailbox in mailboxes:
        scheduler.request(mailbox)
    await clock.settle()
    assert sync.held == ["m0", "m1", "m2"]
    assert list(scheduler.snapshot().pending) == mailboxes[3:]

    while sync.held:
        sync.release(sync.held[-1])  # finish out of order; the queue still starts in order
        await clock.settle()
        assert len(sync.active) <= 3

    assert [r.mailbox for r in sync.runs] == mailboxes
    assert sync.most_active == 3


async def test_a_failing_run_is_counted_and_the_rounds_go_on(
    clock: VirtualClock, make: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    sync = FakeSync(clock, ["bad", "good"], failing={"bad"})
    scheduler = make(sync)
    scheduler.start()
    with caplog.at_level(logging.ERROR, logger="calsync.runtime"):
        await clock.advance(2 * MINUTES_15)

    assert (sync.count("bad"), sync.count("good")) == (3, 3)
    counts = scheduler.snapshot().counts
    assert (counts.started, counts.finished, counts.failed) == (6, 3, 3)
    assert [r.getMessage() for r in caplog.records] == ["run of mailbox bad failed (RuntimeError)"] * 3


async def test_a_round_whose_listing_fails_is_skipped(clock: VirtualClock, make: MakeScheduler) -> None:
    sync = FakeSync(clock, ["a"], list_failures=1)
    scheduler = make(sync)
    scheduler.start()
    await clock.advance(MINUTES_15)

    assert sync.runs == [Run("a", False, START + MINUTES_15)]
    assert (scheduler.snapshot().counts.rounds, scheduler.snapshot().counts.failed_rounds) == (2, 1)


async def test_each_round_asks_for_the_mailboxes_listed_then(
    clock: VirtualClock, make: MakeScheduler
) -> None:
    sync = FakeSync(clock, ["a", "b"])
    make(sync).start()
    await clock.settle()
    sync.members = ["b", "c", "c"]  # a left, c joined (listed twice)
    await clock.advance(MINUTES_15)

    assert [(r.mailbox, r.at) for r in sync.runs] == [
        ("a", START),
        ("b", START),
        ("b", START + MINUTES_15),
        ("c", START + MINUTES_15),
    ]


async def test_requests_made_before_start_run_at_start(clock: VirtualClock, make: MakeScheduler) -> None:
    sync = FakeSync(clock)
    scheduler = make(sync)
    assert scheduler.request("a", full=True) is Requested.QUEUED
    await clock.settle()
    assert sync.runs == []
    scheduler.start()
    await clock.settle()

    assert sync.runs == [Run("a", True, START)]


async def test_stop_waits_for_runs_in_flight_and_drops_pending_ones(
    clock: VirtualClock, make: MakeScheduler
) -> None:
    sync = FakeSync(clock, ["a", "b", "c"], hold=True)
    scheduler = make(sync, parallelism=2)
    scheduler.start()
    await clock.settle()
    assert (sync.held, scheduler.snapshot().pending) == (["a", "b"], {"c": False})

    stopping = asyncio.create_task(scheduler.stop())
    await clock.settle()
    assert not stopping.done()
    assert scheduler.request("d") is Requested.REFUSED
    snap = scheduler.snapshot()
    assert (snap.stopping, snap.pending, snap.running) == (True, {}, {"a", "b"})
    sync.release("a")
    await clock.settle()
    assert not stopping.done()
    sync.release("b")
    await clock.settle()
    assert stopping.done()
    await stopping

    await clock.advance(timedelta(hours=1))  # no more rounds
    assert [r.mailbox for r in sync.runs] == ["a", "b"]
    counts = scheduler.snapshot().counts
    assert (counts.started, counts.finished, counts.dropped, counts.cancelled) == (2, 2, 2, 0)


async def test_stop_cancels_runs_still_going_after_the_grace_period(
    clock: VirtualClock, make: MakeScheduler
) -> None:
    sync = FakeSync(clock, hold=True)
    scheduler = make(sync)
    scheduler.start()
    scheduler.request("a")
    await clock.settle()

    stopping = asyncio.create_task(scheduler.stop(grace=30))
    await clock.advance(timedelta(seconds=29))
    assert not stopping.done()
    await clock.advance(timedelta(seconds=1))
    assert stopping.done()
    await stopping

    snap = scheduler.snapshot()
    assert (snap.running, snap.counts.started, snap.counts.cancelled) == (frozenset(), 1, 1)
    assert sync.active == set()


async def test_cancelling_stop_cancels_the_runs_it_waits_for(
    clock: VirtualClock, make: MakeScheduler
) -> None:
    sync = FakeSync(clock, hold=True)
    scheduler = make(sync)
    scheduler.start()
    scheduler.request("a")
    await clock.settle()
    stopping = asyncio.create_task(scheduler.stop())
    await clock.settle()

    stopping.cancel()  # e.g. a second Ctrl-C while the server shuts down
    await clock.settle()

    assert stopping.cancelled()
    snap = scheduler.snapshot()
    assert (snap.running, snap.counts.cancelled, sync.active) == (frozenset(), 1, set())


async def test_a_stopped_scheduler_does_not_start_again(clock: VirtualClock, make: MakeScheduler) -> None:
    scheduler = make(FakeSync(clock))
    scheduler.start()
    await scheduler.stop()

    with pytest.raises(RuntimeError, match="cannot be started again"):
        scheduler.start()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sync_interval": timedelta(0)}, "sync_interval"),
        ({"parallelism": 0}, "parallelism"),
        ({"full_sync_at": time(3, 0, tzinfo=UTC)}, "wall-clock"),
    ],
)
def test_settings_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    sync = FakeSync(VirtualClock(START))
    with pytest.raises(ValueError, match=message):
        Scheduler(sync.run, sync.list_mailboxes, clock=sync.clock, **options)
