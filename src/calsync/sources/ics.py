"""An iCalendar feed (one mailbox's) into DesiredEvents for one window.

Rules, each chosen so that a feed read twice gives the same keys and values (no flapping in Graph):

- **Keys.** A single event is "ics:<UID>". Every instance of a recurring event is
  "ics:<UID>/<original start>", the original start being its RECURRENCE-ID: "YYYYMMDDTHHMMSSZ" (UTC) for
  timed events, "YYYYMMDD" for all-day ones. An override (a VEVENT with RECURRENCE-ID) therefore replaces
  exactly the instance it names, and keeps that key even when it moves the instance. A UID longer than
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
  all-day events are in X-WR-TIMEZONE, else in `IcsOptions.default_zone` (UTC unless configured).
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
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, vRecur

from calsync.domain import DesiredEvent, SourceKey, Window, normalise
from calsync.domain.events import Sensitivity, ShowAs
from calsync.sources.budget import Budget, BudgetExceeded
from calsync.sources.model import SourceProblem, SourceResult, SourceUnavailable, unavailable
from calsync.sources.recurrence import RuleError, Series, TooManyInstances, build_rule, expand, midnight
from calsync.sources.textdecode import UndecodableText, decode
from calsync.sources.tzids import (
    MAX_TRANSITIONS,
    UTC_ZONE,
    CustomZone,
    Zone,
    match_zone,
    window_probe_range,
    zone_for_name,
)

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

MAX_UID_IN_KEY = 200
MAX_DURATION = timedelta(days=5 * 366)
MIN_YEAR, MAX_YEAR = 1601, 4500
MAX_CUSTOM_ZONES = 50
_MARK_TOO_MANY_DATES = "X-CALSYNC-TOO-MANY-DATES"
_VTIMEZONE_ALIAS = "X-CALSYNC-VTIMEZONE"
_NAME = re.compile(r"[A-Za-z0-9-]*")
# Outlook sometimes writes display-name TZIDs unquoted; their "UTC+01:00" colon then ends the parameter.
_LONG_TZID = re.compile(r';TZID=(?:"[^"]{201,}"|[^;:"]{201,})', re.I)
_UNQUOTED_DISPLAY_TZID = re.compile(r";TZID=(\((?:UTC|GMT)[^)\r\n:;\"]*(?::[^)\r\n;\"]*)?\)[^:;\"]*)", re.I)
_SHOW_AS: dict[str, ShowAs] = {
    "FREE": "free",
    "TENTATIVE": "tentative",
    "BUSY": "busy",
    "OOF": "oof",
    "WORKINGELSEWHERE": "workingElsewhere",
}
_SENSITIVITY: dict[str, Sensitivity] = {
    "PUBLIC": "normal",
    "PRIVATE": "private",
    "CONFIDENTIAL": "confidential",
}


@dataclass(frozen=True, slots=True)
class IcsOptions:
    """Limits and defaults for reading a feed; every limit is a knob (reliability-targets caveats)."""

    source: str = "ics"
    default_zone: str = "UTC"
    default_reminder: int | None = None
    max_bytes: int = 10 * 1024 * 1024
    max_events: int = 20_000
    max_line: int = 1024 * 1024
    max_depth: int = 8
    max_instances: int = 5_000
    max_dates_per_event: int = 5_000
    steps_per_event: int = 1_500_000
    seconds_per_event: float = 1.0
    steps_per_document: int = 40_000_000
    seconds_per_document: float = 20.0

    def __post_init__(self) -> None:
        name = zone_for_name(self.default_zone)
        if name is None:
            raise ValueError(f"default_zone {self.default_zone!r} is not a zone Graph accepts")
        object.__setattr__(self, "default_zone", name)  # Windows names become their IANA zone


class _Skip(Exception):
    """An event (or instance) cannot be used; carries the problem code and a safe message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class _Doc:
    """Per-document state: options, window, problems, zones and the shared budget."""

    mailbox: str
    window: Window
    options: IcsOptions
    budget: Budget
    problems: list[SourceProblem] = field(default_factory=list)

    def problem(
        self, location: str, code: str, message: str, severity: str = "error", key: str | None = None
    ) -> None:
        self.problems.append(
            SourceProblem(
                self.options.source,
                location,
                code,
                message,
                "warning" if severity == "warning" else "error",
                key,
            )
        )


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
# Zones


class _Zones:
    """TZID -> Zone for one calendar, cached, with one warning per unknown TZID."""

    def __init__(self, calendar: Component, doc: _Doc, default: Zone) -> None:
        self.doc = doc
        self.cache: dict[str, Zone] = {}
        self.custom_built = 0
        self.vtimezones: dict[str, Component] = {}
        for sub in calendar.subcomponents:
            if sub.name == _VTIMEZONE_ALIAS and "TZID" in sub:
                self.vtimezones.setdefault(str(sub["TZID"]), sub)
        self.floating = default
        xwr = calendar.get("X-WR-TIMEZONE")
        self.xwr: Zone | None = None
        if xwr is not None:
            name = zone_for_name(str(xwr))
            if name is None:
                doc.problem(
                    "X-WR-TIMEZONE", "ICS_BAD_XWR_TIMEZONE", "X-WR-TIMEZONE is not a known zone", "warning"
                )
            else:
                self.xwr = _zone(name)
                self.floating = self.xwr

    def zone(self, tzid: str) -> Zone:
        if tzid not in self.cache:
            self.cache[tzid] = self._resolve(tzid)
        return self.cache[tzid]

    def _resolve(self, tzid: str) -> Zone:
        name = zone_for_name(tzid)
        if name is not None:
            return _zone(name)
        component = self.vtimezones.get(tzid)
        if component is not None:
            location = component.get("X-LIC-LOCATION")
            name = zone_for_name(str(location)) if location is not None else None
            if name is not None:
                return _zone(name)
            custom = self._custom(tzid, component)
            if custom is not None:
                return custom
        self.doc.problem(
            f"TZID {tzid}", "ICS_UNKNOWN_TZID", "unknown time zone; local times are taken as UTC", "warning"
        )
        return UTC_ZONE

    def _custom(self, tzid: str, component: Component) -> Zone | None:
        """A zone from the VTIMEZONE's own rules, matched to an IANA zone over the window if possible."""
        if self.custom_built >= MAX_CUSTOM_ZONES:
            return None
        self.custom_built += 1
        probe_start, probe_end = window_probe_range(self.doc.window.start, self.doc.window.end)
        budget = Budget(
            self.doc.options.steps_per_event, self.doc.options.seconds_per_event, parent=self.doc.budget
        )
        try:
            custom = budget.run(lambda: _custom_zone(tzid, component, probe_end))
        except (BudgetExceeded, ValueError, TypeError, OverflowError, KeyError, AttributeError):
            return None
        if custom is None:
            return None
        name = match_zone(custom.offset_at, probe_start, probe_end)
        if name is not None:
            return _zone(name)
        self.doc.problem(
            f"TZID {tzid}",
            "ICS_UNKNOWN_TZID",
            "no known zone matches the feed's VTIMEZONE; its rules are used and events are labelled UTC",
            "warning",
        )
        return Zone("UTC", custom)


def _zone(name: str) -> Zone:
    return Zone(name, ZoneInfo(name))


def _naive(value: date) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return midnight(value)


def _custom_zone(tzid: str, component: Component, probe_end: datetime) -> CustomZone | None:
    """Transitions of a VTIMEZONE up to `probe_end` (run under a budget by the caller)."""
    transitions: list[tuple[datetime, timedelta, timedelta]] = []
    end = probe_end.replace(tzinfo=None)
    for sub in component.subcomponents:
        if sub.name not in ("STANDARD", "DAYLIGHT"):
            continue
        props: Any = sub
        start = _naive(props["DTSTART"].dt)
        before, after = props["TZOFFSETFROM"].td, props["TZOFFSETTO"].td
        if abs(before) >= timedelta(days=1) or abs(after) >= timedelta(days=1):
            return None
        local_times = [start]
        for recur in _listify(sub.get("RRULE")):
            rule = build_rule(recur, start, _naive)
            for moment in rule:
                if moment > end:
                    break
                local_times.append(moment)
                if len(local_times) > MAX_TRANSITIONS:
                    del local_times[: len(local_times) // 2]  # only the recent ones matter
        for prop in _listify(sub.get("RDATE")):
            for item in getattr(prop, "dts", []):
                value = item.dt[0] if isinstance(item.dt, tuple) else item.dt
                local_times.append(_naive(value))
        transitions += [((t - before).replace(tzinfo=UTC), before, after) for t in local_times if t <= end]
    if not transitions:
        return None
    return CustomZone(tzid, transitions)


# ---------------------------------------------------------------------------------------------------------
# Values


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _prop_dt(prop: Any) -> Any:
    """The parsed value of a date-ish property, or None when it is missing or broken (vBroken)."""
    if prop is None:
        return None
    try:
        return prop.dt
    except Exception:
        return None


def _check_year(value: date) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _Skip("ICS_DATE_OUT_OF_RANGE", f"a date lies outside the years {MIN_YEAR}-{MAX_YEAR}")


@dataclass(frozen=True, slots=True)
class _Moment:
    """A DTSTART-like value: a date (all-day), or an aware datetime in `zone.tz`."""

    value: date | datetime
    zone: Zone

    @property
    def all_day(self) -> bool:
        return not isinstance(self.value, datetime)


def _moment(value: Any, tzid: Any, zones: _Zones) -> _Moment:
    """Resolve a parsed date or datetime (and its TZID parameter) to a `_Moment`; raises `_Skip`."""
    if isinstance(value, datetime):
        _check_year(value)
        if tzid:
            zone = zones.zone(str(tzid))
            return _Moment(value.replace(tzinfo=None).replace(tzinfo=zone.tz), zone)
        if value.tzinfo is not None:
            zone = zones.xwr or UTC_ZONE
            return _Moment(value.astimezone(zone.tz), zone)
        return _Moment(value.replace(tzinfo=zones.floating.tz), zones.floating)
    if isinstance(value, date):
        _check_year(value)
        return _Moment(value, zones.floating)
    raise _Skip("ICS_BAD_DTSTART", "a date or date-time was expected")


def _prop_moment(prop: Any, zones: _Zones, code: str, what: str) -> _Moment:
    value = _prop_dt(prop)
    if value is None:
        raise _Skip(code, f"{what} is missing or unreadable")
    params = getattr(prop, "params", {}) or {}
    return _moment(value, params.get("TZID"), zones)


def _instant(value: date | datetime, zone: Zone) -> datetime:
    """The UTC instant of a moment value (all-day values at midnight in `zone`)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=zone.tz).astimezone(UTC)


def _suffix(value: date | datetime) -> str:
    """The key suffix of an instance: its original start, UTC for timed instances."""
    if isinstance(value, datetime):
        u = value.astimezone(UTC)
        return f"{u.year:04d}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}{u.second:02d}Z"
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _length(event: Component, start: _Moment, zones: _Zones, doc: _Doc, *, where: str, key: str) -> timedelta:
    """The event's length from DTEND, DURATION or the defaults (see the module doc for the rules)."""
    end_prop = event.get("DTEND")
    duration_prop = event.get("DURATION")
    if end_prop is not None:
        try:
            end = _prop_moment(end_prop, zones, "ICS_BAD_DTEND", "DTEND")
        except _Skip as skip:
            if skip.code == "ICS_DATE_OUT_OF_RANGE":
                raise
            doc.problem(
                where, "ICS_BAD_DTEND", "DTEND is unreadable; the default length is used", "warning", key
            )
            return timedelta(days=1) if start.all_day else timedelta(0)
        if start.all_day != end.all_day:
            doc.problem(where, "ICS_DATE_MIX", "DTSTART and DTEND mix DATE and DATE-TIME", "warning", key)
            if start.all_day:
                end_day = (
                    end.value.astimezone(start.zone.tz).date()
                    if isinstance(end.value, datetime)
                    else end.value
                )
                length = timedelta(days=(end_day - _as_date(start.value)).days)
            else:
                length = _instant(end.value, start.zone) - _instant(start.value, start.zone)
        else:
            length = _instant(end.value, end.zone) - _instant(start.value, start.zone)
            if start.all_day:
                length = timedelta(days=(_as_date(end.value) - _as_date(start.value)).days)
    elif duration_prop is not None:
        value = _prop_dt(duration_prop)
        if not isinstance(value, timedelta):
            doc.problem(
                where, "ICS_BAD_DTEND", "DURATION is unreadable; the default length is used", "warning", key
            )
            return timedelta(days=1) if start.all_day else timedelta(0)
        length = timedelta(days=max(value.days, 0)) if start.all_day else value
    else:
        return timedelta(days=1) if start.all_day else timedelta(0)
    if start.all_day and length <= timedelta(0):
        if length < timedelta(0):
            doc.problem(
                where, "ICS_BAD_DTEND", "the event ends before it starts; made one day", "warning", key
            )
        return timedelta(days=1)
    if length < timedelta(0):
        doc.problem(
            where, "ICS_BAD_DTEND", "the event ends before it starts; made zero-length", "warning", key
        )
        return timedelta(0)
    if length > MAX_DURATION:
        raise _Skip("ICS_BAD_DURATION", "the event lasts longer than 5 years")
    return length


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# ---------------------------------------------------------------------------------------------------------
# Fields


def _text(prop: Any) -> str:
    if prop is None:
        return ""
    if isinstance(prop, list):
        prop = prop[0] if prop else ""
    return str(prop)


def _upper(prop: Any) -> str:
    return _text(prop).strip().upper()


@dataclass(frozen=True, slots=True)
class _Fields:
    subject: str
    body: str
    location: str
    categories: tuple[str, ...]
    show_as: ShowAs
    sensitivity: Sensitivity
    reminder: int | None
    teams: bool


def _categories(event: Component) -> tuple[str, ...]:
    out: list[str] = []
    for prop in _listify(event.get("CATEGORIES")):
        cats = getattr(prop, "cats", None)
        if isinstance(cats, list):
            out += [str(c) for c in cats]
        else:
            out += str(prop).split(",")
        if len(out) > 1000:
            break
    return tuple(c.strip() for c in out if c.strip())


def _reminder(event: Component, length: timedelta, doc: _Doc, where: str, key: str) -> int | None:
    leads: list[float] = []
    for alarm in event.subcomponents:
        if alarm.name != "VALARM":
            continue
        trigger = alarm.get("TRIGGER")
        value = _prop_dt(trigger)
        if not isinstance(value, timedelta):
            continue
        params = getattr(trigger, "params", {}) or {}
        if str(params.get("RELATED", "START")).upper() == "END":
            value = value + length
        leads.append(-value.total_seconds() / 60)
    if not leads:
        return doc.options.default_reminder
    minutes = round(max(leads))
    if minutes < 0 or minutes > 40_320:
        doc.problem(
            where,
            "ICS_BAD_PROPERTY",
            "the alarm lies outside 0-40320 minutes before the start; clamped",
            "warning",
            key,
        )
    return min(max(minutes, 0), 40_320)


def _fields(event: Component, length: timedelta, doc: _Doc, where: str, key: str) -> _Fields:
    busy = _upper(event.get("X-MICROSOFT-CDO-BUSYSTATUS"))
    show_as: ShowAs
    if busy in _SHOW_AS:
        show_as = _SHOW_AS[busy]
    elif _upper(event.get("TRANSP")) == "TRANSPARENT":
        show_as = "free"
    elif _upper(event.get("STATUS")) == "TENTATIVE":
        show_as = "tentative"
    else:
        show_as = "busy"
    return _Fields(
        subject=_text(event.get("SUMMARY")),
        body=_text(event.get("DESCRIPTION")),
        location=_text(event.get("LOCATION")),
        categories=_categories(event),
        show_as=show_as,
        sensitivity=_SENSITIVITY.get(_upper(event.get("CLASS")), "normal"),
        reminder=_reminder(event, length, doc, where, key),
        teams=_upper(event.get("X-CALSYNC-TEAMS")) in ("TRUE", "YES", "1"),
    )


# ---------------------------------------------------------------------------------------------------------
# Events


def _uid_key(uid: str) -> str:
    if len(uid) > MAX_UID_IN_KEY or any(ord(ch) < 32 or ord(ch) == 127 for ch in uid):
        return "ics:uid-sha256:" + hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()
    return "ics:" + uid


def _raw(prop: Any) -> bytes:
    try:
        return bytes(prop.to_ical()) if prop is not None else b""
    except Exception:
        return b""


@dataclass(slots=True)
class _Item:
    """One VEVENT with where it came from."""

    event: Component
    line: int | None
    uid: str
    prefix: str

    @property
    def where(self) -> str:
        line = f"line {self.line}, " if self.line else ""
        return f"{line}UID {self.uid}" if self.uid else (f"line {self.line}" if self.line else "VEVENT")


def _items(calendar: Component, lines: Iterator[int | None], doc: _Doc) -> list[_Item]:
    items: list[_Item] = []
    for sub in calendar.subcomponents:
        if sub.name != "VEVENT":
            continue
        line = next(lines, None)
        uid = _text(sub.get("UID")).strip()
        if uid:
            items.append(_Item(sub, line, uid, _uid_key(uid)))
            continue
        digest = hashlib.sha256(
            _raw(sub.get("DTSTART")) + b"\0" + _text(sub.get("SUMMARY")).encode()
        ).hexdigest()
        item = _Item(sub, line, "", f"ics:nouid-{digest[:32]}")
        doc.problem(
            item.where,
            "ICS_MISSING_UID",
            "the event has no UID; its key is derived from its content",
            "warning",
            item.prefix,
        )
        items.append(item)
    return items


class _Builder:
    """Turns one calendar's VEVENTs into DesiredEvents."""

    def __init__(self, calendar: Component, doc: _Doc, lines: Iterator[int | None], default: Zone) -> None:
        self.doc = doc
        self.zones = _Zones(calendar, doc, default)
        self.items = _items(calendar, lines, doc)
        self.events: list[DesiredEvent] = []

    def run(self) -> list[DesiredEvent]:
        masters: dict[str, _Item] = {}
        overrides: dict[str, list[_Item]] = {}
        order: list[str] = []
        for item in self.items:
            if item.prefix not in masters and item.prefix not in overrides:
                order.append(item.prefix)
            if item.event.get("RECURRENCE-ID") is not None:
                overrides.setdefault(item.prefix, []).append(item)
            elif item.prefix in masters:
                self.doc.problem(
                    item.where,
                    "ICS_DUPLICATE_UID",
                    "another VEVENT has the same UID; the first one is kept",
                    "error",
                    item.prefix,
                )
            else:
                masters[item.prefix] = item
        for prefix in order:
            first = masters.get(prefix) or overrides[prefix][0]
            try:
                self._series(masters.get(prefix), overrides.get(prefix, []))
            except Exception:  # one odd event must not cost the mailbox its other events (invariant 6)
                self.doc.problem(first.where, "ICS_BAD_EVENT", "the event cannot be read", "error", prefix)
        return self.events

    def _series(self, master: _Item | None, overrides: list[_Item]) -> None:
        instances: dict[str, tuple[str, date | datetime, timedelta, Zone]] = {}
        master_start: _Moment | None = None
        if master is not None:
            if _upper(master.event.get("STATUS")) == "CANCELLED":
                return
            try:
                master_start, instances = self._master(master)
            except _Skip as skip:
                self.doc.problem(master.where, skip.code, skip.message, "error", master.prefix)
                instances = {}
        seen: set[str] = set()
        for item in overrides:
            try:
                suffix = self._recurrence_suffix(item, master_start)
            except _Skip as skip:
                self.doc.problem(item.where, skip.code, skip.message, "error", item.prefix)
                continue
            key = f"{item.prefix}/{suffix}"
            if suffix in seen:
                self.doc.problem(
                    item.where,
                    "ICS_DUPLICATE_UID",
                    "another VEVENT has the same UID and RECURRENCE-ID; the first one is kept",
                    "error",
                    key,
                )
                continue
            seen.add(suffix)
            instances.pop(suffix, None)
            if _upper(item.event.get("STATUS")) == "CANCELLED":
                continue
            try:
                start = _prop_moment(item.event.get("DTSTART"), self.zones, "ICS_BAD_DTSTART", "DTSTART")
                length = _length(item.event, start, self.zones, self.doc, where=item.where, key=key)
            except _Skip as skip:
                self.doc.problem(item.where, skip.code, skip.message, "error", key)
                continue
            self._emit(item, key, start.value, length, start.zone)
        if master is not None:
            for key, start_value, length, zone in instances.values():
                self._emit(master, key, start_value, length, zone)

    def _recurrence_suffix(self, item: _Item, master_start: _Moment | None) -> str:
        prop = item.event.get("RECURRENCE-ID")
        params = getattr(prop, "params", {}) or {}
        if str(params.get("RANGE", "")).upper() == "THISANDFUTURE":
            self.doc.problem(
                item.where,
                "ICS_RANGE_IGNORED",
                "RANGE=THISANDFUTURE is applied to this instance only",
                "warning",
                item.prefix,
            )
        recurrence = _prop_moment(prop, self.zones, "ICS_BAD_DTSTART", "RECURRENCE-ID")
        value = recurrence.value
        if master_start is not None:
            if master_start.all_day and isinstance(value, datetime):
                value = value.astimezone(master_start.zone.tz).date()
            elif not master_start.all_day and not isinstance(value, datetime):
                assert isinstance(master_start.value, datetime)
                value = datetime.combine(value, master_start.value.timetz())
        return _suffix(value)

    def _master(self, item: _Item) -> tuple[_Moment, dict[str, tuple[str, date | datetime, timedelta, Zone]]]:
        """The master's instances near the window, by key suffix: (key, start, length, zone)."""
        event = item.event
        start = _prop_moment(event.get("DTSTART"), self.zones, "ICS_BAD_DTSTART", "DTSTART")
        length = _length(event, start, self.zones, self.doc, where=item.where, key=item.prefix)
        rules = _listify(event.get("RRULE"))
        exrules = _listify(event.get("EXRULE"))
        rdates = _listify(event.get("RDATE"))
        if event.get(_MARK_TOO_MANY_DATES) is not None:
            raise _Skip("ICS_RRULE_UNBOUNDED", "the event has more than 5,000 RDATE/EXDATE values")
        if not rules and not rdates:
            return start, {_suffix(start.value): (item.prefix, start.value, length, start.zone)}
        series = self._build_series(item, start, length, rules=rules, exrules=exrules, rdates=rdates)
        budget = Budget(
            self.doc.options.steps_per_event, self.doc.options.seconds_per_event, parent=self.doc.budget
        )
        zone = start.zone
        try:
            found = expand(
                series,
                window_start=self.doc.window.start,
                window_end=self.doc.window.end,
                budget=budget,
                max_instances=self.doc.options.max_instances,
            )
        except TooManyInstances:
            raise _Skip("ICS_RRULE_UNBOUNDED", "the series has too many instances in the window") from None
        except BudgetExceeded:
            raise _Skip("ICS_RRULE_UNBOUNDED", "expanding the series took too long") from None
        except RuleError as exc:
            raise _Skip(exc.code, exc.message) from None
        instances: dict[str, tuple[str, date | datetime, timedelta, Zone]] = {}
        for value, duration in found:
            original: date | datetime = value.date() if start.all_day else value
            suffix = _suffix(original)
            instances[suffix] = (f"{item.prefix}/{suffix}", original, duration, zone)
        return start, instances

    def _build_series(
        self,
        item: _Item,
        start: _Moment,
        length: timedelta,
        *,
        rules: list[Any],
        exrules: list[Any],
        rdates: list[Any],
    ) -> Series:
        zone = start.zone
        all_day = start.all_day
        space_start = midnight(_as_date(start.value)) if all_day else start.value
        assert isinstance(space_start, datetime)

        def into_space(value: date | datetime) -> datetime:
            """A date/datetime from UNTIL, RDATE or EXDATE in this series' expansion space."""
            if all_day:
                if isinstance(value, datetime):
                    local = value.astimezone(zone.tz) if value.tzinfo else value
                    return midnight(local.date())
                return midnight(value)
            if isinstance(value, datetime):
                aware = value if value.tzinfo else value.replace(tzinfo=zone.tz)
                return aware.astimezone(zone.tz)
            return datetime.combine(value, space_start.timetz())

        def until(value: date | datetime) -> datetime:
            if not all_day and not isinstance(value, datetime):
                return datetime.combine(value, time(23, 59, 59), tzinfo=zone.tz)
            return into_space(value)

        series = Series(start=space_start, duration=length)
        for recur, target in [(r, series.rules) for r in rules] + [(r, series.exrules) for r in exrules]:
            if not isinstance(recur, vRecur):
                raise _Skip("ICS_RRULE_INVALID", "a recurrence rule is unreadable")
            try:
                target.append(build_rule(recur, space_start, until))
            except RuleError as exc:
                raise _Skip(exc.code, exc.message) from None
        for prop in rdates:
            for value, duration in self._date_values(prop, item):
                moment = into_space(value)
                series.rdates.append(moment)
                if duration is not None:
                    series.period_durations[moment] = duration
        for prop in _listify(item.event.get("EXDATE")):
            for value, _ in self._date_values(prop, item):
                if all_day or not isinstance(value, datetime):
                    series.exdays.add(into_space(value).date() if all_day else value)
                else:
                    series.exdates.append(into_space(value))
        return series

    def _date_values(self, prop: Any, item: _Item) -> list[tuple[date | datetime, timedelta | None]]:
        """The values of one RDATE/EXDATE property, resolved with its TZID; bad ones are reported."""
        dts = getattr(prop, "dts", None)
        if not isinstance(dts, list):
            self.doc.problem(
                item.where,
                "ICS_BAD_RDATE",
                "an RDATE or EXDATE is unreadable and is ignored",
                "warning",
                item.prefix,
            )
            return []
        tzid = (getattr(prop, "params", {}) or {}).get("TZID")
        out: list[tuple[date | datetime, timedelta | None]] = []
        for entry in dts:
            value = getattr(entry, "dt", None)
            duration: timedelta | None = None
            if isinstance(value, tuple) and len(value) == 2:
                value, other = value
                if isinstance(other, timedelta):
                    duration = other
                elif isinstance(other, datetime) and isinstance(value, datetime):
                    try:
                        period_end = _moment(other, tzid, self.zones)
                        period_start = _moment(value, tzid, self.zones)
                        duration = _instant(period_end.value, period_end.zone) - _instant(
                            period_start.value, period_start.zone
                        )
                    except _Skip:
                        duration = None
            try:
                moment = _moment(value, tzid, self.zones)
            except _Skip:
                self.doc.problem(
                    item.where,
                    "ICS_BAD_RDATE",
                    "an RDATE or EXDATE value is unusable and is ignored",
                    "warning",
                    item.prefix,
                )
                continue
            if duration is not None and not timedelta(0) <= duration <= MAX_DURATION:
                duration = None
            out.append((moment.value, duration))
        return out

    def _emit(
        self, item: _Item, key: str, start_value: date | datetime, length: timedelta, zone: Zone
    ) -> None:
        """Build, window-check and normalise one DesiredEvent."""
        where = item.where
        try:
            if isinstance(start_value, datetime):
                start = start_value.astimezone(UTC)
                end = start + length
                all_day = False
            else:
                start = datetime.combine(start_value, time(), tzinfo=zone.tz)
                end = datetime.combine(
                    start_value + timedelta(days=max(length.days, 1)), time(), tzinfo=zone.tz
                )
                all_day = True
            if not self.doc.window.contains(start, end):
                return
            fields = _fields(item.event, length, self.doc, where, key)
            event = DesiredEvent(
                mailbox=self.doc.mailbox,
                source_key=SourceKey(key),
                subject=fields.subject,
                start=start,
                end=end,
                time_zone=zone.name,
                all_day=all_day,
                location=fields.location,
                body=fields.body,
                categories=fields.categories,
                show_as=fields.show_as,
                sensitivity=fields.sensitivity,
                reminder_minutes=fields.reminder,
                teams_meeting=fields.teams,
                source=self.doc.options.source,
            )
            self.events.append(normalise(event))
        except (ValueError, TypeError, OverflowError):
            self.doc.problem(where, "ICS_BAD_EVENT", "the event cannot be represented", "error", key)


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
