"""The CSV reader: header matching, delimiter sniffing and record splitting, then shared row validation.

Split from `calsync.sources.tabular` so the CSV-specific reading lives apart from the JSON reader and the
row rules both share (`tabular_rows`). The format is in the `calsync.sources.tabular` module doc.

One reader serves two callers: `parse_csv` reads a whole file, and `CsvIndex` (`tabular_index`) reads
it once to note where each mailbox's records are, then re-reads only one mailbox's records when that
mailbox is synced. The text comes from memory (kept as UTF-8 bytes: at most the file's size for a UTF-8
file, where a Python str of text with one emoji in it takes four bytes a character) or, for a UTF-8
file, from the file itself (`tabular_text`); every record is located by its byte offsets and first line
number: reading from that offset gives the same cells as the whole-file read, because a record always
starts at the start of a line with the csv module's state reset.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from calsync.domain import Window
from calsync.sources.model import SourceProblem, SourceResult, SourceUnavailable, unavailable
from calsync.sources.tabular_rows import COLUMNS, REQUIRED, TabularOptions, _Collector, _text
from calsync.sources.tabular_text import FileText, MemoryText

Text = MemoryText | FileText
Record = tuple[int, int, int, list[str] | None]  # (first line number, byte offset, end offset, cells)


class _Lines:
    """The decoded physical lines from byte `start` on (of UTF-8 bytes, or the raw lines an iterator
    hands out from there); `end` is where the last one handed out ends (the csv module reads a record's
    lines and no further). A line that is not UTF-8 raises UnicodeDecodeError."""

    __slots__ = ("_lines", "end")

    def __init__(self, source: bytes | Iterator[bytes], start: int) -> None:
        self._lines = MemoryText(source).lines(start) if isinstance(source, bytes) else source
        self.end = start

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.end += len(line)
        return line.decode("utf-8")


def _records(
    lines: Iterator[bytes], delimiter: str, start: int = 0, line: int = 1
) -> Generator[Record, None, None]:
    """(line number, byte offset, end offset, cells) per record of `lines`, which start at byte `start`
    (line `line`); cells None for a record the csv module cannot read."""
    source = _Lines(lines, start)
    reader = csv.reader(source, delimiter=delimiter, strict=False)
    first, offset = line, start
    while True:
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            cells = None
        yield first, offset, source.end, cells
        first, offset = line + reader.line_num, source.end


def _header_name(raw: str) -> str:
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A CSV file with a usable header: its text (UTF-8), how to split it, and where the rows start."""

    source: str
    text: Text
    delimiter: str
    header: tuple[str, ...]
    warnings: tuple[SourceProblem, ...]  # encoding and unknown columns, in the order parse_csv gives them
    body: tuple[int, int]  # (byte offset, line number) of the first record after the header
    extras: frozenset[str] = frozenset()  # extra columns carried for templates (TabularOptions)

    def records(
        self, start: int, end: int | None = None, line: int | None = None
    ) -> Generator[Record, None, None]:
        """The records from byte `start` (line `line`; default: the body's first) to `end`, read again."""
        first = self.body[1] if line is None else line
        return _records(self.text.lines(start, end), self.delimiter, start, first)

    def fields(self, cells: list[str]) -> dict[str, str]:
        """A row's known columns (missing trailing cells are empty; cells past the header are left out, so
        a row that is too wide still names its mailbox and source_id)."""
        return {
            n: cells[i] if i < len(cells) else ""
            for i, n in enumerate(self.header)
            if n in COLUMNS or n in self.extras
        }


def _open(data: bytes, opts: TabularOptions) -> _Sheet:
    """Decode the file into memory and read its header; raises `SourceUnavailable` (too large, no usable
    header)."""
    source = opts.source or "csv"
    decoded = _text(data, "csv", source, opts)
    warnings: list[SourceProblem] = []
    if decoded.fallback:
        warnings.append(
            SourceProblem(
                source, "source", "CSV_ENCODING", f"not UTF-8; read as {decoded.encoding}", "warning"
            )
        )
    text = MemoryText(decoded.text.encode("utf-8"))
    del decoded
    return _sheet(source, text, 0, warnings, opts)


def _sheet(
    source: str, text: Text, start: int, warnings: list[SourceProblem], opts: TabularOptions
) -> _Sheet:
    """Read the header of `text` (from byte `start`); raises `SourceUnavailable` (no usable header) and
    UnicodeDecodeError (a `FileText` that is not UTF-8)."""
    delimiter = _delimiter(text.head().decode("utf-8"))
    records = _records(text.lines(start), delimiter, start)
    header: list[str] | None = None
    for line, _offset, _end, cells in records:
        if cells is None:
            raise unavailable(source, "CSV_BAD_HEADER", "the header row cannot be read", f"line {line}")
        if not _blank(cells):
            header = [_header_name(c) for c in cells]
            break
    if header is None:
        raise unavailable(source, "CSV_BAD_HEADER", "the file has no header row")
    missing = [c for c in REQUIRED if c not in header]
    if missing or len(set(header)) != len(header):
        what = f"missing column(s): {', '.join(missing)}" if missing else "a column name is repeated"
        raise unavailable(source, "CSV_BAD_HEADER", f"the header is unusable ({what})", "line 1")
    for name in header:
        if name not in COLUMNS and name not in opts.extra_fields:
            warnings.append(
                SourceProblem(
                    source,
                    f"column '{name}'",
                    "CSV_UNKNOWN_COLUMN",
                    "unknown column; it is ignored",
                    "warning",
                )
            )
    body = next(records, None)  # the record after the header tells where the body starts
    records.close()  # a FileText closes its file now, not when the generator is collected
    first = (text.size, 0) if body is None else (body[1], body[0])
    return _Sheet(source, text, delimiter, tuple(header), tuple(warnings), first, opts.extra_fields)


def _body(sheet: _Sheet, max_rows: int) -> Iterator[tuple[int, int, int, list[str] | SourceProblem]]:
    """The rows after the header, blank ones left out: (line, byte offset, end offset, cells) for a row
    to validate, or a `SourceProblem` for one that cannot be read as CSV. Raises
    `SourceUnavailable` (CSV_TOO_LARGE) at the row past `max_rows`."""
    count = 0
    for line, offset, end, cells in sheet.records(sheet.body[0]):
        if cells is None:
            problem = SourceProblem(sheet.source, f"line {line}", "CSV_BAD_ROW", "the row is not valid CSV")
            yield line, offset, end, problem
            continue
        if _blank(cells):
            continue
        count += 1
        if count > max_rows:
            raise unavailable(sheet.source, "CSV_TOO_LARGE", "the file has more rows than the cap")
        yield line, offset, end, cells  # a row wider than the header is refused by the collector


def parse_csv(
    data: bytes, *, window: Window, mailbox: str | None = None, options: TabularOptions | None = None
) -> SourceResult:
    """Read a CSV export (format: `calsync.sources.tabular`); with `mailbox`, only that mailbox's rows
    (and the problems no mailbox owns: header and encoding warnings, unreadable rows).

    Raises `SourceUnavailable` for a file that cannot be read at all (too large, no usable header).
    """
    opts = options or TabularOptions()
    sheet = _open(data, opts)
    collector = _Collector("csv", sheet.source, window, mailbox, sheet.extras)
    collector.problems.extend(sheet.warnings)
    for line, _offset, _end, row in _body(sheet, opts.max_rows):
        if isinstance(row, SourceProblem):
            collector.problems.append(row)
        else:
            collector.add(sheet.fields(row), f"line {line}", too_wide=len(row) > len(sheet.header))
    return collector.result()


def load_csv(
    data: bytes, *, window: Window, mailbox: str | None = None, options: TabularOptions | None = None
) -> SourceResult:
    """As `parse_csv`, but an unreadable file gives a result with status "unavailable"."""
    try:
        return parse_csv(data, window=window, mailbox=mailbox, options=options)
    except SourceUnavailable as exc:
        return exc.as_result()
