"""Times in an iCalendar feed: TZID resolution (IANA, Windows, the feed's VTIMEZONE) and DTSTART-like moments.

Split from `calsync.sources.ics` because zone handling is a concept of its own: `_Zones` resolves a TZID
once per calendar (one warning per unknown TZID), `_custom_zone` reads a VTIMEZONE's own transitions when
no known zone matches, and `_moment` / `_prop_moment` turn a parsed value and its TZID into a `_Moment`.
The rules are in the `calsync.sources.ics` module doc ("Times").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Component

from calsync.sources.budget import Budget, BudgetExceeded
from calsync.sources.ics_document import _Doc, _listify, _prop_dt, _Skip
from calsync.sources.recurrence import build_rule, midnight
from calsync.sources.tzids import (
    MAX_TRANSITIONS,
    UTC_ZONE,
    CustomZone,
    Zone,
    match_zone,
    window_probe_range,
    zone_for_name,
)

MIN_YEAR, MAX_YEAR = 1601, 4500
MAX_CUSTOM_ZONES = 50
_VTIMEZONE_ALIAS = "X-CALSYNC-VTIMEZONE"


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
        if zones.xwr is None:
            zones.doc.floating_time()
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


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value
