"""The CSV reader: header matching, delimiter sniffing and record splitting, then shared row validation.

Split from `calsync.sources.tabular` so the CSV-specific reading lives apart from the JSON reader and the
row rules both share (`tabular_rows`). The format is in the `calsync.sources.tabular` module doc.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from calsync.domain import Window
from calsync.sources.model import SourceProblem, SourceResult, SourceUnavailable, unavailable
from calsync.sources.tabular_rows import COLUMNS, REQUIRED, TabularOptions, _Collector, _text


def _header_name(raw: str) -> str:
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _rows(text: str) -> Iterator[tuple[int, list[str] | None]]:
    """(line number, cells) per record; cells None for a record the csv module cannot read."""
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=False)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield line, None
            line = reader.line_num + 1
            continue
        yield line, row
        line = reader.line_num + 1


def parse_csv(
    data: bytes, *, window: Window, mailbox: str | None = None, options: TabularOptions | None = None
) -> SourceResult:
    """Read a CSV export (format: `calsync.sources.tabular`); with `mailbox`, only that mailbox's rows.

    Raises `SourceUnavailable` for a file that cannot be read at all (too large, no usable header).
    """
    opts = options or TabularOptions()
    source = opts.source or "csv"
    collector = _Collector("csv", source, window, mailbox)
    decoded = _text(data, "csv", source, opts)
    if decoded.fallback:
        collector.warn("source", "CSV_ENCODING", f"not UTF-8; read as {decoded.encoding}")
    rows = _rows(decoded.text)
    header: list[str] | None = None
    for line, cells in rows:
        if cells is None:
            raise unavailable(source, "CSV_BAD_HEADER", "the header row cannot be read", f"line {line}")
        if not any(c.strip() for c in cells):
            continue
        header = [_header_name(c) for c in cells]
        break
    if header is None:
        raise unavailable(source, "CSV_BAD_HEADER", "the file has no header row")
    missing = [c for c in REQUIRED if c not in header]
    if missing or len(set(header)) != len(header):
        what = f"missing column(s): {', '.join(missing)}" if missing else "a column name is repeated"
        raise unavailable(source, "CSV_BAD_HEADER", f"the header is unusable ({what})", "line 1")
    for name in header:
        if name not in COLUMNS:
            collector.warn(f"column '{name}'", "CSV_UNKNOWN_COLUMN", "unknown column; it is ignored")
    count = 0
    for line, cells in rows:
        where = f"line {line}"
        if cells is None:
            collector.problems.append(SourceProblem(source, where, "CSV_BAD_ROW", "the row is not valid CSV"))
            continue
        if not any(c.strip() for c in cells):
            continue
        count += 1
        if count > opts.max_rows:
            raise unavailable(source, "CSV_TOO_LARGE", "the file has more rows than the cap")
        if len(cells) > len(header):
            collector.problems.append(
                SourceProblem(
                    source, where, "CSV_BAD_ROW", "the row has more cells than the header has columns"
                )
            )
            continue
        fields = {
            name: cells[i] if i < len(cells) else "" for i, name in enumerate(header) if name in COLUMNS
        }
        collector.add(fields, where)
    return collector.result()


def load_csv(
    data: bytes, *, window: Window, mailbox: str | None = None, options: TabularOptions | None = None
) -> SourceResult:
    """As `parse_csv`, but an unreadable file gives a result with status "unavailable"."""
    try:
        return parse_csv(data, window=window, mailbox=mailbox, options=options)
    except SourceUnavailable as exc:
        return exc.as_result()
