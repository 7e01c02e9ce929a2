"""The CSV reader: header matching, delimiter sniffing and record splitting, then shared row validation.

Split from `calsync.sources.tabular` so the CSV-specific reading lives apart from the JSON reader and the
row rules both share (`tabular_rows`). The format is in the `calsync.sources.tabular` module doc.

One reader serves two callers: `parse_csv` reads a whole file, and `CsvIndex` (`tabular_index`) reads
it once to note where each mailbox's records start, then re-reads only one mailbox's records when that
mailbox is synced. So the text is kept as UTF-8 bytes (at most the file's size for a UTF-8 file, where a
Python str of text with one emoji in it takes four bytes a character), and every record is located by
its byte offset and first line number: reading from that offset gives the same cells as the whole-file
read, because a record always starts at the start of a line with the csv module's state reset.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass

from calsync.domain import Window
from calsync.sources.model import SourceProblem, SourceResult, SourceUnavailable, unavailable
from calsync.sources.tabular_rows import COLUMNS, REQUIRED, TabularOptions, _Collector, _text

# A physical line as io.StringIO(newline="") splits text: ended by CRLF, CR or LF (kept), or the last,
# unended one. CR and LF never occur inside a UTF-8 multi-byte sequence, so splitting bytes is safe.
_LINE = re.compile(rb"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")

Record = tuple[int, int, list[str] | None]  # (first line number, byte offset, cells or None)


class _Lines:
    """The decoded physical lines of `utf8` from byte `start` on; `end` is where the last one handed
    out ends (the csv module reads a record's lines and no further)."""

    __slots__ = ("_matches", "end")

    def __init__(self, utf8: bytes, start: int) -> None:
        self._matches = _LINE.finditer(utf8, start)
        self.end = start

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        match = next(self._matches)
        self.end = match.end()
        return match.group().decode("utf-8")


def _records(utf8: bytes, delimiter: str, start: int = 0, line: int = 1) -> Iterator[Record]:
    """(line number, byte offset, cells) per record from byte `start` (line `line`) on; cells None for
    a record the csv module cannot read."""
    lines = _Lines(utf8, start)
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    first, offset = line, start
    while True:
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            cells = None
        yield first, offset, cells
        first, offset = line + reader.line_num, lines.end


def _header_name(raw: str) -> str:
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A CSV file with a usable header: its text as UTF-8, how to split it, and where the rows start."""

    source: str
    utf8: bytes
    delimiter: str
    header: tuple[str, ...]
    warnings: tuple[SourceProblem, ...]  # encoding and unknown columns, in the order parse_csv gives them
    body: tuple[int, int]  # (byte offset, line number) of the first record after the header
    extras: frozenset[str] = frozenset()  # extra columns carried for templates (TabularOptions)

    def record(self, offset: int, line: int) -> list[str]:
        """The cells of the readable record at `offset` (line `line`), read again."""
        cells = next(_records(self.utf8, self.delimiter, offset, line))[2]
        assert cells is not None, "a record that was readable reads the same again"
        return cells

    def fields(self, cells: list[str]) -> dict[str, str]:
        """A row's known columns (missing trailing cells are empty; cells past the header are left out, so
        a row that is too wide still names its mailbox and source_id)."""
        return {
            n: cells[i] if i < len(cells) else ""
            for i, n in enumerate(self.header)
            if n in COLUMNS or n in self.extras
        }


def _open(data: bytes, opts: TabularOptions) -> _Sheet:
    """Decode the file and read its header; raises `SourceUnavailable` (too large, no usable header)."""
    source = opts.source or "csv"
    decoded = _text(data, "csv", source, opts)
    warnings: list[SourceProblem] = []
    if decoded.fallback:
        warnings.append(
            SourceProblem(
                source, "source", "CSV_ENCODING", f"not UTF-8; read as {decoded.encoding}", "warning"
            )
        )
    utf8 = decoded.text.encode("utf-8")
    del decoded
    newline = utf8.find(b"\n")
    delimiter = _delimiter((utf8 if newline < 0 else utf8[:newline]).decode("utf-8"))
    records = _records(utf8, delimiter)
    header: list[str] | None = None
    for line, _offset, cells in records:
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
    start = (len(utf8), 0) if body is None else (body[1], body[0])
    return _Sheet(source, utf8, delimiter, tuple(header), tuple(warnings), start, opts.extra_fields)


def _body(sheet: _Sheet, max_rows: int) -> Iterator[tuple[int, int, list[str] | SourceProblem]]:
    """The rows after the header, blank ones left out: (line, byte offset, cells) for a row to validate,
    or a `SourceProblem` for one that cannot be read as CSV. Raises
    `SourceUnavailable` (CSV_TOO_LARGE) at the row past `max_rows`."""
    count = 0
    for line, offset, cells in _records(sheet.utf8, sheet.delimiter, *sheet.body):
        if cells is None:
            yield (
                line,
                offset,
                SourceProblem(sheet.source, f"line {line}", "CSV_BAD_ROW", "the row is not valid CSV"),
            )
            continue
        if _blank(cells):
            continue
        count += 1
        if count > max_rows:
            raise unavailable(sheet.source, "CSV_TOO_LARGE", "the file has more rows than the cap")
        yield line, offset, cells  # a row wider than the header is refused by the collector, with its key


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
    for line, _offset, row in _body(sheet, opts.max_rows):
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
