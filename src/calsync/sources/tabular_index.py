"""A CSV export indexed by mailbox, so that a run holds a few integers per mailbox rather than every
mailbox's events, or the file.

Why: one CSV export can name tens of thousands of mailboxes while the runner syncs only a few at a time
(`mailbox_parallelism`). Parsing the whole file up front held every mailbox's DesiredEvents (about
0.5 KB each) for the whole run, so memory grew with the number of mailboxes (issue 4); holding the text
capped a file at 10 MiB, about 1,200 people with 100 events each (issue 10). `CsvIndex` reads the file
once with the CSV reader `parse_csv` uses (`tabular_csv`) and keeps, per mailbox, its *runs*: the byte
range and first line number of each stretch of consecutive rows that mailbox owns (three machine integers
in an `array`), and the problems that belong to no mailbox. An export grouped by mailbox, as exports are,
has one run per mailbox however many rows it has; an interleaved one costs one run per row (24 bytes).
`result_for` re-reads one mailbox's runs through the same row rules (`tabular_rows._Collector`) when its
turn comes, so its result is exactly `parse_csv(data, window=..., mailbox=...)`: the same events, the same
problems in the same order, the duplicate rule ("first row kept") unchanged since a duplicate is always
within one mailbox.

Where the text comes from (`tabular_text`): `CsvIndex(data)` holds the decoded file in memory (up to
`TabularOptions.max_bytes`); `CsvIndex.from_file(path)` reads a UTF-8 file from disk, in one streaming
pass to index it and a byte range per run afterwards, so memory stays flat whatever the file's size (up
to `max_file_bytes` and `max_file_rows`). A file in another encoding is decoded in memory, up to the cap.
"""

from __future__ import annotations

import hashlib
from array import array
from pathlib import Path

from calsync.domain import Window
from calsync.sources.model import SourceProblem, SourceResult, SourceUnavailable, unavailable
from calsync.sources.tabular_csv import _body, _open, _Sheet, _sheet
from calsync.sources.tabular_rows import TabularOptions, _Collector, _owner
from calsync.sources.tabular_text import CHUNK, FileChanged, FileText

_NONE: array[int] = array("q")


class CsvIndex:
    """Where each mailbox's records are in one CSV export, and the problems no mailbox owns.

    Raises `SourceUnavailable` when built from a file `parse_csv` would refuse (too large, too many
    rows, no usable header), with the same code.
    """

    __slots__ = ("_rows", "_sheet", "_unowned", "_unowned_lines")

    def __init__(self, data: bytes, *, options: TabularOptions | None = None) -> None:
        opts = options or TabularOptions()
        self._index(_open(data, opts), opts.max_rows)

    @classmethod
    def from_file(cls, path: Path, *, options: TabularOptions | None = None, chunk: int = CHUNK) -> CsvIndex:
        """The index of the file at `path`, read from disk `chunk` bytes at a time (see the module doc);
        raises `SourceUnavailable`, also for a file that cannot be read or that changes while indexed."""
        opts = options or TabularOptions()
        source = opts.source or "csv"
        index = cls.__new__(cls)
        try:
            text = FileText(path, chunk=chunk)
            if text.size > opts.max_file_bytes:
                raise unavailable(source, "CSV_TOO_LARGE", "the file is larger than the size cap")
            index._index(_sheet(source, text, text.start, [], opts), opts.max_file_rows)
        except OSError as exc:
            raise unavailable(
                source, "CSV_PARSE_ERROR", f"the file cannot be read ({exc.strerror})"
            ) from None
        except FileChanged:
            raise unavailable(source, "CSV_PARSE_ERROR", "the file changed while it was read") from None
        except UnicodeDecodeError:  # Windows-1252, UTF-16, ...: decoded in memory, up to the cap
            if text.size > opts.max_bytes:
                raise unavailable(
                    source, "CSV_TOO_LARGE", "a file over the size cap must be UTF-8 to be read from disk"
                ) from None
            return cls(path.read_bytes(), options=opts)
        return index

    def _index(self, sheet: _Sheet, max_rows: int) -> None:
        rows: dict[str, array[int]] = {}  # lower-cased mailbox: start, end, line, start, end, line, ...
        unowned: list[SourceProblem] = []
        lines: array[int] = array("q")
        last: str | None = None  # the owner of the previous row, whose run this row may extend
        for line, offset, end, row in _body(sheet, max_rows):
            problem = row if isinstance(row, SourceProblem) else None
            if isinstance(row, list):
                owner = _owner("csv", sheet.source, sheet.fields(row), f"line {line}")
                if isinstance(owner, SourceProblem):
                    problem = owner
                else:
                    key = owner.lower()
                    mine = rows.get(key)
                    if mine is None:
                        mine = rows[key] = array("q")
                    if key == last:
                        mine[-2] = end
                    else:
                        mine.extend((offset, end, line))
                    last = key
            if problem is not None:
                unowned.append(problem)
                lines.append(line)
                last = None
        self._sheet: _Sheet = sheet
        self._rows = rows
        self._unowned = unowned
        self._unowned_lines = lines

    def mailboxes(self) -> list[str]:
        """Every mailbox at least one readable row names, lower-cased and sorted."""
        return sorted(self._rows)

    @property
    def problems(self) -> list[SourceProblem]:
        """The problems that belong to no mailbox (mailbox None), which `result_for` gives every mailbox:
        encoding and unknown-column warnings, unreadable rows, rows without a usable mailbox."""
        return [*self._sheet.warnings, *self._unowned]

    def result_for(self, mailbox: str, window: Window) -> SourceResult:
        """`mailbox`'s events in `window` and its rows' problems, with the problems no mailbox owns, in file
        order: what `parse_csv(data, window=window, mailbox=mailbox)` gives. A file read from disk that
        changed since it was indexed gives an unavailable result (the next run indexes it again)."""
        try:
            return self._result_for(mailbox, window)
        except (FileChanged, OSError):
            problem = "the file changed after it was indexed; it is read again next run"
            return unavailable(self._sheet.source, "CSV_PARSE_ERROR", problem).as_result()

    def digest(self, mailbox: str) -> str | None:
        """A digest of everything `result_for(mailbox, ...)` reads: the header and the problems no mailbox
        owns, and the bytes of the mailbox's rows, without parsing them (calsync.sync.unchanged: a run
        whose mailbox's rows are unchanged may skip parsing and planning). None when the file changed
        since it was indexed."""
        h = hashlib.sha256()
        sheet = self._sheet
        h.update(repr((sheet.delimiter, sheet.header, sorted(sheet.extras))).encode())
        for problem in (*sheet.warnings, *self._unowned):
            h.update(repr(problem).encode())
        h.update(self._unowned_lines.tobytes())
        mine = self._rows.get(mailbox.lower(), _NONE)
        h.update(mine.tobytes())  # where the rows are: their line numbers are in their problems' text
        try:
            for i in range(0, len(mine), 3):
                for chunk in sheet.text.lines(mine[i], mine[i + 1]):
                    h.update(chunk)
        except (FileChanged, OSError):
            return None
        return h.hexdigest()

    def _result_for(self, mailbox: str, window: Window) -> SourceResult:
        sheet = self._sheet
        collector = _Collector("csv", sheet.source, window, mailbox, sheet.extras)
        collector.problems.extend(sheet.warnings)
        unowned, lines = self._unowned, self._unowned_lines
        pending = 0
        mine = self._rows.get(mailbox.lower(), _NONE)
        for i in range(0, len(mine), 3):
            for line, _offset, _end, cells in sheet.records(mine[i], mine[i + 1], mine[i + 2]):
                if cells is None or not any(c.strip() for c in cells):
                    continue  # blank lines within a run (a run holds no unreadable record)
                while pending < len(lines) and lines[pending] < line:
                    collector.problems.append(unowned[pending])
                    pending += 1
                collector.add(sheet.fields(cells), f"line {line}", too_wide=len(cells) > len(sheet.header))
        collector.problems.extend(unowned[pending:])
        return collector.result()


def load_csv_index(data: bytes, *, options: TabularOptions | None = None) -> CsvIndex | SourceResult:
    """As `CsvIndex(data)`, but a file that cannot be read at all gives a result with status "unavailable"
    (the same result `load_csv` gives it)."""
    try:
        return CsvIndex(data, options=options)
    except SourceUnavailable as exc:
        return exc.as_result()


def load_csv_index_file(path: Path, *, options: TabularOptions | None = None) -> CsvIndex | SourceResult:
    """As `CsvIndex.from_file(path)`, but a file that cannot be read gives an "unavailable" result."""
    try:
        return CsvIndex.from_file(path, options=options)
    except SourceUnavailable as exc:
        return exc.as_result()
