"""An iCalendar feed (one mailbox's) into DesiredEvents for one window.

Rules, each chosen so that a feed read twice gives the same keys and values (no flapping in Graph):

- **Keys.** A single event is "ics:<UID>". Every instance of a recurring event is
  "ics:<UID>/<original start>", the original start being its RECURRENCE-ID: "YYYYMMDDTHHMMSSZ" (UTC) for
  timed events, "YYYYMMDD" for all-day ones. An override (a VEVENT with RECURRENCE-ID) therefore replaces
  exactly the instance it names, and keeps that key even when it moves the instance (an all-day
  series' date-time RECURRENCE-ID names the date written in its TZID, a "Z" one the date in the series'
  zone: Exchange writes local midnight, east of UTC the previous day in UTC). A UID longer than
  200 characters, or with control characters, is replaced by "uid-sha256:<hex>"; a VEVENT without UID
  gets "nouid-<hash of DTSTART and SUMMARY>" with a warning. Recurring events are synced as individual
  instances in this version (issue 4, item 7).
- **Duplicates** (SC-11): a second VEVENT with the same UID (or the same UID and RECURRENCE-ID) is
  reported as ICS_DUPLICATE_UID and skipped; the first one in the feed is kept. Nothing is double-created.
- **Cancellations.** STATUS:CANCELLED on an instance removes that instance; on a master it removes the
  whole series, overrides included. Neither is a problem: it is what the feed says.
- **Times.** A TZID is resolved by `calsync.sources.tzids` (IANA, Windows, Outlook display names, the
  feed's VTIMEZONE; else UTC with a warning). UTC times ("Z") are shown in X-WR-TIMEZONE when the feed
  has one, and recurring series then repeat in that zone (Google's convention). Floating times and
  all-day events are in X-WR-TIMEZONE, else in `IcsOptions.default_zone` (UTC unless configured);
  floating date-times read there get one ICS_FLOATING_TIME warning per feed (`IcsOptions.warn_floating`).
  All-day events run from midnight to midnight in that zone.
- **Lengths.** DTEND, else DURATION, else zero (timed) or one day (all-day). An end before the start
  makes a timed event zero-length and an all-day event one day long (ICS_BAD_DTEND warning); DTEND of
  the other value type follows DTSTART's type (ICS_DATE_MIX); longer than 5 years is rejected
  (ICS_BAD_DURATION). Dates outside 1601-4500 (Outlook's range) are rejected (ICS_DATE_OUT_OF_RANGE).
- **Recurrence.** RRULE, RDATE (incl. PERIOD), EXDATE and EXRULE, expanded by
  `calsync.sources.recurrence` within the window, 5,000 instances, a work budget and 1 s per event, and
  a budget for the whole document; a feed with more than 5,000 RDATE/EXDATE values in one VEVENT has
  that event rejected (ICS_RRULE_UNBOUNDED). RANGE=THISANDFUTURE is applied to the one instance.
- **Fields.** SUMMARY -> subject, DESCRIPTION -> body (text), LOCATION, CATEGORIES; CLASS PUBLIC/PRIVATE/
  CONFIDENTIAL -> sensitivity normal/private/confidential; X-MICROSOFT-CDO-BUSYSTATUS -> show_as, else
  TRANSP:TRANSPARENT -> free, else STATUS:TENTATIVE -> tentative, else busy; the earliest VALARM with a
  relative TRIGGER -> reminder minutes (absolute triggers are ignored; without one,
  `IcsOptions.default_reminder`, None unless configured: a timetable would otherwise ring before every
  lecture); X-CALSYNC-TEAMS:TRUE -> a Teams meeting. An override takes nothing from its master.
- **Limits** (BI-03): 10 MB, 20,000 VEVENTs, 1 MB per unfolded line, nesting depth 8, all checked on
  the text before the parser sees it, so a deep or huge document cannot reach the parser's recursion.
- **Line numbers** in problems count unfolded lines.

Reading is split by concept: `ics_document` (options, per-document state), `ics_zones` (TZIDs and
moments), `ics_fields` (length and mapped properties), `ics_items` (VEVENTs and their keys) and
`ics_series` (series expansion and overrides); this module checks and parses the document as a whole and
holds the public API.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from icalendar import Calendar

from calsync.domain import DesiredEvent, Window
from calsync.sources.budget import Budget
from calsync.sources.ics_document import IcsOptions, _Doc
from calsync.sources.ics_fields import MAX_DURATION
from calsync.sources.ics_items import MAX_UID_IN_KEY
from calsync.sources.ics_series import _MARK_TOO_MANY_DATES, _Builder
from calsync.sources.ics_zones import _VTIMEZONE_ALIAS, MAX_CUSTOM_ZONES, MAX_YEAR, MIN_YEAR, _zone
from calsync.sources.model import SourceResult, SourceUnavailable, unavailable
from calsync.sources.textdecode import UndecodableText, decode

__all__ = [
    "IGNORED_PROPERTIES",
    "MAX_CUSTOM_ZONES",
    "MAX_DURATION",
    "MAX_UID_IN_KEY",
    "MAX_YEAR",
    "MIN_YEAR",
    "IcsOptions",
    "load_ics",
    "parse_ics",
]

# Properties that never reach Graph and so never count for the content hash; feeds regenerate most of them
# on every fetch (vdirsyncer's IGNORE_PROPS), and using them would rewrite every event on every sync.
IGNORED_PROPERTIES: dict[str, str] = {
    "DTSTAMP": "the time the feed was generated; changes on every fetch",
    "LAST-MODIFIED": "bookkeeping of the source system; the content itself is compared",
    "SEQUENCE": "a revision counter; the content itself is compared",
    "CREATED": "bookkeeping of the source system",
    "PRODID": "names the exporting software",
    "ORGANIZER": "calsync writes into the mailbox's own calendar; no invitations are sent",
    "ATTENDEE": "as ORGANIZER: attendees would receive invitations from Graph",
    "URL": "not mapped in this version",
    "GEO": "not mapped in this version",
    "PRIORITY": "not mapped in this version",
    "ATTACH": "not mapped in this version (would need uploads)",
}

_NAME = re.compile(r"[A-Za-z0-9-]*")
# Outlook sometimes writes display-name TZIDs unquoted; their "UTC+01:00" colon then ends the parameter.
_LONG_TZID = re.compile(r';TZID=(?:"[^"]{201,}"|[^;:"]{201,})', re.I)
_UNQUOTED_DISPLAY_TZID = re.compile(r";TZID=(\((?:UTC|GMT)[^)\r\n:;\"]*(?::[^)\r\n;\"]*)?\)[^:;\"]*)", re.I)


# ---------------------------------------------------------------------------------------------------------
# Text-level checks (BI-03) and marking, before the parser sees anything


@dataclass(slots=True)
class _Scan:
    text: str
    vevent_lines: list[int]


def _prescan(text: str, doc: _Doc) -> _Scan:
    """Check sizes and nesting on the unfolded lines; hide VTIMEZONEs from icalendar; cap RDATE/EXDATE."""
    opts = doc.options
    src = opts.source
    lines = text.split("\n")
    out: list[str] = []
    stack: list[str] = []
    vevent_lines: list[int] = []
    events = 0
    dates_in_event = 0
    marked = False
    for number, original in enumerate(lines, 1):
        line = original
        if len(line) > opts.max_line:
            raise unavailable(src, "ICS_LINE_TOO_LONG", "a line is longer than 1 MB", f"line {number}")
        name = _NAME.match(line)
        upper = name.group().upper() if name else ""
        value = line.partition(":")[2].strip().upper()
        if upper == "BEGIN":
            if len(stack) >= opts.max_depth:
                raise unavailable(src, "ICS_TOO_DEEP", "components are nested too deeply", f"line {number}")
            if value == "VEVENT":
                events += 1
                if events > opts.max_events:
                    raise unavailable(src, "ICS_TOO_MANY_EVENTS", "the feed has too many events")
                if stack == ["VCALENDAR"]:
                    vevent_lines.append(number)
                dates_in_event, marked = 0, False
            if value == "VTIMEZONE":
                line = f"BEGIN:{_VTIMEZONE_ALIAS}"
            stack.append(value)
        elif upper == "END":
            if stack:
                stack.pop()
            if value == "VTIMEZONE":
                line = f"END:{_VTIMEZONE_ALIAS}"
        if ";" in line:
            probe = line.upper()
            if ";TZID=(" in probe:
                line = _UNQUOTED_DISPLAY_TZID.sub(lambda m: f';TZID="{m.group(1)}"', line)
            if ";TZID=" in probe and len(line) > 200:
                # zoneinfo recurses through importlib on very long names; no real TZID is this long
                line = _LONG_TZID.sub(";TZID=X-CALSYNC-LONG-TZID", line)
        if upper in ("RDATE", "EXDATE") and stack and stack[-1] == "VEVENT":
            dates_in_event += line.count(",") + 1
            if dates_in_event > opts.max_dates_per_event:
                if not marked:
                    out.append(f"{_MARK_TOO_MANY_DATES}:1")
                    marked = True
                continue
        out.append(line)
    # The trailing line end matters: icalendar reads a *file* when given a str without line breaks, so a
    # one-line feed body such as "/etc/calendar.ics" must never reach it without one.
    return _Scan("\r\n".join(out) + "\r\n", vevent_lines)


def _parse(data: bytes, doc: _Doc) -> tuple[list[Calendar], list[int]]:
    src = doc.options.source
    if len(data) > doc.options.max_bytes:
        raise unavailable(src, "ICS_TOO_LARGE", "the feed is larger than 10 MB")
    try:
        decoded = decode(data, unfold=True)
    except UndecodableText:
        raise unavailable(src, "ICS_PARSE_ERROR", "the feed's text encoding is invalid") from None
    if decoded.fallback:
        doc.problem("source", "ICS_ENCODING", f"not UTF-8; read as {decoded.encoding}", "warning")
    scan = _prescan(decoded.text, doc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            components = Calendar.from_ical(scan.text, multiple=True)
        except Exception as exc:  # icalendar's contract is ValueError/TypeError; fuzzing finds more
            raise unavailable(
                src, "ICS_PARSE_ERROR", f"the iCalendar parser rejected the feed ({type(exc).__name__})"
            ) from None
    for category in sorted({w.category.__name__ for w in caught}):
        doc.problem("source", "ICS_PARSER_WARNING", f"the parser warned: {category}", "warning")
    calendars = [c for c in components if isinstance(c, Calendar) and c.name == "VCALENDAR"]
    if not calendars:
        raise unavailable(src, "ICS_NOT_A_CALENDAR", "the feed contains no VCALENDAR")
    return calendars, scan.vevent_lines


# ---------------------------------------------------------------------------------------------------------
# Public API


def parse_ics(
    data: bytes, *, mailbox: str, window: Window, options: IcsOptions | None = None
) -> SourceResult:
    """Read one mailbox's iCalendar feed into a `SourceResult` (status "ok") for `window`.

    Raises `SourceUnavailable` when the document as a whole cannot be used (too large, too deep, not
    iCalendar): the source is then unavailable, not empty. Bad events are skipped and reported.
    CPU-bound (about 0.5 s per MB) and safe to run in a worker thread; the expansion budget is per thread.
    Warnings raised inside (icalendar, dateutil) are captured with `warnings.catch_warnings`, which
    swaps process-wide filters: concurrent parses in threads may misroute unrelated warnings, nothing more.
    """
    opts = options or IcsOptions()
    doc = _Doc(mailbox, window, opts, Budget(opts.steps_per_document, opts.seconds_per_document))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calendars, vevent_lines = _parse(data, doc)
        default = _zone(opts.default_zone)
        lines: Iterator[int | None] = iter(vevent_lines)
        events: list[DesiredEvent] = []
        for calendar in calendars:
            events += _Builder(calendar, doc, lines, default).run()
    unique: dict[str, DesiredEvent] = {}
    for event in events:
        if event.source_key in unique:
            doc.problem(
                f"key {event.source_key}",
                "ICS_DUPLICATE_UID",
                "two events have the same key; the first one is kept",
                "error",
                event.source_key,
            )
            continue
        unique[event.source_key] = event
    return SourceResult(events=[unique[k] for k in sorted(unique)], problems=doc.problems)


def load_ics(data: bytes, *, mailbox: str, window: Window, options: IcsOptions | None = None) -> SourceResult:
    """As `parse_ics`, but an unusable document gives a result with status "unavailable" instead."""
    try:
        return parse_ics(data, mailbox=mailbox, window=window, options=options)
    except SourceUnavailable as exc:
        return exc.as_result()
