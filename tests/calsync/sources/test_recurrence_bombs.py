"""Recurrence bombs stay bounded: window, 5,000 instances, work budget, 1 s per event (BI-04)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import pytest

from calsync.sources import IcsOptions, load_ics, parse_ics
from calsync.sources.budget import Budget, BudgetExceeded
from tests.calsync.sources.support import MAILBOX, WINDOW, calendar, vevent

BOMBS = {
    "count-1e9": ("DTSTART:20260101T090000Z", "RRULE:FREQ=DAILY;COUNT=1000000000"),
    "count-1e9-since-1900": ("DTSTART:19000101T090000Z", "RRULE:FREQ=DAILY;COUNT=1000000000"),
    "secondly": ("DTSTART:20260101T000000Z", "RRULE:FREQ=SECONDLY"),
    "secondly-since-2000": ("DTSTART:20000101T000000Z", "RRULE:FREQ=SECONDLY;COUNT=1000000000"),
    "interval-0": ("DTSTART:20260101T000000Z", "RRULE:FREQ=DAILY;INTERVAL=0"),
    "exrule-everything": ("DTSTART:20260101T000000Z", "RRULE:FREQ=SECONDLY", "EXRULE:FREQ=SECONDLY"),
    "yearly-feb-31": ("DTSTART:20260101T000000Z", "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31"),
    "daily-feb-31": ("DTSTART:20260101T000000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31"),
    "secondly-feb-31": ("DTSTART:20260101T000000Z", "RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=31"),
    "minutely-from-1601": ("DTSTART:16010101T000000Z", "RRULE:FREQ=MINUTELY"),
    "hourly-whole-window": ("DTSTART:20260101T000000Z", "RRULE:FREQ=HOURLY"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bomb_is_bounded(name: str) -> None:
    """Each bomb ends within 1 s, yields at most 5,000 instances, and is flagged when a limit was hit."""
    data = calendar(vevent("bomb", *BOMBS[name]), vevent("good", "DTSTART:20260302T090000Z"))
    started = time.perf_counter()
    result = parse_ics(data, mailbox=MAILBOX, window=WINDOW)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, f"{name} took {elapsed:.2f}s"
    bomb = [e for e in result.events if e.source_key.startswith("ics:bomb")]
    assert len(bomb) <= 5_000
    assert "ics:good" in {e.source_key for e in result.events}
    assert {p.code for p in result.problems} <= {"ICS_RRULE_UNBOUNDED"}
    if result.problems:
        assert bomb == []
        assert result.skipped("ics:bomb/20260301T000000Z")


def test_bombs_flagged_as_unbounded() -> None:
    """The rules that cannot finish inside the limits are reported as ICS_RRULE_UNBOUNDED."""
    for name in (
        "secondly",
        "secondly-since-2000",
        "interval-0",
        "exrule-everything",
        "daily-feb-31",
        "hourly-whole-window",
    ):
        result = parse_ics(calendar(vevent("bomb", *BOMBS[name])), mailbox=MAILBOX, window=WINDOW)
        assert [p.code for p in result.problems] == ["ICS_RRULE_UNBOUNDED"], name


def test_daily_series_since_1900_is_expanded() -> None:
    """A legitimate long-running daily series is not mistaken for a bomb."""
    data = calendar(vevent("old", "DTSTART;TZID=Europe/Berlin:19000101T090000", "RRULE:FREQ=DAILY"))
    result = parse_ics(data, mailbox=MAILBOX, window=WINDOW)
    assert result.problems == []
    assert len(result.events) == (WINDOW.end - WINDOW.start).days


def test_verdict_is_deterministic() -> None:
    """The work budget counts steps, not seconds: the same bomb gets the same verdict every time."""
    data = calendar(vevent("bomb", *BOMBS["daily-feb-31"]))
    verdicts = {
        tuple(p.code for p in parse_ics(data, mailbox=MAILBOX, window=WINDOW).problems) for _ in range(3)
    }
    assert verdicts == {("ICS_RRULE_UNBOUNDED",)}


def test_many_bombs_share_one_document_budget() -> None:
    """Many bombs in one feed cannot add up: the document budget ends them all quickly."""
    bombs = [vevent(f"b{i}", *BOMBS["daily-feb-31"]) for i in range(40)]
    options = IcsOptions(steps_per_document=3_000_000)
    started = time.perf_counter()
    result = parse_ics(calendar(*bombs), mailbox=MAILBOX, window=WINDOW, options=options)
    assert time.perf_counter() - started < 3
    assert [p.code for p in result.problems] == ["ICS_RRULE_UNBOUNDED"] * 40


def test_a_million_rdates_are_capped() -> None:
    """BI-04: RDATE lists with 10^6 entries: over 10 MB the feed is too large; under a raised cap the
    event is flagged after 5,000 values without the parser seeing the rest."""
    line = "RDATE:" + ",".join(f"2026{m:02d}{d:02d}T090000Z" for m in range(1, 11) for d in range(1, 29))
    lines = [line] * (1_000_000 // 280)
    data = calendar(
        vevent("rd", "DTSTART:20260101T090000Z", *lines), vevent("good", "DTSTART:20260302T090000Z")
    )
    assert len(data) > 10 * 1024 * 1024
    assert load_ics(data, mailbox=MAILBOX, window=WINDOW).problems[0].code == "ICS_TOO_LARGE"
    started = time.perf_counter()
    result = parse_ics(data, mailbox=MAILBOX, window=WINDOW, options=IcsOptions(max_bytes=64 * 1024 * 1024))
    assert time.perf_counter() - started < 5
    assert [p.code for p in result.problems] == ["ICS_RRULE_UNBOUNDED"]
    assert [e.source_key for e in result.events] == ["ics:good"]


def test_budget_restores_the_profile_hook_and_stops_loops() -> None:
    """Budget.run restores the previous profile function even when it stops the code underneath."""
    calls: list[str] = []

    def previous(frame, event, arg):  # type: ignore[no-untyped-def]
        calls.append(event)

    def spin() -> None:
        while True:
            abs(1)

    sys.setprofile(previous)
    try:
        with pytest.raises(BudgetExceeded):
            Budget(10_000, 5.0).run(spin)
        assert sys.getprofile() is previous
    finally:
        sys.setprofile(None)
    assert Budget(10_000, 5.0).run(lambda: 42) == 42


def test_budget_wall_clock_backstop() -> None:
    """With a huge step allowance, the deadline still stops the loop."""
    clock = iter(range(10_000_000))
    budget = Budget(10**12, 100.0, clock=lambda: float(next(clock)))

    def spin() -> None:
        while True:
            abs(1)

    with pytest.raises(BudgetExceeded) as info:
        budget.run(spin)
    assert info.value.reason == "time"


def test_parent_budget_is_charged_by_children() -> None:
    """A child's steps count against its parent; an exhausted parent stops new children at once."""
    parent = Budget(50_000, 60.0)

    def spin() -> None:
        while True:
            abs(1)

    with pytest.raises(BudgetExceeded):
        Budget(10**9, 60.0, parent=parent).run(spin)
    with pytest.raises(BudgetExceeded):
        Budget(10**9, 60.0, parent=parent).run(lambda: None)
    assert datetime.now(UTC)  # the hook is gone: ordinary calls work
