"""Recurrence bombs stay bounded: window, 5,000 instances, work budget, 1 s per event (BI-04).

Bounds are in work, never in seconds (tests/work.py): a bomb may cost what its step budget allows and no
more, on any machine. How long the bombs take is measured by bench/parse_bench.py.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from calsync.sources import IcsOptions, load_ics, parse_ics
from calsync.sources.budget import Budget, BudgetExceeded
from tests.calsync.sources.support import MAILBOX, WINDOW, calendar, vevent
from tests.work import calls_made

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
# The wall-clock backstop (1 s per event) raised far out of reach, so that only the step budget can stop a
# bomb here: the verdict and the work are then the same on every machine, however loaded. The backstop
# itself is tested with a fake clock (test_budget_wall_clock_backstop).
STEPS_DECIDE = IcsOptions(seconds_per_event=30.0, seconds_per_document=300.0)
EVENT_STEPS = 1_500_000  # IcsOptions' steps_per_event, written out: raising the default must fail here
# Work a budget may overrun by: it checks its count every 1,024 steps, and stopping unwinds a few frames.
# Building a series (dateutil's rrule objects) is not budgeted and costs a few hundred calls per rule.
OVERRUN = 10_000


def without_rules(*lines: str) -> tuple[str, ...]:
    """The event's lines minus RRULE and EXRULE: the same event, single, as a baseline of work."""
    return tuple(line for line in lines if not line.startswith(("RRULE", "EXRULE")))


@pytest.mark.parametrize("mode", ["occurrences", "series"])
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bomb_is_bounded(name: str, mode: str) -> None:
    """Each bomb costs at most its step budget (1.5 M steps) more than the same event without its rules
    (in Python calls, each of which is a budget step), yields at most 5,000 instances, and is flagged when
    a limit was hit; in both modes, series being the settings' default (a bomb Graph cannot hold as a
    series falls back to occurrences, with ICS_SERIES_AS_OCCURRENCES)."""
    options = replace(STEPS_DECIDE, recurrence=mode)
    good = vevent("good", "DTSTART:20260302T090000Z")
    data = calendar(vevent("bomb", *BOMBS[name]), good)
    result, work = calls_made(lambda: parse_ics(data, mailbox=MAILBOX, window=WINDOW, options=options))
    single = calendar(vevent("bomb", *without_rules(*BOMBS[name])), good)
    _, baseline = calls_made(lambda: parse_ics(single, mailbox=MAILBOX, window=WINDOW, options=options))
    assert work - baseline <= EVENT_STEPS + OVERRUN, f"{name}: {work - baseline} calls"
    bomb = [e for e in result.events if e.source_key.startswith("ics:bomb")]
    assert len(bomb) <= 5_000
    assert "ics:good" in {e.source_key for e in result.events}
    # INTERVAL=0 never advances: refused as a rule that cannot be read, before any expansion
    expected = "ICS_RRULE_INVALID" if name == "interval-0" else "ICS_RRULE_UNBOUNDED"
    limits = {p.code for p in result.problems} - {"ICS_SERIES_AS_OCCURRENCES"}
    assert limits <= {expected}
    if limits:
        assert bomb == []
        assert result.skipped("ics:bomb/20260301T000000Z")


def test_bombs_flagged_as_unbounded() -> None:
    """The rules that cannot finish inside the limits are reported as ICS_RRULE_UNBOUNDED."""
    for name in (
        "secondly",
        "secondly-since-2000",
        "exrule-everything",
        "daily-feb-31",
        "hourly-whole-window",
    ):
        result = parse_ics(calendar(vevent("bomb", *BOMBS[name])), mailbox=MAILBOX, window=WINDOW)
        assert [p.code for p in result.problems] == ["ICS_RRULE_UNBOUNDED"], name


def test_daily_series_since_1900_is_expanded() -> None:
    """A legitimate long-running daily series is not mistaken for a bomb by the step budget (with the
    default 1 s backstop, a slow enough machine would flag it)."""
    data = calendar(vevent("old", "DTSTART;TZID=Europe/Berlin:19000101T090000", "RRULE:FREQ=DAILY"))
    result = parse_ics(data, mailbox=MAILBOX, window=WINDOW, options=STEPS_DECIDE)
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
    """Many bombs in one feed cannot add up: the document budget (3 M steps, two bombs' worth) ends them
    all, so forty cost what two do, not forty times 1.5 M steps."""
    lines = BOMBS["daily-feb-31"]
    options = replace(STEPS_DECIDE, steps_per_document=3_000_000)
    bombs = calendar(*[vevent(f"b{i}", *lines) for i in range(40)])
    result, work = calls_made(lambda: parse_ics(bombs, mailbox=MAILBOX, window=WINDOW, options=options))
    singles = calendar(*[vevent(f"b{i}", *without_rules(*lines)) for i in range(40)])
    _, baseline = calls_made(lambda: parse_ics(singles, mailbox=MAILBOX, window=WINDOW, options=options))
    assert work - baseline <= options.steps_per_document + 40 * OVERRUN, f"{work - baseline} calls"
    assert [p.code for p in result.problems] == ["ICS_RRULE_UNBOUNDED"] * 40


def test_a_million_rdates_are_capped() -> None:
    """BI-04: RDATE lists with 10^6 entries: over 10 MB the feed is too large; under a raised cap the
    event is flagged after 5,000 values without the parser seeing the rest: the feed costs no more work
    than one holding only the first 5,040 values (reading all of them costs 30 M calls instead)."""
    line = "RDATE:" + ",".join(f"2026{m:02d}{d:02d}T090000Z" for m in range(1, 11) for d in range(1, 29))

    def feed(rdate_lines: int) -> bytes:
        lines = [line] * rdate_lines
        return calendar(
            vevent("rd", "DTSTART:20260101T090000Z", *lines), vevent("good", "DTSTART:20260302T090000Z")
        )

    data = feed(1_000_000 // 280)
    assert len(data) > 10 * 1024 * 1024
    assert load_ics(data, mailbox=MAILBOX, window=WINDOW).problems[0].code == "ICS_TOO_LARGE"
    options = IcsOptions(max_bytes=64 * 1024 * 1024)
    result, work = calls_made(lambda: parse_ics(data, mailbox=MAILBOX, window=WINDOW, options=options))
    _, capped = calls_made(lambda: parse_ics(feed(18), mailbox=MAILBOX, window=WINDOW, options=options))
    assert work <= 2 * capped, f"{work} calls, {capped} for 5,040 values"
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
