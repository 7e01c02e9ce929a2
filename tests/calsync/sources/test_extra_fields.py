"""The extra fields a profile's templates read: carried by each reader only when named (issue 10, item 4)."""

from __future__ import annotations

from datetime import UTC, datetime

from calsync.domain import Window
from calsync.sources import (
    CsvIndex,
    IcsOptions,
    TabularOptions,
    load_csv_index,
    parse_csv,
    parse_ics,
    parse_json,
)

WINDOW = Window(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 12, 31, tzinfo=UTC))
CSV = (
    b"mailbox,source_id,start,end,time_zone,Module,Activity-Type,staff\n"
    b"ada@uni.example,1,2030-01-07T09:00,2030-01-07T10:00,UTC,MA101,Lecture,\n"
)
WANTED = TabularOptions(extra_fields=frozenset({"module", "activity_type", "staff"}))


def test_csv_columns_named_as_extra_fields_are_carried_and_not_reported() -> None:
    result = parse_csv(CSV, window=WINDOW, options=WANTED)
    assert result.events[0].extras == (("activity_type", "Lecture"), ("module", "MA101"))  # staff is empty
    assert result.problems == []
    index = load_csv_index(CSV, options=WANTED)
    assert isinstance(index, CsvIndex)
    indexed = index.result_for("ada@uni.example", WINDOW)
    assert indexed == result
    assert indexed.events[0].extras == result.events[0].extras  # extras are left out of ==
    plain = parse_csv(CSV, window=WINDOW)
    assert plain.events[0].extras == ()
    assert sorted(p.location for p in plain.problems) == [
        "column 'activity_type'",
        "column 'module'",
        "column 'staff'",
    ]


def test_json_members_named_as_extra_fields_are_carried() -> None:
    data = (
        b'[{"mailbox": "ada@uni.example", "source_id": "1", "start": "2030-01-07T09:00Z",'
        b' "end": "2030-01-07T10:00Z", "module": "MA101", "room": 7}]'
    )
    result = parse_json(data, window=WINDOW, options=TabularOptions(extra_fields=frozenset({"module"})))
    assert result.events[0].extras == (("module", "MA101"),)
    assert [p.code for p in result.problems] == ["JSON_UNKNOWN_FIELD"]  # room


def test_ics_x_properties_named_as_extra_fields_are_carried() -> None:
    feed = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        b"DTSTART:20300105T100000Z\r\nDTEND:20300105T110000Z\r\nSUMMARY:Algebra\r\n"
        b"X-ACTIVITY-TYPE:Lecture\r\nX-EMPTY:\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    options = IcsOptions(extra_fields=frozenset({"x_activity_type", "x_empty", "x_absent"}))
    result = parse_ics(feed, mailbox="ada@uni.example", window=WINDOW, options=options)
    assert result.events[0].extras == (("x_activity_type", "Lecture"),)
    assert parse_ics(feed, mailbox="ada@uni.example", window=WINDOW).events[0].extras == ()
