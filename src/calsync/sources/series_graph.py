"""An iCalendar RRULE as Graph's `patternedRecurrence`, only when the two give exactly the same occurrences.

`to_patterned` is pure: it reads the rule's parts (as icalendar parsed them), the dateutil rule built from
them (calsync.sources.recurrence.build_rule) and the series' first start in its own zone, and returns the
patternedRecurrence, or raises `Untranslatable` with the reason `calsync plan` shows (the series is then
synced as single occurrences, as with `recurrence = "occurrences"`).

Exactly means (tests/calsync/sources/test_series_graph.py checks it with hypothesis against graphemu's
expander, which follows the Graph docs):
- daily (INTERVAL); daily BYDAY with interval 1 is weekly on those days; weekly with plain BYDAY (no
  ordinal), firstDayOfWeek from WKST (RFC 5545's default Monday; Graph's default would be Sunday);
- monthly/yearly on one BYMONTHDAY from 1 to 28 (Graph puts 29-31 on a short month's last day, RFC 5545
  skips the month), or on one ordinal weekday (1MO..4MO, -1MO: Graph's first..fourth, last);
- COUNT and UNTIL both become an end date: the local date of the last occurrence (for UNTIL, the last one
  not after it), so that every bounded series has an end date and its span needs no expansion
  (calsync.domain.series); in the series' own zone, whose wall-clock time Graph keeps across DST as
  dateutil does;
- DTSTART must be the rule's first occurrence (RFC 5545 counts DTSTART even when the rule does not
  produce it; Graph's series starts with its pattern's first occurrence).
Anything else (BYSETPOS, BYHOUR, BYWEEKNO, BYYEARDAY, several BYMONTH values, negative month days...) is
refused with its part's name. RDATE, EXRULE and several RRULEs are refused by the caller.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from itertools import islice
from typing import Any

from calsync.domain import UnknownTimeZone, windows_zone

DAYS = {"SU": "sunday", "MO": "monday", "TU": "tuesday", "WE": "wednesday", "TH": "thursday",
        "FR": "friday", "SA": "saturday"}  # fmt: skip
INDEXES = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$")
_SUPPORTED = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY", "BYMONTHDAY", "BYMONTH"}
MAX_LAST_SEARCH = 50_000  # occurrences walked to find a COUNT's last one (COUNT is capped by the caller)


class Untranslatable(ValueError):
    """The rule has no exact Graph pattern; `reason` is short text for `calsync plan`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _values(parts: Mapping[str, Any], name: str) -> list[Any]:
    value = parts.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _one_int(parts: Mapping[str, Any], name: str) -> int | None:
    values = _values(parts, name)
    if not values:
        return None
    if len(values) != 1:
        raise Untranslatable(f"several {name} values")
    return int(str(values[0]))


def _weekdays(parts: Mapping[str, Any]) -> list[tuple[int | None, str]]:
    out: list[tuple[int | None, str]] = []
    for raw in _values(parts, "BYDAY"):
        match = _BYDAY.match(str(raw).upper().replace(" ", ""))
        if match is None:
            raise Untranslatable("BYDAY value unsupported")
        out.append((int(match.group(1)) if match.group(1) else None, DAYS[match.group(2)]))
    return out


def _pattern(parts: Mapping[str, Any], first: datetime) -> dict[str, Any]:
    freq = str(_values(parts, "FREQ")[0]).upper()
    interval = _one_int(parts, "INTERVAL") or 1
    wkst = str((_values(parts, "WKST") or ["MO"])[0]).upper()
    first_day = DAYS.get(wkst, "monday")
    days = _weekdays(parts)
    month_day = _one_int(parts, "BYMONTHDAY")
    month = _one_int(parts, "BYMONTH")
    own_day = DAYS[("MO", "TU", "WE", "TH", "FR", "SA", "SU")[first.weekday()]]
    if month_day is not None and not 1 <= month_day <= 28:
        raise Untranslatable("BYMONTHDAY beyond 28 or negative")
    if freq in ("DAILY", "WEEKLY"):
        if month_day is not None or month is not None:
            raise Untranslatable(f"{'BYMONTHDAY' if month_day is not None else 'BYMONTH'} on a {freq} rule")
        if any(ordinal is not None for ordinal, _ in days):
            raise Untranslatable("BYDAY ordinal on a DAILY or WEEKLY rule")
        names = sorted({d for _, d in days}, key=list(DAYS.values()).index)
        if freq == "DAILY" and not names:
            return {"type": "daily", "interval": interval}
        if freq == "DAILY" and interval != 1:
            raise Untranslatable("BYDAY on a DAILY rule with INTERVAL")
        return {
            "type": "weekly",
            "interval": 1 if freq == "DAILY" else interval,
            "daysOfWeek": names or [own_day],
            "firstDayOfWeek": first_day,
        }
    if freq not in ("MONTHLY", "YEARLY"):
        raise Untranslatable(f"FREQ={freq}")
    if freq == "YEARLY":
        if month is None:
            if days:
                raise Untranslatable("BYDAY on a YEARLY rule without BYMONTH")
            month = first.month
        elif month_day is None and not days and month != first.month:
            raise Untranslatable("BYMONTH other than DTSTART's month")
    elif month is not None:
        raise Untranslatable("BYMONTH on a MONTHLY rule")
    if days:
        if month_day is not None:
            raise Untranslatable("BYDAY with BYMONTHDAY")
        if len(days) != 1 or days[0][0] not in INDEXES:
            raise Untranslatable("BYDAY of several days or without ordinal 1-4 or -1")
        ordinal, day = days[0]
        assert ordinal is not None
        out: dict[str, Any] = {"type": "relativeMonthly", "interval": interval, "daysOfWeek": [day],
                               "index": INDEXES[ordinal]}  # fmt: skip
    else:
        day_of_month = month_day if month_day is not None else first.day
        if day_of_month > 28:
            raise Untranslatable("a monthly day beyond 28")
        out = {"type": "absoluteMonthly", "interval": interval, "dayOfMonth": day_of_month}
    if freq == "YEARLY":
        out["type"] = out["type"].replace("Monthly", "Yearly")
        out["month"] = month
    return out


def to_patterned(parts: Mapping[str, Any], rule: Any, first: datetime, zone: str) -> dict[str, Any]:
    """The patternedRecurrence for the rule whose series starts at `first` (aware, in the series' zone
    `zone`, an IANA name); raises Untranslatable."""
    names = {str(k).upper() for k in parts}
    for name in sorted(names - _SUPPORTED):
        if not name.startswith("X-"):
            raise Untranslatable(f"{name} unsupported")
    if _one_int(parts, "COUNT") is not None and _values(parts, "UNTIL"):
        raise Untranslatable("COUNT with UNTIL")
    pattern = _pattern(parts, first)
    head = list(islice(iter(rule), 1))
    if not head or head[0] != first:
        raise Untranslatable("DTSTART is not an occurrence of the rule")
    try:
        zone_name = windows_zone(zone)
    except UnknownTimeZone:
        raise Untranslatable("a time zone Graph does not know") from None
    rng: dict[str, Any] = {
        "type": "noEnd",
        "startDate": first.date().isoformat(),
        "recurrenceTimeZone": zone_name,
    }
    if _one_int(parts, "COUNT") is not None or _values(parts, "UNTIL"):
        last = deque(islice(iter(rule), MAX_LAST_SEARCH), maxlen=1).pop()
        count = _one_int(parts, "COUNT")
        if count is not None and count > MAX_LAST_SEARCH:
            raise Untranslatable("too many occurrences")
        rng = {**rng, "type": "endDate", "endDate": last.date().isoformat()}
    return {"pattern": pattern, "range": rng}
