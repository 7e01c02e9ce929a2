"""CSV and JSON exports: documented columns, good rows, bad rows reported and skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.domain.zones import windows_zone
from calsync.sources import (
    COLUMNS,
    PROBLEM_CODES,
    SourceUnavailable,
    TabularOptions,
    load_csv,
    parse_csv,
    parse_json,
)
from tests.calsync.sources.support import WINDOW

HEADER = (
    "mailbox,source_id,subject,start,end,time_zone,all_day,location,description,categories,show_as,"
    "sensitivity,reminder,teams"
)


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def test_good_csv_rows_become_events() -> None:
    """Every documented column maps to the DesiredEvent field it names."""
    data = csv_bytes(
        'adele@uni.edu,L-1,Algebra,2026-03-02T09:00,2026-03-02T10:30,Europe/Berlin,,H 1.01,"Bring, sheet",'
        "Lecture;Maths,"
        "tentative,private,10,true",
        "adele@uni.edu,H-1,Holiday,2026-03-10,2026-03-10,Europe/Berlin,true,,,,free,,,",
        "bob@uni.edu,L-2,Offsets,2026-03-02T08:00:00Z,2026-03-02T09:00:00+01:00,,false,,,,,,,",
    )
    result = parse_csv(data, window=WINDOW)
    assert result.problems == []
    events = {(e.mailbox, e.source_key): e for e in result.events}
    lecture = events[("adele@uni.edu", "csv:L-1")]
    assert lecture.subject == "Algebra"
    assert lecture.location == "H 1.01"
    assert lecture.body == "Bring, sheet"
    assert lecture.start == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert lecture.end == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert lecture.categories == ("Lecture", "Maths")
    assert (lecture.show_as, lecture.sensitivity, lecture.reminder_minutes, lecture.teams_meeting) == (
        "tentative",
        "private",
        10,
        True,
    )
    holiday = events[("adele@uni.edu", "csv:H-1")]
    assert holiday.all_day
    assert holiday.end - holiday.start == timedelta(days=1)
    assert holiday.start == datetime(2026, 3, 9, 23, tzinfo=UTC)
    offsets = events[("bob@uni.edu", "csv:L-2")]
    assert offsets.time_zone == "UTC"
    assert offsets.end == offsets.start
    assert offsets.reminder_minutes is None


def test_csv_mailbox_filter_and_windows_zone_names() -> None:
    """With mailbox=, only that mailbox's rows; Windows zone names are accepted."""
    data = csv_bytes(
        "a@x,1,,2026-03-02T09:00,2026-03-02T10:00,W. Europe Standard Time,,,,,,,,",
        "b@x,2,,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,",
    )
    result = parse_csv(data, window=WINDOW, mailbox="A@X")
    assert [e.source_key for e in result.events] == ["csv:1"]
    windows_zone(result.events[0].time_zone)
    assert result.events[0].start == datetime(2026, 3, 2, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (",1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,", "mailbox"),
        ("a@x,,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,", "source_id"),
        ("a@x,1,s,2026-13-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,", "start"),
        ("a@x,1,s,2026-03-02T09:00,,Europe/Berlin,,,,,,,,", "end"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T08:00,Europe/Berlin,,,,,,,,", "end"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,,,,,,,,,", "time_zone"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Mars/Base,,,,,,,,", "time_zone"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,maybe,,,,,,,", "all_day"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,busyish,,,", "show_as"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,secret,,", "sensitivity"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,-5,", "reminder"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,99999,", "reminder"),
        ("a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,perhaps", "teams"),
        ("a@x,1,s,0001-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,", "start"),
        ("a@x,1,s,2026-03-02T09:00,2126-03-02T10:00,Europe/Berlin,,,,,,,,", "end"),
        ("a@x,1,s,2026-03-02,2026-03-02T10:00,Europe/Berlin,false,,,,,,,", "end"),
        ("a@x,1,s,2026-03-02T09:00+01:00,2026-03-03T09:00+01:00,,true,,,,,,,", "start"),
    ],
)
def test_bad_csv_row_is_reported_with_line_and_column(row: str, column: str) -> None:
    """A bad row is skipped with CSV_BAD_ROW, its line number and the column; the good row stays."""
    data = csv_bytes("a@x,good,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,", row)
    result = parse_csv(data, window=WINDOW)
    assert [e.source_key for e in result.events] == ["csv:good"]
    (problem,) = result.problems
    assert problem.code == "CSV_BAD_ROW"
    assert problem.severity == "error"
    assert problem.location == f"line 3, column '{column}'"
    assert "2026" not in problem.message


def test_bad_row_keeps_its_key_for_the_planner() -> None:
    """A skipped row with a readable source_id names its key, so its Graph copy is kept."""
    data = csv_bytes("a@x,L-9,s,2026-03-02T09:00,not a date,Europe/Berlin,,,,,,,,")
    result = parse_csv(data, window=WINDOW)
    assert result.skipped("csv:L-9", mailbox="a@x")
    assert not result.skipped("csv:L-9", mailbox="b@x")


def test_duplicate_ids_unknown_columns_semicolons_and_encoding() -> None:
    """Duplicates keep the first row; unknown columns warn once; ';' delimiters and cp1252 are read."""
    header = "Mailbox;Source ID;Subject;Start;End;Time Zone;Colour"
    rows = [
        "a@x;1;Caf\xe9;2026-03-02T09:00;2026-03-02T10:00;Europe/Berlin;red",
        "A@X;1;again;2026-03-02T09:00;2026-03-02T10:00;Europe/Berlin;blue",
        "a@x;2;two;2026-03-03T09:00;2026-03-03T10:00;Europe/Berlin;",
    ]
    data = ("\r\n".join([header, *rows]) + "\r\n").encode("cp1252")
    result = parse_csv(data, window=WINDOW)
    assert [e.subject for e in result.events] == ["Café", "two"]
    assert [p.code for p in result.problems] == ["CSV_ENCODING", "CSV_UNKNOWN_COLUMN", "CSV_DUPLICATE_ID"]
    assert result.problems[2].location == "line 3"


def test_multiline_fields_and_row_shape() -> None:
    """Quoted multi-line fields keep later line numbers right; a row with too many cells is reported."""
    data = csv_bytes(
        'a@x,1,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,"line one\nline two",,,,,',
        "a@x,2,s,2026-03-02T09:00,2026-03-02T10:00,Europe/Berlin,,,,,,,,,extra",
        "a@x,3,s,2026-03-02T09:00,bad,Europe/Berlin,,,,,,,,",
    )
    result = parse_csv(data, window=WINDOW)
    assert [e.body for e in result.events] == ["line one\nline two"]
    assert [(p.code, p.location) for p in result.problems] == [
        ("CSV_BAD_ROW", "line 4"),
        ("CSV_BAD_ROW", "line 5, column 'end'"),
    ]


def test_events_outside_the_window_are_left_out() -> None:
    """The window rule applies: rows entirely outside it are not events (and not problems)."""
    data = csv_bytes("a@x,old,s,2020-03-02T09:00,2020-03-02T10:00,Europe/Berlin,,,,,,,,")
    result = parse_csv(data, window=WINDOW)
    assert result.events == []
    assert result.problems == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "CSV_BAD_HEADER"),
        (b"mailbox,subject\r\na@x,s\r\n", "CSV_BAD_HEADER"),
        (b"mailbox,source_id,start,end,start\r\n", "CSV_BAD_HEADER"),
        (csv_bytes("a@x,1") * 1000, "CSV_TOO_LARGE"),
    ],
)
def test_unusable_csv_files_are_unavailable(data: bytes, code: str) -> None:
    """A file without a usable header, or over the cap, makes the source unavailable."""
    with pytest.raises(SourceUnavailable) as info:
        parse_csv(data, window=WINDOW, options=TabularOptions(max_bytes=10_000))
    assert info.value.problem.code == code
    assert load_csv(data, window=WINDOW, options=TabularOptions(max_bytes=10_000)).status == "unavailable"


def test_good_and_bad_json_items() -> None:
    """JSON items use the same fields (categories as a list, booleans, numbers); bad items are skipped."""
    items = [
        {
            "mailbox": "a@x",
            "source_id": "1",
            "subject": "s",
            "start": "2026-03-02T09:00",
            "end": "2026-03-02T10:00",
            "time_zone": "Europe/Berlin",
            "categories": ["A", "B"],
            "reminder": 5,
            "teams": True,
            "all_day": False,
        },
        {
            "mailbox": "a@x",
            "source_id": "2",
            "start": "2026-03-02",
            "end": "2026-03-04",
            "time_zone": "Europe/Berlin",
        },
        {
            "mailbox": "a@x",
            "source_id": "3",
            "start": "2026-03-02T09:00Z",
            "end": "2026-03-02T10:00Z",
            "reminder": True,
        },
        {
            "mailbox": "a@x",
            "source_id": "4",
            "start": "2026-03-02T09:00Z",
            "end": "2026-03-02T10:00Z",
            "categories": [1, 2],
        },
        {
            "mailbox": "a@x",
            "source_id": 5,
            "start": "2026-03-02T09:00Z",
            "end": "2026-03-02T10:00Z",
            "colour": "x",
        },
        "not an object",
        {"mailbox": ["a@x"], "source_id": "6", "start": "2026-03-02T09:00Z", "end": "2026-03-02T10:00Z"},
    ]
    result = parse_json(json.dumps({"events": items}).encode(), window=WINDOW)
    events = {e.source_key: e for e in result.events}
    assert sorted(events) == ["json:1", "json:2", "json:5"]
    assert events["json:1"].categories == ("A", "B")
    assert events["json:1"].teams_meeting
    assert events["json:2"].all_day
    assert events["json:2"].end - events["json:2"].start == timedelta(days=2)
    assert [(p.code, p.location) for p in result.problems] == [
        ("JSON_BAD_ITEM", "item 3, column 'reminder'"),
        ("JSON_BAD_ITEM", "item 4, column 'categories'"),
        ("JSON_UNKNOWN_FIELD", "field 'colour'"),
        ("JSON_BAD_ITEM", "item 6"),
        ("JSON_BAD_ITEM", "item 7, column 'mailbox'"),
    ]


@pytest.mark.parametrize(
    "data", [b"{", b'{"events": 3}', b"[" * 100_000 + b"]" * 100_000, b'"text"', b"\xff\xfe\x00"]
)
def test_unusable_json_is_unavailable(data: bytes) -> None:
    """Invalid JSON, the wrong shape, deep nesting or a bad encoding make the source unavailable."""
    with pytest.raises(SourceUnavailable) as info:
        parse_json(data, window=WINDOW)
    assert info.value.problem.code == "JSON_PARSE_ERROR"


def test_columns_are_documented() -> None:
    """The column table exists and names what the issue asks for."""
    for column in (
        "mailbox",
        "source_id",
        "subject",
        "start",
        "end",
        "time_zone",
        "location",
        "description",
        "categories",
        "show_as",
        "reminder",
        "teams",
    ):
        assert column in COLUMNS


@given(st.lists(st.lists(st.text(max_size=30), min_size=0, max_size=16), max_size=20))
def test_random_csv_cells_never_raise(rows: list[list[str]]) -> None:
    """Arbitrary cells under a valid header give events or problems, never an exception."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER.split(","))
    writer.writerows(rows)
    result = parse_csv(buffer.getvalue().encode(), window=WINDOW)
    assert {p.code for p in result.problems} <= set(PROBLEM_CODES)
    for event in result.events:
        assert event.end >= event.start
        assert event.start.tzinfo is not None
