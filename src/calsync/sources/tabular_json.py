"""The JSON reader: a list of objects (or an object with an "events" list), then shared row validation.

Split from `calsync.sources.tabular` so the JSON-specific reading lives apart from the CSV reader and the
row rules both share (`tabular_rows`). The format is in the `calsync.sources.tabular` module doc.
"""

from __future__ import annotations

import json

from calsync.domain import Window
from calsync.sources.model import SourceProblem, SourceResult, SourceUnavailable, unavailable
from calsync.sources.tabular_rows import COLUMNS, TabularOptions, _Collector, _text


def parse_json(
    data: bytes, *, window: Window, mailbox: str | None = None, options: TabularOptions | None = None
) -> SourceResult:
    """Read a JSON export (format: `calsync.sources.tabular`); with `mailbox`, only that mailbox's items.

    Raises `SourceUnavailable` for a file that is not JSON or not a list of events.
    """
    opts = options or TabularOptions()
    source = opts.source or "json"
    text = _text(data, "json", source, opts).text
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise unavailable(
            source, "JSON_PARSE_ERROR", "the file is not valid JSON", f"line {exc.lineno}, column {exc.colno}"
        ) from None
    except (ValueError, RecursionError):
        raise unavailable(source, "JSON_PARSE_ERROR", "the file is not valid JSON") from None
    items = document.get("events") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise unavailable(source, "JSON_PARSE_ERROR", "expected a list of events, or an object with 'events'")
    if len(items) > opts.max_rows:
        raise unavailable(source, "JSON_TOO_LARGE", "the file has more items than the cap")
    wanted = opts.extra_fields
    collector = _Collector("json", source, window, mailbox, wanted)
    unknown: set[str] = set()
    for number, item in enumerate(items, 1):
        where = f"item {number}"
        if not isinstance(item, dict):
            collector.problems.append(
                SourceProblem(source, where, "JSON_BAD_ITEM", "the item is not an object")
            )
            continue
        for name in item:
            if name not in COLUMNS and name not in wanted and name not in unknown and len(unknown) < 100:
                unknown.add(name)
                collector.warn(f"field '{name}'", "JSON_UNKNOWN_FIELD", "unknown field; it is ignored")
        collector.add({k: v for k, v in item.items() if k in COLUMNS or k in wanted}, where)
    return collector.result()


def load_json(
    data: bytes, *, window: Window, mailbox: str | None = None, options: TabularOptions | None = None
) -> SourceResult:
    """As `parse_json`, but an unreadable file gives a result with status "unavailable"."""
    try:
        return parse_json(data, window=window, mailbox=mailbox, options=options)
    except SourceUnavailable as exc:
        return exc.as_result()
