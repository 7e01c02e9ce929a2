"""Read sources into DesiredEvents for one mailbox and window (docs/architecture.md, docs/sources.md).

- `parse_ics` / `load_ics`: an iCalendar feed (recurrences expanded, bounded); `load_ics_url` fetches it
  first through `SafeFetcher` (SSRF guard, size and time caps, ETag/Last-Modified); the URL comes from a
  `UrlTemplate` or a `FeedUrlMap` (`load_url_map`: a mailbox -> URL file).
- `parse_csv` / `parse_json` (and `load_*`): documented tabular exports. `CsvIndex` (`load_csv_index`, or
  `load_csv_index_file` from disk) indexes a CSV export once, then reads one mailbox's rows at a time: a
  run holds a few integers per mailbox, not every mailbox's events (nor, from disk, the file).
- `parse_*` raise `SourceUnavailable` when the whole source is unusable; `load_*` return a
  `SourceResult` with status "unavailable" instead. Either way a bad item is a `SourceProblem` and is
  skipped, and `SourceResult.skipped(key)` tells the planner to keep its last good copy.

The iCalendar readers (`parse_ics`, `load_ics`, `load_ics_url`, `IGNORED_PROPERTIES`) are imported from
their modules on first use (PEP 562 `__getattr__` below): they import icalendar and dateutil (about 90
modules), which a run from a CSV or JSON export never uses. `IcsOptions`, which every source kind builds,
comes from `ics_document`, which does not import icalendar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calsync import lazy
from calsync.sources.feedauth import FeedAuth
from calsync.sources.fetch import FetchPolicy, FetchResult, Resolver, SafeFetcher, default_resolver
from calsync.sources.ics_document import IcsOptions
from calsync.sources.model import (
    PROBLEM_CODES,
    SourceProblem,
    SourceResult,
    SourceUnavailable,
    Validators,
)
from calsync.sources.tabular import COLUMNS, TabularOptions, load_csv, load_json, parse_csv, parse_json
from calsync.sources.tabular_index import CsvIndex, load_csv_index, load_csv_index_file
from calsync.sources.urlmap import FeedUrlMap, load_url_map, parse_url_map
from calsync.sources.urls import UrlTemplate, redact_url

if TYPE_CHECKING:
    from calsync.sources.feeds import load_ics_url
    from calsync.sources.ics import IGNORED_PROPERTIES, load_ics, parse_ics

_HOMES = {
    "IGNORED_PROPERTIES": "ics",
    "load_ics": "ics",
    "parse_ics": "ics",
    "load_ics_url": "feeds",
}

__all__ = [
    "COLUMNS",
    "IGNORED_PROPERTIES",
    "PROBLEM_CODES",
    "CsvIndex",
    "FeedAuth",
    "FeedUrlMap",
    "FetchPolicy",
    "FetchResult",
    "IcsOptions",
    "Resolver",
    "SafeFetcher",
    "SourceProblem",
    "SourceResult",
    "SourceUnavailable",
    "TabularOptions",
    "UrlTemplate",
    "Validators",
    "default_resolver",
    "load_csv",
    "load_csv_index",
    "load_csv_index_file",
    "load_ics",
    "load_ics_url",
    "load_json",
    "load_url_map",
    "parse_csv",
    "parse_ics",
    "parse_json",
    "parse_url_map",
    "redact_url",
]


__getattr__ = lazy.exports(__name__, _HOMES)  # the names above, imported on first use
