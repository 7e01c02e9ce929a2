"""Reading a feed with `recurrence = "series"`: one master per series with its exceptions, the window rule
on the series' span, and the fallback to occurrences (same keys, a warning saying why)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calsync.domain import Window
from calsync.sources.ics import load_ics
from calsync.sources.ics_document import IcsOptions

WINDOW = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
SERIES = IcsOptions(recurrence="series")


def feed(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\nDTSTAMP:20260101T000000Z\n{e.strip()}\nEND:VEVENT\n" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\n{body}END:VCALENDAR\n".encode()


LECTURE = """UID:algebra@uni
DTSTART;TZID=Europe/Berlin:20261005T091500
DTEND;TZID=Europe/Berlin:20261005T104500
RRULE:FREQ=WEEKLY;COUNT=8
SUMMARY:Algebra
LOCATION:HS 1
EXDATE;TZID=Europe/Berlin:20261012T091500,20261013T091500"""


def test_a_series_with_exdates_and_overrides_is_one_master() -> None:
    moved = "UID:algebra@uni\nRECURRENCE-ID;TZID=Europe/Berlin:20261026T091500\n" \
            "DTSTART;TZID=Europe/Berlin:20261026T141500\nDTEND;TZID=Europe/Berlin:20261026T154500\n" \
            "SUMMARY:Algebra (moved)\nLOCATION:Aula"  # fmt: skip
    cancelled = "UID:algebra@uni\nRECURRENCE-ID;TZID=Europe/Berlin:20261109T091500\n" \
                "DTSTART;TZID=Europe/Berlin:20261109T091500\nDTEND;TZID=Europe/Berlin:20261109T104500\n" \
                "SUMMARY:Algebra\nSTATUS:CANCELLED"  # fmt: skip
    result = load_ics(feed(LECTURE, moved, cancelled), mailbox="a@uni", window=WINDOW, options=SERIES)
    (master,) = result.events
    assert not result.problems
    assert master.source_key == "ics:algebra@uni/series"
    assert master.start == datetime(2026, 10, 5, 7, 15, tzinfo=UTC)
    assert master.series is not None
    # the EXDATE on a Tuesday names no occurrence: it changes nothing (RFC 5545)
    assert master.series.cancelled == (
        datetime(2026, 10, 12, 7, 15, tzinfo=UTC),
        datetime(2026, 11, 9, 8, 15, tzinfo=UTC),  # after the end of DST: 09:15 is 08:15 UTC
    )
    ((original, override),) = master.series.overrides
    assert original == datetime(2026, 10, 26, 8, 15, tzinfo=UTC)
    assert (override.subject, override.location, override.start) == (
        "Algebra (moved)",
        "Aula",
        datetime(2026, 10, 26, 13, 15, tzinfo=UTC),
    )
    assert master.series.recurrence["range"] == {
        "type": "endDate",
        "startDate": "2026-10-05",
        "endDate": "2026-11-23",
        "recurrenceTimeZone": "W. Europe Standard Time",
    }


def test_the_content_hash_sees_every_exception() -> None:
    from calsync.domain import content_hash

    plain = load_ics(feed(LECTURE), mailbox="a@uni", window=WINDOW, options=SERIES).events[0]
    fewer = LECTURE.replace(",20261013T091500", "").replace("20261012", "20261019")
    other = load_ics(feed(fewer), mailbox="a@uni", window=WINDOW, options=SERIES).events[0]
    assert content_hash(plain) != content_hash(other)
    again = load_ics(feed(LECTURE), mailbox="a@uni", window=WINDOW, options=SERIES).events[0]
    assert content_hash(plain) == content_hash(again)


@pytest.mark.parametrize(
    ("first", "until", "inside"),
    [
        ("20260301", "20260905", True),  # began long before the window, ends inside: synced whole
        ("20260301", "20260831", True),  # ends before the window starts, but its span reaches into it
        ("20260301", "20260830", False),  # its span ends when the window starts: left alone
        ("20270125", "20270301", True),  # begins in the window
        ("20270201", "20270301", False),  # begins when the window ends
    ],
)
def test_the_window_rule_looks_at_the_series_span(first: str, until: str, inside: bool) -> None:
    rule = f"RRULE:FREQ=DAILY;UNTIL={until}T235959Z"
    event = f"UID:x@uni\nDTSTART:{first}T090000Z\nDTEND:{first}T100000Z\n{rule}\nSUMMARY:X"
    events = load_ics(feed(event), mailbox="a@uni", window=WINDOW, options=SERIES).events
    assert bool(events) == inside
    assert all(e.series is not None for e in events)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("RDATE;TZID=Europe/Berlin:20261008T091500", "RDATE"),
        ("EXRULE:FREQ=MONTHLY", "EXRULE"),
    ],
)
def test_a_series_graph_cannot_hold_falls_back_to_occurrences(extra: str, reason: str) -> None:
    data = feed(LECTURE + "\n" + extra)
    occurrences = load_ics(data, mailbox="a@uni", window=WINDOW)
    series = load_ics(data, mailbox="a@uni", window=WINDOW, options=SERIES)
    assert [e.source_key for e in series.events] == [e.source_key for e in occurrences.events]
    assert all(e.series is None for e in series.events)
    (problem,) = [p for p in series.problems if p.code == "ICS_SERIES_AS_OCCURRENCES"]
    assert (problem.severity, problem.message) == ("warning", f"synced as single occurrences: {reason}")


def test_an_override_onto_a_neighbours_day_falls_back() -> None:
    onto = "UID:algebra@uni\nRECURRENCE-ID;TZID=Europe/Berlin:20261026T091500\n" \
           "DTSTART;TZID=Europe/Berlin:20261102T141500\n" \
           "DTEND;TZID=Europe/Berlin:20261102T154500\nSUMMARY:A"  # fmt: skip
    result = load_ics(feed(LECTURE, onto), mailbox="a@uni", window=WINDOW, options=SERIES)
    assert all(e.series is None for e in result.events)
    assert [p.message for p in result.problems] == [
        "synced as single occurrences: an override moves onto or past a neighbouring occurrence's day"
    ]


def test_an_all_day_series_falls_back() -> None:
    holiday = "UID:h@uni\nDTSTART;VALUE=DATE:20261005\nRRULE:FREQ=YEARLY;COUNT=2\nSUMMARY:Holiday"
    result = load_ics(feed(holiday), mailbox="a@uni", window=WINDOW, options=SERIES)
    assert [p.message for p in result.problems] == ["synced as single occurrences: an all-day series"]
    assert len(result.events) == 1
