"""What reading a source produces: events, problems, and whether the source was available at all.

Why these shapes:
- A source that cannot be read (fetch failed, the whole file does not parse, it is too large) is
  *unavailable*, never empty: the engine must delete nothing then (architecture invariant 4). Readers raise
  `SourceUnavailable`; the `load_*` helpers turn that into a `SourceResult` with status "unavailable".
- One bad item is reported as a `SourceProblem` and skipped; the rest of the source is kept (invariant 6).
  A skipped item names the source key it would have had (`SourceProblem.key`), so the planner can keep its
  last good copy in Graph instead of deleting it: `SourceResult.skipped(key)` answers that.
- Messages are written for people and never quote raw feed content (a feed may carry anything, including
  text crafted for log injection); `location` says where (a line number, an item index or a UID), cut to
  a safe length and stripped of control characters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from calsync.domain import DesiredEvent

Severity = Literal["warning", "error"]
Status = Literal["ok", "unavailable"]

MAX_LOCATION = 120

# Every code a reader can emit, with what it means. "error" problems skip the item (or, for the
# document-level codes, make the source unavailable); "warning" problems keep it after a documented fix.
PROBLEM_CODES: dict[str, str] = {
    # whole source: the source is unavailable
    "ICS_TOO_LARGE": "the feed is over the size cap (10 MB decoded, checked while downloading)",
    "ICS_TOO_MANY_EVENTS": "the feed has more VEVENTs than the cap (20,000)",
    "ICS_LINE_TOO_LONG": "a content line (after unfolding) is over the cap (1 MB)",
    "ICS_TOO_DEEP": "components are nested deeper than the cap (8)",
    "ICS_PARSE_ERROR": "the iCalendar parser rejected the document",
    "ICS_NOT_A_CALENDAR": "the document has no VCALENDAR",
    "CSV_TOO_LARGE": "the CSV file is over the size cap",
    "CSV_BAD_HEADER": "the CSV header lacks a required column or repeats one",
    "CSV_PARSE_ERROR": "the CSV file cannot be read at all, or changed in place while a run read it",
    "JSON_TOO_LARGE": "the JSON file is over the size cap",
    "JSON_PARSE_ERROR": "the JSON file is not valid JSON or not a list of events",
    "FETCH_BLOCKED": "the URL or an address it resolves or redirects to is not allowed",
    "FETCH_NOT_FOUND": "the feed does not exist: the server answered 404 or 410 (a wrong URL or template)",
    "FETCH_SERVER_ERROR": "the feed server failed: it answered 5xx (retried on the next run)",
    "FETCH_FAILED": "the download failed (network error, timeout, another HTTP error, too many redirects)",
    "URL_MAP_INVALID": "the mailbox -> URL map (ics_url_map_file) cannot be read; no mailbox is synced",
    "FEED_NOT_MAPPED": "the mailbox has no URL in the mailbox -> URL map; it is not synced (never emptied)",
    # one item: skipped (error) or kept after a documented fix (warning)
    "ICS_ENCODING": "warning: not UTF-8; decoded as Windows-1252/Latin-1",
    "ICS_PARSER_WARNING": "warning: the iCalendar parser warned about the document",
    "ICS_MISSING_UID": "warning: a VEVENT without UID got a key derived from its start and summary",
    "ICS_DUPLICATE_UID": "error: a second VEVENT with the same UID (and RECURRENCE-ID); the first is kept",
    "ICS_BAD_DTSTART": "error: DTSTART is missing or not a date or date-time",
    "ICS_BAD_DTEND": "warning: DTEND/DURATION is unreadable or before DTSTART; the event is made zero-length",
    "ICS_DATE_MIX": "warning: DTSTART and DTEND mix DATE and DATE-TIME; DTEND follows DTSTART's type",
    "ICS_BAD_DURATION": "error: the event lasts longer than the cap (5 years)",
    "ICS_DATE_OUT_OF_RANGE": "error: a date outside the years Outlook handles (1601-4500)",
    "ICS_UNKNOWN_TZID": "warning: a TZID no rule maps to a zone Graph accepts; times are taken as UTC",
    "ICS_FLOATING_TIME": "warning, once per feed: times with no zone (no TZID, no X-WR-TIMEZONE) are read in"
    " the default zone, UTC unless default_time_zone is set; set it to the feed's zone",
    "ICS_BAD_XWR_TIMEZONE": "warning: X-WR-TIMEZONE is not a known zone and is ignored",
    "ICS_RRULE_INVALID": "error: an RRULE or EXRULE cannot be read (bad FREQ, INTERVAL < 1, bad values)",
    "ICS_RRULE_UNSUPPORTED": "error: an RRULE uses a non-Gregorian RSCALE",
    "ICS_RRULE_UNBOUNDED": "error: expansion hit a cap (5,000 instances in the window, work or time budget,"
    " 5,000 RDATE/EXDATE values)",
    "ICS_BAD_RDATE": "warning: an RDATE or EXDATE value is unreadable and is ignored",
    "ICS_RANGE_IGNORED": "warning: RECURRENCE-ID;RANGE=THISANDFUTURE is applied to that instance only",
    "ICS_SERIES_AS_OCCURRENCES": 'warning: recurrence = "series", but Graph cannot hold this series exactly: '
    "it is synced as single occurrences (the message says why)",
    "ICS_BAD_PROPERTY": "warning: an optional property is unreadable and its default is used",
    "ICS_BAD_EVENT": "error: the event cannot be represented (e.g. no usable times)",
    "CSV_ENCODING": "warning: not UTF-8; decoded as Windows-1252/Latin-1",
    "CSV_BAD_ROW": "error: a row has a bad or missing value",
    "CSV_UNKNOWN_COLUMN": "warning: a column calsync does not know is ignored (reported once)",
    "CSV_DUPLICATE_ID": "error: a second row with the same mailbox and source_id; the first is kept",
    "JSON_BAD_ITEM": "error: an item has a bad or missing value",
    "JSON_UNKNOWN_FIELD": "warning: a field calsync does not know is ignored (reported once)",
    "JSON_DUPLICATE_ID": "error: a second item with the same mailbox and source_id; the first is kept",
}


def safe_location(text: object) -> str:
    """`text` as a short single line without control or format characters (log-injection safe)."""
    raw = str(text)
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in raw[: MAX_LOCATION * 2]
    )
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= MAX_LOCATION else cleaned[: MAX_LOCATION - 1] + "…"


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """One thing wrong with a source, for the run report and the logs.

    `location` is where (e.g. "line 12, column 'start'", "item 3", "UID lecture-7@uni"); `code` is one of
    `PROBLEM_CODES`; `message` is human text that never quotes raw feed content. `key` is the source key
    of the item that was skipped or changed; for a recurring master it is the key prefix shared by all its
    occurrences ("ics:<UID>": every key equal to it or starting with it plus "/"). `mailbox` is set when
    the source covers several mailboxes (CSV, JSON).
    """

    source: str
    location: str
    code: str
    message: str
    severity: Severity = "error"
    key: str | None = None
    mailbox: str | None = None

    def __post_init__(self) -> None:
        if self.code not in PROBLEM_CODES:
            raise ValueError(f"unknown problem code {self.code!r}")
        object.__setattr__(self, "location", safe_location(self.location))

    def covers(self, key: str) -> bool:
        """True when `key` is this problem's key or, for a master's prefix, one of its occurrences."""
        if self.key is None:
            return False
        return key == self.key or key.startswith(self.key + "/")


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators of the last good download, sent back as If-None-Match/If-Modified-Since."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What one source says for one read.

    status "unavailable" means the source could not be read: `events` is empty and must not be taken as
    "the source is now empty". `not_modified` means the server said the feed is unchanged since
    `validators` were issued (HTTP 304): `events` is empty and the previous result still holds.
    `validators` are the ones to store for the next conditional request (URL sources only).
    """

    events: list[DesiredEvent]
    problems: list[SourceProblem] = field(default_factory=list)
    status: Status = "ok"
    not_modified: bool = False
    validators: Validators | None = None

    @property
    def errors(self) -> list[SourceProblem]:
        """The problems that skipped an item or made the source unavailable."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[SourceProblem]:
        """The problems that were fixed by a documented rule."""
        return [p for p in self.problems if p.severity == "warning"]

    def skipped(self, key: str, mailbox: str | None = None) -> bool:
        """True when an item with this source key was skipped as bad: its Graph copy must be kept.

        With `mailbox`, problems that name another mailbox do not count.
        """
        return any(
            p.severity == "error"
            and p.covers(key)
            and (mailbox is None or p.mailbox is None or p.mailbox.lower() == mailbox.lower())
            for p in self.problems
        )


class SourceUnavailable(Exception):
    """The whole source could not be read; it is unavailable, not empty (nothing may be deleted)."""

    def __init__(self, problem: SourceProblem) -> None:
        super().__init__(f"{problem.code}: {problem.message}")
        self.problem = problem

    def as_result(self, problems: list[SourceProblem] | None = None) -> SourceResult:
        """A `SourceResult` with status "unavailable", carrying earlier problems and this one."""
        return SourceResult(events=[], problems=[*(problems or []), self.problem], status="unavailable")


def unavailable(source: str, code: str, message: str, location: str = "") -> SourceUnavailable:
    """A `SourceUnavailable` for a whole-source problem (severity error)."""
    return SourceUnavailable(SourceProblem(source, location or "source", code, message, "error"))
