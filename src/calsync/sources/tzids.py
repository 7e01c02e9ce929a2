"""iCalendar TZIDs into zones Graph accepts.

Why: feeds name zones every way there is: IANA ("Europe/Berlin"), Windows ("W. Europe Standard Time"),
Outlook display names ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"), vendor-prefixed
globally unique ids ("/freeassociation.sourceforge.net/Tzfile/Europe/Berlin"), or a custom name whose
only meaning is the feed's own VTIMEZONE ("Customized Time Zone"). Graph rejects names outside its list
with 400 TimeZoneNotSupportedException (BI-06), so every event's zone must be one that
`calsync.domain.zones.windows_zone` maps.

Resolution order for a TZID (first hit wins, cached per document):
1. the name as an IANA zone, a Windows zone, or a vendor-prefixed IANA suffix;
2. an Outlook display name: its cities matched to IANA zones with the stated standard offset, or a few
   fixed descriptions ("Eastern Time (US & Canada)");
3. the VTIMEZONE's X-LIC-LOCATION (libical, Lightning);
4. the VTIMEZONE's rules: a zone whose UTC offsets equal the VTIMEZONE's on every day from 30 days before
   to 30 days after the window (the only days that matter for the events we produce);
5. otherwise the VTIMEZONE's own rules give the instants and the event is labelled UTC, or with no
   VTIMEZONE the local times are taken as UTC; either way with an ICS_UNKNOWN_TZID warning.

The feed's VTIMEZONEs are never handed to icalendar's timezone machinery: icalendar caches them per TZID
for the whole process (so one feed's definition would change another's times) and expands their RRULEs
without a bound. This module reads them itself, under the expansion budget.
"""

from __future__ import annotations

import bisect
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from typing import Any

from calsync.domain.zones import UnknownTimeZone, iana_zone, windows_zone

MAX_TRANSITIONS = 2_000  # per VTIMEZONE, over the probe range; real zones have two a year
MAX_NAME = 200  # longer TZIDs are no zone names (and would make the suffix search quadratic)

# Outlook descriptions that name no city; the offset in the display name is checked as well.
_DESCRIPTIONS: dict[str, str] = {
    "coordinated universal time": "UTC",
    "eastern time (us & canada)": "America/New_York",
    "central time (us & canada)": "America/Chicago",
    "mountain time (us & canada)": "America/Denver",
    "pacific time (us & canada)": "America/Los_Angeles",
    "alaska": "America/Anchorage",
    "hawaii": "Pacific/Honolulu",
    "arizona": "America/Phoenix",
    "atlantic time (canada)": "America/Halifax",
    "newfoundland": "America/St_Johns",
    "saskatchewan": "America/Regina",
    "indiana (east)": "America/Indiana/Indianapolis",
    "brasilia": "America/Sao_Paulo",
    "greenwich mean time": "Europe/London",
    "edinburgh": "Europe/London",
    "new delhi": "Asia/Kolkata",
    "beijing": "Asia/Shanghai",
    "canberra": "Australia/Sydney",
    "wellington": "Pacific/Auckland",
    "osaka": "Asia/Tokyo",
    "sapporo": "Asia/Tokyo",
}
_DISPLAY = re.compile(r"^\(\s*(?:UTC|GMT)\s*(?:([+-])\s*(\d{1,2})(?:[:.](\d{2}))?)?\s*\)\s*(.*)$", re.I)


@dataclass(frozen=True, slots=True)
class Zone:
    """A resolved zone: `name` is what DesiredEvent.time_zone gets (Graph accepts it); `tz` computes
    wall-clock times. They differ only for a custom VTIMEZONE no IANA zone matches (`name` is "UTC")."""

    name: str
    tz: tzinfo


UTC_ZONE = Zone("UTC", zoneinfo.ZoneInfo("UTC"))


def accepted(name: str) -> str | None:
    """`name` if Graph accepts it (through windows_zone) and zoneinfo loads it, else None."""
    try:
        windows_zone(name)
        iana_zone(name)
    except (UnknownTimeZone, ValueError):
        return None
    return name


def _zoneinfo(name: str) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 100 or not name.isascii() or ".." in name or name.startswith("/"):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


@cache
def _standard_offset(name: str) -> timedelta:
    """The zone's offset without DST (from fixed January and July dates, either hemisphere)."""
    zone = zoneinfo.ZoneInfo(name)
    samples = [datetime(2025, month, 15, 12, tzinfo=zone) for month in (1, 7)]
    standard = [s.utcoffset() or timedelta(0) for s in samples if s.dst() == timedelta(0)]
    return min(standard or [s.utcoffset() or timedelta(0) for s in samples])


@cache
def _accepted_zones() -> tuple[str, ...]:
    """Every IANA zone Graph accepts, sorted (deterministic choices)."""
    return tuple(sorted(n for n in zoneinfo.available_timezones() if accepted(n)))


@cache
def _primary_zones() -> tuple[str, ...]:
    """One IANA zone per Windows zone (CLDR's territory-001 zone), sorted: the candidates for matching."""
    primaries = {iana_zone(windows_zone(n)).key for n in _accepted_zones()}
    return tuple(sorted(p for p in primaries if accepted(p)))


@cache
def _cities() -> dict[str, tuple[str, ...]]:
    """Lower-cased city ("new york", "ho chi minh") -> accepted zones ending in it."""
    index: dict[str, list[str]] = {}
    for name in _accepted_zones():
        city = name.rsplit("/", 1)[-1].replace("_", " ").casefold()
        index.setdefault(city, []).append(name)
    return {city: tuple(names) for city, names in index.items()}


def zone_for_name(name: str) -> str | None:
    """An accepted IANA name for a TZID by name alone (steps 1 and 2 of the module doc), or None."""
    cleaned = name.strip().strip('"').strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        return None
    candidates = [cleaned, cleaned.strip("/")]
    parts = cleaned.strip("/").split("/")
    candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for candidate in candidates:
        info = _zoneinfo(candidate)
        if info is not None and accepted(info.key):
            return info.key
        try:
            windows = windows_zone(candidate)
        except (UnknownTimeZone, ValueError):
            continue
        iana = iana_zone(windows).key
        if accepted(iana):
            return iana
    return _zone_for_display_name(cleaned)


def _zone_for_display_name(name: str) -> str | None:
    match = _DISPLAY.match(name)
    if match is None:
        return None
    sign, hours, minutes, rest = match.groups()
    offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    if sign == "-":
        offset = -offset
    description = rest.strip().casefold()
    fixed = _DESCRIPTIONS.get(description)
    if fixed is not None and _standard_offset(fixed) == offset:
        return fixed
    for raw_part in description.split(","):
        part = raw_part.strip()
        if part in _DESCRIPTIONS and _standard_offset(_DESCRIPTIONS[part]) == offset:
            return _DESCRIPTIONS[part]
        for zone in _cities().get(part, ()):
            if _standard_offset(zone) == offset:
                return zone
    return None


class CustomZone(tzinfo):
    """A zone defined only by a feed's VTIMEZONE: sorted transitions (UTC instant, offset before, after).

    Wall times are mapped like dateutil's tzical: a transition applies from its local time in the offset
    before it; a wall time in a gap or a fold takes the offset before the transition.
    """

    def __init__(self, name: str, transitions: list[tuple[datetime, timedelta, timedelta]]) -> None:
        super().__init__()
        self._name = name
        self._transitions = sorted(transitions)
        self._utc = [t for t, _, _ in self._transitions]
        self._local = [(t + before).replace(tzinfo=None) for t, before, _ in self._transitions]
        first_before = self._transitions[0][1] if self._transitions else timedelta(0)
        self._initial = first_before

    def offset_at(self, instant: datetime) -> timedelta:
        """The UTC offset in force at an aware instant."""
        i = bisect.bisect_right(self._utc, instant.astimezone(UTC))
        return self._initial if i == 0 else self._transitions[i - 1][2]

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return self._initial
        i = bisect.bisect_right(self._local, dt.replace(tzinfo=None))
        return self._initial if i == 0 else self._transitions[i - 1][2]

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return self._name

    def fromutc(self, dt: datetime) -> datetime:
        return dt + self.offset_at(dt.replace(tzinfo=UTC))

    def __repr__(self) -> str:
        return f"CustomZone({self._name!r}, {len(self._transitions)} transitions)"


def match_zone(offset_at: Any, start: datetime, end: datetime) -> str | None:
    """The first primary zone whose offset equals `offset_at(instant)` at noon UTC on every day of
    [start, end], or None. `offset_at` is a callable aware datetime -> timedelta."""
    days = max(1, (end - start).days + 1)
    probes = [
        datetime(start.year, start.month, start.day, 12, tzinfo=UTC) + timedelta(days=i) for i in range(days)
    ]
    wanted = [offset_at(p) for p in probes]
    for name in _primary_zones():
        zone = zoneinfo.ZoneInfo(name)
        if all(p.astimezone(zone).utcoffset() == w for p, w in zip(probes, wanted, strict=True)):
            return name
    return None


def window_probe_range(window_start: datetime, window_end: datetime) -> tuple[datetime, datetime]:
    """The days whose offsets decide a match: 30 days either side of the window."""
    return window_start - timedelta(days=30), window_end + timedelta(days=30)
