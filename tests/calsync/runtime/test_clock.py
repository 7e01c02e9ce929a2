"""The virtual clock wakes sleepers deterministically; next_daily keeps a wall-clock time in a zone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from calsync.runtime.clock import SystemClock, VirtualClock, next_daily

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
]


async def test_sleepers_wake_at_their_deadlines_in_order() -> None:
    clock = VirtualClock(T0)
    woken: list[tuple[str, datetime]] = []

    async def sleeper(name: str, after: timedelta) -> None:
        await clock.sleep_until(T0 + after)
        woken.append((name, clock.now()))

    tasks = [
        asyncio.create_task(sleeper(name, timedelta(minutes=m)))
        for name, m in [("late", 30), ("first", 10), ("tie-1", 20), ("tie-2", 20), ("beyond", 90)]
    ]
    await clock.advance(timedelta(hours=1))

    assert woken == [
        ("first", T0 + timedelta(minutes=10)),
        ("tie-1", T0 + timedelta(minutes=20)),
        ("tie-2", T0 + timedelta(minutes=20)),
        ("late", T0 + timedelta(minutes=30)),
    ]
    assert clock.now() == T0 + timedelta(hours=1)
    assert clock.next_wake == T0 + timedelta(minutes=90)
    tasks[-1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.next_wake is None


async def test_a_sleep_started_by_a_wake_within_the_span_wakes_too() -> None:
    clock = VirtualClock(T0)
    ticks: list[datetime] = []

    async def ticker() -> None:
        while True:
            await clock.sleep_until(clock.now() + timedelta(minutes=15))
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(timedelta(minutes=50))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert ticks == [T0 + timedelta(minutes=m) for m in (15, 30, 45)]


async def test_a_jump_wakes_everyone_due_late_at_the_new_time() -> None:
    clock = VirtualClock(T0)
    woken: list[datetime] = []

    async def sleeper(after: timedelta) -> None:
        await clock.sleep_until(T0 + after)
        woken.append(clock.now())

    tasks = [asyncio.create_task(sleeper(timedelta(hours=h))) for h in (1, 2)]
    await clock.settle()
    await clock.jump(timedelta(days=1))
    await asyncio.gather(*tasks)

    assert woken == [T0 + timedelta(days=1)] * 2


async def test_a_cancelled_sleeper_is_skipped() -> None:
    clock = VirtualClock(T0)
    task = asyncio.create_task(clock.sleep_until(T0 + timedelta(minutes=5)))
    await clock.settle()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert clock.next_wake is None
    await clock.advance(timedelta(minutes=10))  # setting a cancelled future's result would raise


async def test_sleeping_until_a_past_time_returns_at_once() -> None:
    clock = VirtualClock(T0)
    await clock.sleep_until(T0 - timedelta(days=1))
    await SystemClock().sleep_until(datetime(2000, 1, 1, tzinfo=UTC))
    assert clock.now() == T0


def test_the_clocks_tell_aware_times_and_refuse_nonsense() -> None:
    assert SystemClock().now().tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="positive"):
        SystemClock(max_nap=0)


async def test_time_does_not_run_backwards() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(ValueError, match="backwards"):
        await clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="backwards"):
        await clock.jump(timedelta(seconds=-1))


def test_next_daily_in_the_hour_skipped_in_spring_is_an_hour_later() -> None:
    after = datetime(2025, 3, 29, 12, 0, tzinfo=UTC)
    # 02:30 does not exist in Berlin on 30 March 2025; zoneinfo reads it with the winter offset.
    assert next_daily(after, time(2, 30), BERLIN) == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert next_daily(after, time(3, 0), BERLIN) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)


def test_next_daily_wants_the_zone_apart_from_the_time() -> None:
    with pytest.raises(ValueError, match="wall-clock"):
        next_daily(T0, time(3, 0, tzinfo=UTC), UTC)


@given(
    after=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
    at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
)
@example(after=datetime(2025, 10, 26, 0, 30, tzinfo=UTC), at=time(2, 30), zone=BERLIN)  # the repeated hour
def test_next_daily_is_the_first_occurrence_after(after: datetime, at: time, zone: ZoneInfo) -> None:
    found = next_daily(after, at, zone)

    day = found.astimezone(zone).date()
    assert found == datetime.combine(day, at, tzinfo=zone).astimezone(UTC)  # it is that day's occurrence
    assert found > after
    assert datetime.combine(day - timedelta(days=1), at, tzinfo=zone) <= after  # and no earlier one is
    assert found - after <= timedelta(hours=26)
