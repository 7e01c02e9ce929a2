"""The CSV index: each mailbox's result read from the index equals `parse_csv(..., mailbox=...)`, the
problems no mailbox owns go to every mailbox, and the index holds integers, not rows or events."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.sources import (
    CsvIndex,
    SourceProblem,
    SourceResult,
    SourceUnavailable,
    TabularOptions,
    parse_csv,
)
from calsync.sources.tabular_csv import _Lines
from tests.calsync.sources.support import WINDOW

HEADER = ["Mailbox", "Source ID", "subject", "start", "end", "time-zone", "all_day", "Colour"]
# Mixed case and padding: "adele@uni.edu" and "ADELE@Uni.edu " are one mailbox (compared lower-cased, as
# the runner names mailboxes); "Straße@uni.edu" and "STRASSE@uni.edu" are two; "" and "x y@uni.edu" are
# no mailbox at all.
MAILBOXES = [
    "adele@uni.edu",
    "ADELE@Uni.edu ",
    " Bob@UNI.edu",
    "Straße@uni.edu",
    "STRASSE@uni.edu",
    "",
    "x y@uni.edu",
]
TIMES = [
    ("2026-03-02T09:00", "2026-03-02T10:00", "Europe/Berlin", ""),
    ("2026-03-02", "2026-03-03", "Europe/Berlin", "true"),
    ("2026-03-02T08:00Z", "2026-03-02T09:00Z", "", ""),
    ("2020-03-02T09:00", "2020-03-02T10:00", "Europe/Berlin", ""),  # outside the window
    ("2026-13-02T09:00", "2026-03-02T10:00", "Europe/Berlin", ""),  # a bad date
    ("2026-03-02T09:00", "2026-03-02T08:00", "Europe/Berlin", ""),  # ends before it starts
    ("2026-03-02T09:00", "2026-03-02T10:00", "", ""),  # no zone
]
TEXT = st.text(alphabet='ab ,;"\r\néÄ€\t', max_size=8)  # quoted fields with newlines and delimiters


@dataclass(frozen=True)
class Export:
    data: bytes
    max_rows: int


@st.composite
def exports(draw: st.DrawFn) -> Export:
    delimiter = draw(st.sampled_from([",", ";"]))
    rows: list[list[str] | str] = [HEADER]
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["row", "row", "row", "row", "wide", "blank", "raw"]))
        if kind == "blank":
            rows.append(draw(st.sampled_from(["", delimiter * 3, "  "])))
        elif kind == "raw":
            rows.append(draw(st.text(alphabet='ab,;"\r\n', max_size=6)))
        else:
            start, end, zone, all_day = draw(st.sampled_from(TIMES))
            mailbox = draw(st.sampled_from(MAILBOXES))
            source_id = draw(st.sampled_from(["1", "2", "3", "L-4", ""]))  # repeats are duplicates
            cells = [mailbox, source_id, draw(TEXT), start, end, zone, all_day, draw(TEXT)]
            rows.append(cells + (["extra"] if kind == "wide" else []))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
    for row in rows:
        if isinstance(row, str):
            buffer.write(row + "\n")
        else:
            writer.writerow(row)
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:  # cp1252 has no character for some text: then UTF-8
        data = text.encode("utf-8")
    return Export(data, draw(st.sampled_from([5, 200_000, 200_000])))


def _parse_or_refusal(data: bytes, options: TabularOptions) -> SourceResult | SourceProblem:
    try:
        return parse_csv(data, window=WINDOW, options=options)
    except SourceUnavailable as refused:
        return refused.problem


@settings(max_examples=300, deadline=None)
@given(exports())
def test_each_mailbox_reads_as_parse_csv_does(export: Export) -> None:
    """For every mailbox: the events and problems (codes, locations, order) of `parse_csv(mailbox=...)`;
    the problems without a mailbox are exactly the file-level ones, the same for every mailbox; together
    the mailboxes give the whole file's events and problems."""
    options = TabularOptions(max_rows=export.max_rows)
    whole = _parse_or_refusal(export.data, options)
    if isinstance(whole, SourceProblem):
        with pytest.raises(SourceUnavailable) as info:
            CsvIndex(export.data, options=options)
        assert info.value.problem == whole
        return
    index = CsvIndex(export.data, options=options)
    events = []
    problems = Counter(index.problems)
    for mailbox in [*index.mailboxes(), "nobody@uni.edu", "ADELE@UNI.EDU"]:
        mine = index.result_for(mailbox, WINDOW)
        assert mine == parse_csv(export.data, window=WINDOW, mailbox=mailbox, options=options)
        assert [p for p in mine.problems if p.mailbox is None] == index.problems
        own = [p for p in mine.problems if p.mailbox is not None]
        assert all(p.mailbox is not None and p.mailbox.lower() == mailbox.lower() for p in own)
        assert all(e.mailbox.lower() == mailbox.lower() for e in mine.events)
        if mailbox in index.mailboxes():
            events += mine.events
            problems.update(own)
    assert sorted(events, key=lambda e: (e.mailbox.lower(), e.source_key)) == whole.events
    assert problems == Counter(whole.problems)


def test_an_example_file_by_mailbox() -> None:
    """Line numbers survive multi-line fields; a mailbox sees its own bad rows and the file's, not others'."""
    data = (
        b"mailbox;source_id;subject;start;end;time_zone;colour\r\n"
        b'Adele@Uni.edu;1;"two\r\nlines; here";2026-03-02T09:00;2026-03-02T10:00;Europe/Berlin;red\r\n'
        b"bob@uni.edu;1;s;2026-03-02T09:00;bad;Europe/Berlin;\r\n"
        b"\r\n"
        b"adele@uni.edu;1;again;2026-03-02T09:00;2026-03-02T10:00;Europe/Berlin;\r\n"
        b";9;no mailbox;2026-03-02T09:00;2026-03-02T10:00;Europe/Berlin;\r\n"
        b"bob@uni.edu;2;wide;2026-03-02T09:00;2026-03-02T10:00;Europe/Berlin;;extra\r\n"
        b"bob@uni.edu;3;s;2026-03-02T09:00;2026-03-02T10:00;Europe/Berlin;\r\n"
    )
    index = CsvIndex(data)
    assert index.mailboxes() == ["adele@uni.edu", "bob@uni.edu"]
    adele = index.result_for("ADELE@uni.edu", WINDOW)
    assert [(e.mailbox, e.source_key, e.subject) for e in adele.events] == [
        ("Adele@Uni.edu", "csv:1", "two\nlines; here")
    ]
    assert [(p.code, p.location, p.mailbox, p.key) for p in adele.problems] == [
        ("CSV_UNKNOWN_COLUMN", "column 'colour'", None, None),
        ("CSV_DUPLICATE_ID", "line 6", "adele@uni.edu", "csv:1"),
        ("CSV_BAD_ROW", "line 7, column 'mailbox'", None, "csv:9"),
    ]
    bob = index.result_for("bob@uni.edu", WINDOW)
    assert [e.source_key for e in bob.events] == ["csv:3"]
    assert [(p.code, p.location, p.mailbox, p.key) for p in bob.problems] == [
        ("CSV_UNKNOWN_COLUMN", "column 'colour'", None, None),
        ("CSV_BAD_ROW", "line 4, column 'end'", "bob@uni.edu", "csv:1"),
        ("CSV_BAD_ROW", "line 7, column 'mailbox'", None, "csv:9"),
        ("CSV_BAD_ROW", "line 8", "bob@uni.edu", "csv:2"),  # too wide: refused, its key kept
    ]


@given(st.text(alphabet='ab,"\r\n\x85\x0b\x0c\x1c\u2028\u2029é', max_size=40))
def test_lines_split_as_stringio_does(text: str) -> None:
    """The reader splits lines exactly where io.StringIO(newline="") does (CR, LF, CRLF; nothing else)."""
    assert list(_Lines(text.encode(), 0)) == io.StringIO(text, newline="").readlines()


def _export(mailboxes: int, rows: int) -> bytes:
    lines = ["mailbox,source_id,subject,start,end,time_zone,location,description"]
    for m in range(mailboxes):
        for r in range(rows):
            lines.append(
                f"teacher{m:05d}@uni.edu,L-{r:04d},Lecture {r},2026-03-{1 + r % 28:02d}T09:00,"
                f"2026-03-{1 + r % 28:02d}T10:30,Europe/Berlin,Room {r % 50},Bring sheet {r}"
            )
    return ("\r\n".join(lines) + "\r\n").encode()


def _retained(build: object) -> int:
    """Bytes still allocated once `build()` returned, while its result is alive."""
    assert callable(build)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        size = tracemalloc.get_traced_memory()[0] - before
        del kept
        return size
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("mailboxes", "rows"), [(200, 20), (1, 4000)])
def test_the_index_holds_the_text_and_integers_not_rows(mailboxes: int, rows: int) -> None:
    """Beyond the text (ASCII here, so as long as the file), the index keeps under 32 bytes a row however
    the rows are spread over mailboxes: less than any per-row Python object (an empty str takes 49). The
    parsed events of the same file take more than 300 bytes a row."""
    data = _export(mailboxes, rows)
    assert _retained(lambda: CsvIndex(data)) - len(data) < 32 * mailboxes * rows
    assert _retained(lambda: parse_csv(data, window=WINDOW)) > 300 * mailboxes * rows


def test_problem_locations_are_the_documented_ones() -> None:
    """Problems carry SourceProblem's fields; a file-level problem names no mailbox."""
    index = CsvIndex(b"mailbox,source_id,start,end\r\n,1,2026-03-02,2026-03-03\r\n")
    assert index.problems == [
        SourceProblem(
            "csv", "line 2, column 'mailbox'", "CSV_BAD_ROW", "mailbox is required", "error", "csv:1"
        )
    ]
    assert index.mailboxes() == []


def test_a_record_the_csv_module_refuses_is_everyones_and_the_next_reads_right() -> None:
    """A field over the csv module's limit (128 KiB) makes that record CSV_BAD_ROW; the index resumes at
    the next record's offset and line, as the whole-file read does."""
    data = (
        "mailbox,source_id,start,end,time_zone\r\n"
        f"a@uni.edu,1,2026-03-02T09:00,{'x' * 140_000},UTC\r\n"
        "b@uni.edu,2,2026-03-02T09:00,2026-03-02T10:00,UTC\r\n"
    ).encode()
    index = CsvIndex(data)
    assert [(p.code, p.location, p.mailbox) for p in index.problems] == [("CSV_BAD_ROW", "line 2", None)]
    bob = index.result_for("b@uni.edu", WINDOW)
    assert bob == parse_csv(data, window=WINDOW, mailbox="b@uni.edu")
    assert [e.source_key for e in bob.events] == ["csv:2"]
