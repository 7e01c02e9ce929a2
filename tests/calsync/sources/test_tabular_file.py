"""A CSV export indexed from disk (`CsvIndex.from_file`): the same results as `parse_csv` for every
mailbox, lines split as in memory whatever the read size, memory that grows with the mailboxes and not
with their rows, and a file that changes in place or is not UTF-8 beyond the cap refused, never misread."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.services.sourcing import Sources
from calsync.settings import Settings
from calsync.sources import (
    CsvIndex,
    SourceProblem,
    SourceUnavailable,
    TabularOptions,
    load_csv_index_file,
    load_json,
    parse_csv,
)
from calsync.sources.tabular_text import FileText
from tests.calsync.sources.support import WINDOW
from tests.calsync.sources.test_tabular_index import Export, _export, _parse_or_refusal, exports


@settings(max_examples=200, deadline=None)
@given(export=exports(), chunk=st.sampled_from([1, 2, 3, 7, 64, 1 << 20]))
def test_each_mailbox_reads_from_disk_as_parse_csv_does(
    tmp_path_factory: pytest.TempPathFactory, export: Export, chunk: int
) -> None:
    """Also with tiny reads, so that CRLF pairs, multi-byte characters and quoted line breaks fall across
    read boundaries; a file not in UTF-8 is read in memory, as parse_csv reads it."""
    path = tmp_path_factory.mktemp("csv") / "export.csv"
    path.write_bytes(export.data)
    options = TabularOptions(max_rows=export.max_rows, max_file_rows=export.max_rows)
    whole = _parse_or_refusal(export.data, options)
    if isinstance(whole, SourceProblem):
        with pytest.raises(SourceUnavailable) as info:
            CsvIndex.from_file(path, options=options, chunk=chunk)
        assert info.value.problem == whole
        return
    index = CsvIndex.from_file(path, options=options, chunk=chunk)
    for mailbox in [*index.mailboxes(), "nobody@uni.edu"]:
        assert index.result_for(mailbox, WINDOW) == parse_csv(
            export.data, window=WINDOW, mailbox=mailbox, options=options
        )
    assert sorted(index.problems, key=str) == sorted(
        [p for p in whole.problems if p.mailbox is None], key=str
    )


@given(
    text=st.text(alphabet='ab,"\r\n\x85\u2028é€😀', max_size=40), chunk=st.integers(1, 9), bom=st.booleans()
)
def test_lines_read_from_disk_split_as_stringio_does(
    tmp_path_factory: pytest.TempPathFactory, text: str, chunk: int, bom: bool
) -> None:
    path = tmp_path_factory.mktemp("lines") / "f.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    file = FileText(path, chunk=chunk)
    lines = [line.decode() for line in file.lines(file.start)]
    assert lines == io.StringIO(text, newline="").readlines()


def _retained_by_index(path: Path) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = CsvIndex.from_file(path)
        size = tracemalloc.get_traced_memory()[0] - before
        del index
        return size
    finally:
        tracemalloc.stop()


def test_memory_grows_with_the_mailboxes_not_with_their_rows(tmp_path: Path) -> None:
    """An export grouped by mailbox is one run per mailbox: 100 rows each cost what 2 rows each cost,
    and neither holds the file (270 KB here)."""
    few, many = tmp_path / "few.csv", tmp_path / "many.csv"
    few.write_bytes(_export(300, 2))
    many.write_bytes(_export(300, 100))
    assert many.stat().st_size > 50 * few.stat().st_size / 2
    retained_few, retained_many = _retained_by_index(few), _retained_by_index(many)
    assert retained_many < 400 * 300  # under 400 bytes a mailbox (key, array, dict slot)
    assert retained_many < retained_few * 1.1 + 2048


def test_a_file_changed_in_place_after_indexing_is_unavailable_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_export(3, 2))
    index = CsvIndex.from_file(path)
    assert index.result_for("teacher00001@uni.edu", WINDOW).status == "ok"
    with path.open("ab") as file:
        file.write(b"teacher00001@uni.edu,L-9,x,2026-03-01T09:00,2026-03-01T10:00,UTC,,\r\n")
    changed = index.result_for("teacher00001@uni.edu", WINDOW)
    assert (changed.status, changed.errors[0].code) == ("unavailable", "CSV_PARSE_ERROR")


def test_a_file_replaced_or_deleted_after_indexing_is_read_as_indexed(tmp_path: Path) -> None:
    """An exporter that writes a new file and renames it over the old one does not disturb a run: the
    run reads the version it indexed (the next run indexes the new one)."""
    path = tmp_path / "export.csv"
    path.write_bytes(_export(2, 3))
    index = CsvIndex.from_file(path)
    (tmp_path / "new.csv").write_bytes(_export(1, 1))
    os.replace(tmp_path / "new.csv", path)
    assert len(index.result_for("teacher00001@uni.edu", WINDOW).events) == 3
    path.unlink()
    assert len(index.result_for("teacher00000@uni.edu", WINDOW).events) == 3


def test_beyond_the_in_memory_cap_a_file_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    data = _export(20, 5).replace(b"Lecture", "Übung".encode("cp1252"))
    path.write_bytes(data)
    small = TabularOptions(max_bytes=len(data) - 1)
    refused = load_csv_index_file(path, options=small)
    assert not isinstance(refused, CsvIndex)
    assert refused.status == "unavailable"
    assert refused.errors[0].code == "CSV_TOO_LARGE"
    assert "must be UTF-8" in refused.errors[0].message
    index = CsvIndex.from_file(path)  # under the cap: decoded in memory, with the encoding warning
    assert index.result_for("teacher00003@uni.edu", WINDOW) == parse_csv(
        data, window=WINDOW, mailbox="teacher00003@uni.edu"
    )
    assert [p.code for p in index.problems] == ["CSV_ENCODING"]


def test_caps_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(_export(2, 3))
    too_big = load_csv_index_file(path, options=TabularOptions(max_file_bytes=100))
    assert not isinstance(too_big, CsvIndex)
    assert too_big.errors[0].code == "CSV_TOO_LARGE"
    too_many = load_csv_index_file(path, options=TabularOptions(max_file_rows=5))
    assert not isinstance(too_many, CsvIndex)
    assert too_many.errors[0].code == "CSV_TOO_LARGE"
    missing = load_csv_index_file(tmp_path / "missing.csv")
    assert not isinstance(missing, CsvIndex)
    assert missing.errors[0].code == "CSV_PARSE_ERROR"


def test_a_json_document_over_the_cap_points_to_csv() -> None:
    refused = load_json(b"[" + b" " * 200 + b"]", window=WINDOW, options=TabularOptions(max_bytes=100))
    assert refused.errors[0].code == "JSON_TOO_LARGE"
    assert "export CSV" in refused.errors[0].message


async def test_a_run_reads_an_export_over_the_in_memory_cap(tmp_path: Path) -> None:
    """The services layer indexes a CSV from disk: an export over 10 MiB (the old cap, about 1,100 people
    x 100 events) gives each mailbox its events."""
    path = tmp_path / "export.csv"
    path.write_bytes(_export(1_100, 100))
    assert path.stat().st_size > TabularOptions().max_bytes
    loader = Sources(Settings(csv_file=path)).loader()
    last = await loader("teacher01099@uni.edu", WINDOW)
    assert (last.status, len(last.events)) == ("ok", 100)
