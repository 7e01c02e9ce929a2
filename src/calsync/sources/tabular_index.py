"""A CSV export indexed by mailbox, so that a run holds the file's text rather than every mailbox's events.

Why: one CSV export can name thousands of mailboxes while the runner syncs only a few at a time
(`mailbox_parallelism`). Parsing the whole file up front held every mailbox's DesiredEvents (about
0.5 KB each) for the whole run, so memory grew with the number of mailboxes (issue 4). `CsvIndex` reads
the file once with the CSV reader `parse_csv` uses (`tabular_csv`) and keeps only the text (UTF-8,
capped by `TabularOptions.max_bytes`), per mailbox the byte offset and line number of each of its
records (machine integers in an `array`), and the problems that belong to no mailbox. `result_for`
re-reads one mailbox's records through the same row rules (`tabular_rows._Collector`) when its turn
comes, so its result is exactly `parse_csv(data, window=..., mailbox=...)`: the same events, the same
problems in the same order, the duplicate rule ("first row kept") unchanged since a duplicate is always
within one mailbox.
"""

from __future__ import annotations

from array import array

from calsync.domain import Window
from calsync.sources.model import SourceProblem, SourceResult, SourceUnavailable
from calsync.sources.tabular_csv import _body, _open, _Sheet
from calsync.sources.tabular_rows import TabularOptions, _Collector, _owner

_NONE: array[int] = array("q")


class CsvIndex:
    """Where each mailbox's records are in one CSV export, and the problems no mailbox owns.

    Raises `SourceUnavailable` when built from a file `parse_csv` would refuse (too large, too many
    rows, no usable header), with the same code.
    """

    __slots__ = ("_rows", "_sheet", "_unowned", "_unowned_lines")

    def __init__(self, data: bytes, *, options: TabularOptions | None = None) -> None:
        opts = options or TabularOptions()
        sheet = _open(data, opts)
        rows: dict[str, array[int]] = {}  # lower-cased mailbox: offset, line, offset, line, ...
        unowned: list[SourceProblem] = []
        lines: array[int] = array("q")
        for line, offset, row in _body(sheet, opts.max_rows):
            problem = row if isinstance(row, SourceProblem) else None
            if isinstance(row, list):
                owner = _owner("csv", sheet.source, sheet.fields(row), f"line {line}")
                if isinstance(owner, SourceProblem):
                    problem = owner
                else:
                    mine = rows.get(key := owner.lower())
                    if mine is None:
                        mine = rows[key] = array("q")
                    mine.append(offset)
                    mine.append(line)
            if problem is not None:
                unowned.append(problem)
                lines.append(line)
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
        order: what `parse_csv(data, window=window, mailbox=mailbox)` gives."""
        sheet = self._sheet
        collector = _Collector("csv", sheet.source, window, mailbox, sheet.extras)
        collector.problems.extend(sheet.warnings)
        unowned, lines = self._unowned, self._unowned_lines
        pending = 0
        mine = self._rows.get(mailbox.lower(), _NONE)
        for i in range(0, len(mine), 2):
            offset, line = mine[i], mine[i + 1]
            while pending < len(lines) and lines[pending] < line:
                collector.problems.append(unowned[pending])
                pending += 1
            cells = sheet.record(offset, line)
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
