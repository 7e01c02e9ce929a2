"""Graph `patternedRecurrence`: validate and normalise it, and expand a series into occurrence instants.

Public API: `RecurrenceError`, `validate_recurrence`, `expand`, `occurrence_id_date`. Pure (no I/O,
stdlib + zoneinfo), so handlers and tests call it freely.

Sources: docs/graph-facts.md §2.1; graph/calendar-event-schema.v1.0.json (recurrencePattern,
recurrenceRange, their enums); [MS-OXOCAL] 2.2.1.44.1, the recurrence blob Exchange keeps behind Graph:
FirstDOW exists for every pattern type, the day/month/index fields only for the types that use them,
hence normalisation resets unused fields. dayOfMonth 31 (or 29 February) falls on a short month's last
day, as Outlook tells its users and the CDO RecurrencePattern.DayOfMonth docs describe.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGE_TYPES = ("endDate", "noEnd", "numbered")
WEEK_INDEXES = ("first", "second", "third", "fourth", "last")
DAYS_OF_WEEK = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
NO_DATE = "0001-01-01"  # what Graph returns for an unset Edm.Date in a range
# Observed: {"code":"ErrorRecurrenceEndDateTooBig","message":"Recurrence end date can not exceed Sep 1, 4500
# 00:00:00."} (Stack Overflow q. 30463351, Outlook REST; the same Exchange store backs Graph).
MAX_END_DATE = date(4500, 9, 1)

_PATTERN_KEYS = frozenset(
    {"type", "interval", "month", "dayOfMonth", "daysOfWeek", "firstDayOfWeek", "index"}
)
_RANGE_KEYS = frozenset({"type", "startDate", "endDate", "recurrenceTimeZone", "numberOfOccurrences"})
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT32 = (-(2**31), 2**31 - 1)


class RecurrenceError(ValueError):
    """A patternedRecurrence that Graph would reject; .message is Graph-like text.

    `.code` is the Graph error code to send with HTTP 400. Only ErrorRecurrenceEndDateTooBig is observed
    wording; the others are UNCONFIRMED: "RequestBodyRead" for payloads OData cannot deserialise (unknown
    property, wrong JSON type, unknown enum member) and "ErrorPropertyValidationFailure" (graph-facts §9)
    for well-formed values Exchange refuses.
    """

    def __init__(self, message: str, code: str = "ErrorPropertyValidationFailure") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _bad_literal(value: Any, edm: str) -> RecurrenceError:
    text = f"Cannot convert the literal '{value}' to the expected type '{edm}'."
    return RecurrenceError(text, "RequestBodyRead")


def _object(value: Any, type_name: str, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_literal(value, f"microsoft.graph.{type_name}")
    for key in value:
        if key not in keys and not key.startswith("@odata."):
            raise RecurrenceError(
                f"The property '{key}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to "
                "only use property names that are defined by the type or mark the type as open type.",
                "RequestBodyRead",
            )
    return value


def _int(obj: dict[str, Any], key: str) -> int:
    """An Edm.Int32, non-nullable in the schema: absent means 0 (OData's default), null is refused."""
    value = obj.get(key, 0)
    if value is None:
        raise RecurrenceError(
            f"A null value was found for the property named '{key}', which has the expected type "
            "'Edm.Int32[Nullable=False]'. The expected type 'Edm.Int32[Nullable=False]' does not allow null "
            "values.",
            "RequestBodyRead",
        )
    if isinstance(value, bool) or not isinstance(value, int) or not _INT32[0] <= value <= _INT32[1]:
        raise _bad_literal(value, "Edm.Int32")
    return value


def _enum(value: Any, members: tuple[str, ...], type_name: str) -> str | None:
    """An enum member, matched case-insensitively (Graph accepts "Weekly") and returned in canonical case."""
    if value is None:
        return None
    for member in members:
        if isinstance(value, str) and value.lower() == member.lower():
            return member
    raise _bad_literal(value, f"microsoft.graph.{type_name}")


def _date(value: Any) -> date | None:
    """An Edm.Date: exactly yyyy-mm-dd (fromisoformat alone would also take "20200101")."""
    try:
        if value is None or (isinstance(value, str) and _DATE_RE.fullmatch(value)):
            return None if value is None else date.fromisoformat(value)
    except ValueError:
        pass
    raise _bad_literal(value, "Edm.Date")


def _days(value: Any) -> list[str]:
    """daysOfWeek, de-duplicated, Sunday first: Exchange stores them as a bit mask ([MS-OXOCAL])."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad_literal(value, "Collection(microsoft.graph.dayOfWeek)")
    found = {_enum(v, DAYS_OF_WEEK, "dayOfWeek") for v in value} - {None}
    return [d for d in DAYS_OF_WEEK if d in found]


def _pattern(raw: Any) -> dict[str, Any]:
    obj = _object(raw, "recurrencePattern", _PATTERN_KEYS)
    kind = _enum(obj.get("type"), PATTERN_TYPES, "recurrencePatternType")
    interval, month, day = _int(obj, "interval"), _int(obj, "month"), _int(obj, "dayOfMonth")
    days = _days(obj.get("daysOfWeek"))
    first_dow = _enum(obj.get("firstDayOfWeek"), DAYS_OF_WEEK, "dayOfWeek") or "sunday"
    index = _enum(obj.get("index"), WEEK_INDEXES, "weekIndex") or "first"
    if kind is None:
        raise RecurrenceError("The recurrence pattern type must be specified.")
    uses_days, yearly = kind in ("weekly", "relativeMonthly", "relativeYearly"), kind.endswith("Yearly")
    # absoluteYearly: the day must exist in that month in some year (29 February does, 30 February never).
    last = calendar.monthrange(2000, month)[1] if yearly and 1 <= month <= 12 else 31
    if interval < 1:
        raise RecurrenceError("The recurrence pattern's Interval must be greater than 0.")
    if uses_days and not days:
        raise RecurrenceError(f"DaysOfWeek must be specified for a {kind} recurrence pattern.")
    if yearly and not 1 <= month <= 12:
        raise RecurrenceError(f"Month must be between 1 and 12 for a {kind} recurrence pattern.")
    if kind.startswith("absolute") and not 1 <= day <= last:
        raise RecurrenceError(f"DayOfMonth must be between 1 and {last} for a {kind} recurrence pattern.")
    return {
        "type": kind,
        "interval": interval,
        "month": month if yearly else 0,
        "dayOfMonth": day if kind.startswith("absolute") else 0,
        "daysOfWeek": days if uses_days else [],
        "firstDayOfWeek": first_dow,
        "index": index if kind.startswith("relative") else "first",
    }


def _range(raw: Any) -> dict[str, Any]:
    obj = _object(raw, "recurrenceRange", _RANGE_KEYS)
    kind = _enum(obj.get("type"), RANGE_TYPES, "recurrenceRangeType")
    start, end = _date(obj.get("startDate")), _date(obj.get("endDate"))
    count = _int(obj, "numberOfOccurrences")
    zone = obj.get("recurrenceTimeZone")
    if zone is not None and not isinstance(zone, str):
        raise _bad_literal(zone, "Edm.String")
    if kind is None:
        raise RecurrenceError("The recurrence range type must be specified.")
    if start is None:
        raise RecurrenceError("The recurrence range's StartDate must be specified.")
    has_end = kind == "endDate"
    if has_end and end is None:
        raise RecurrenceError("The recurrence range's EndDate must be specified for an endDate range.")
    if has_end and end is not None and end < start:
        raise RecurrenceError("The recurrence range's EndDate must not be earlier than its StartDate.")
    if kind == "numbered" and count < 1:
        raise RecurrenceError("The recurrence range's NumberOfOccurrences must be greater than 0.")
    if has_end and end is not None and end > MAX_END_DATE:
        text = "Recurrence end date can not exceed Sep 1, 4500 00:00:00."
        raise RecurrenceError(text, "ErrorRecurrenceEndDateTooBig")
    return {
        "type": kind,
        "startDate": start.isoformat(),
        "endDate": end.isoformat() if has_end and end else NO_DATE,
        # Graph fills an absent zone with the event's start zone; only the caller knows it, so None stays.
        "recurrenceTimeZone": zone,
        "numberOfOccurrences": count if kind == "numbered" else 0,
    }


def validate_recurrence(recurrence: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise a patternedRecurrence as a client sends it, returning Graph's output shape.

    pattern always has type, interval, month, dayOfMonth, daysOfWeek, firstDayOfWeek, index (defaults 0, 0,
    [], "sunday", "first"); range has type, startDate, endDate ("0001-01-01" unless an endDate range),
    recurrenceTimeZone (None when absent: the caller substitutes the event's zone, as Graph does) and
    numberOfOccurrences (0 unless numbered). Fields the pattern type does not use are reset to their
    defaults, because Exchange's store has nowhere to keep them; firstDayOfWeek is always kept. Enum values
    are accepted in any case and returned canonical. Idempotent: normalised output validates to itself.
    A missing interval counts as 0 (Edm.Int32 default) and is rejected, as Graph rejects it.

    Raises:
        RecurrenceError: unknown pattern/range type, interval < 1, weekly/relative pattern without
            daysOfWeek, absolute pattern without a valid dayOfMonth, yearly pattern without month 1..12,
            endDate range without endDate or ending before startDate (or after 4500-09-01), numbered
            range with numberOfOccurrences < 1, malformed dates, unknown properties or wrong JSON types.
    """
    obj = _object(recurrence, "patternedRecurrence", frozenset({"pattern", "range"}))
    if obj.get("pattern") is None or obj.get("range") is None:
        raise RecurrenceError("A recurrence must have both a pattern and a range.")
    return {"pattern": _pattern(obj["pattern"]), "range": _range(obj["range"])}


def _dow(day: date) -> int:
    """Day of week counted from Sunday = 0, the order of Graph's dayOfWeek enum."""
    return (day.weekday() + 1) % 7


def _period(pattern: dict[str, Any], days: frozenset[int], start: date, k: int) -> tuple[date, list[date]]:
    """Period k of the series: its first calendar day and its candidate dates, ascending.

    A period is `interval` days, weeks, months or years, counted from the one containing the range
    startDate. Candidates may precede startDate in period 0; the caller filters them. Raises ValueError or
    OverflowError past year 9999.
    """
    kind, n = pattern["type"], pattern["interval"]
    if kind == "daily":
        day = start + timedelta(days=k * n)
        return day, [day]
    if kind == "weekly":
        week = start - timedelta(days=(_dow(start) - DAYS_OF_WEEK.index(pattern["firstDayOfWeek"])) % 7)
        week += timedelta(weeks=k * n)
        return week, [d for d in (week + timedelta(days=i) for i in range(7)) if _dow(d) in days]
    if kind.endswith("Monthly"):
        year, month0 = divmod(start.year * 12 + start.month - 1 + k * n, 12)
        month = month0 + 1
    else:
        year, month = start.year + k * n, pattern["month"]
    first = date(year, month, 1)
    length = calendar.monthrange(year, month)[1]
    if kind.startswith("absolute"):
        # A month without that day falls on its last day, as Outlook says when such a series is made:
        # "Some months have fewer than 31 days. For these months, the occurrence will fall on the last
        # day of the month." (29 February yearly falls on 28 February in common years, likewise.)
        return first, [first.replace(day=min(pattern["dayOfMonth"], length))]
    # relative: the index-th day in the month whose weekday is listed ("first weekday", "last friday").
    matches = [d for d in (first + timedelta(days=i) for i in range(length)) if _dow(d) in days]
    index = pattern["index"]
    return first, [matches[-1] if index == "last" else matches[WEEK_INDEXES.index(index)]]


def _skip(
    pattern: dict[str, Any], days: frozenset[int], start: date, lo: date, limit: int | None
) -> tuple[int, int]:
    """The first period worth generating for local dates >= lo, and how many occurrences precede it.

    Daily and weekly counts are arithmetic, so a series from 1990 queried in 2030 costs O(1) to reach the
    window. Monthly and yearly periods may be empty (31 April), so a numbered range walks the earlier
    periods, stopping once `limit` is reached: at most 12 cheap steps per year, bounded by the count.
    """
    if lo <= start:
        return 0, 0
    kind, n = pattern["type"], pattern["interval"]
    if kind == "daily":
        k = (lo - start).days // n
        return k, k
    if kind == "weekly":
        week0, dates0 = _period(pattern, days, start, 0)
        k = (lo - week0).days // (7 * n)
        return k, (k * len(dates0) - sum(d < start for d in dates0)) if k else 0
    if kind.endswith("Monthly"):
        k = ((lo.year - start.year) * 12 + lo.month - start.month) // n
    else:
        k = (lo.year - start.year) // n
    k, before = max(k, 0), 0
    if limit is None:
        return k, 0
    for i in range(k):
        before += sum(d >= start for d in _period(pattern, days, start, i)[1])
        if before >= limit:
            return i + 1, before
    return k, before


def expand(
    recurrence: dict[str, Any],
    *,
    first_start: datetime,
    duration: timedelta,
    tz: ZoneInfo,
    window_start: datetime,
    window_end: datetime,
    max_instances: int = 5000,
) -> list[datetime]:
    """Start instants (aware UTC, ascending) of a series' occurrences overlapping [window_start, window_end).

    An occurrence overlaps when start < window_end and start + duration > window_start; a zero-duration one
    when window_start <= start < window_end. Duration is added as elapsed time.

    Semantics (Outlook/Graph): the range startDate is the first candidate date; only the local wall-clock
    time of `first_start` (in `tz`) is used, so a weekly 09:00 Europe/Berlin meeting stays at 09:00 in
    winter and summer. `tz` is the recurrence time zone, and the endDate (inclusive) is a date in it.
    daily: every `interval` days; weekly: the listed days of every `interval`-th week, weeks starting on
    firstDayOfWeek; absoluteMonthly/Yearly: dayOfMonth (of `month`), clamped to the month's last day;
    relativeMonthly/Yearly: the index-th listed weekday of the month. numbered counts from the series start,
    including occurrences before the window; noEnd is unbounded.

    DST: a wall time inside a spring-forward gap is taken with fold=0 (the offset in force before the
    transition) and normalised through UTC, which moves it forward by the gap (02:30 becomes 03:30 in
    Berlin), as Exchange does; an ambiguous fall-back time takes its first (summer-time) instance.

    Cost is O(occurrences up to window_end): daily and weekly series jump straight to the window.

    Raises:
        RecurrenceError: the recurrence is invalid, or more than `max_instances` occurrences overlap.
        ValueError: a naive datetime or a negative duration (caller bugs, not client errors).
    """
    if any(v.utcoffset() is None for v in (first_start, window_start, window_end)):
        raise ValueError("first_start, window_start and window_end must be timezone-aware")
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    rec = validate_recurrence(recurrence)
    pattern, rng = rec["pattern"], rec["range"]
    days = frozenset(DAYS_OF_WEEK.index(d) for d in pattern["daysOfWeek"])
    start = date.fromisoformat(rng["startDate"])
    end = date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else date.max
    limit = rng["numberOfOccurrences"] if rng["type"] == "numbered" else None
    wall = first_start.astimezone(tz).time().replace(fold=0)  # combine() would carry fold=1 to every date
    # Local-date bounds one day wider than needed: no UTC offset moves a wall time by a whole day.
    try:
        lo = (window_start - duration).astimezone(tz).date() - timedelta(days=1)
    except OverflowError:
        lo = date.min
    try:
        last_day = min(end, window_end.astimezone(tz).date() + timedelta(days=1))
    except OverflowError:
        last_day = end

    k, seen = _skip(pattern, days, start, lo, limit)
    out: list[datetime] = []
    previous: datetime | None = None
    while True:
        try:
            period_start, dates = _period(pattern, days, start, k)
        except (OverflowError, ValueError):
            return out  # past year 9999
        if period_start > last_day:
            return out
        for day in dates:
            if day < start:
                continue
            if day > end or (limit is not None and seen >= limit):
                return out
            seen += 1
            instant = datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)
            if instant >= window_end:
                return out
            # A zone that skips a whole date (Pacific/Apia, 2011-12-30) maps it onto the next one; keep one.
            if previous is not None and instant <= previous:
                continue
            previous = instant
            if (instant + duration > window_start) if duration else (instant >= window_start):
                out.append(instant)
                if len(out) > max_instances:
                    text = f"The recurrence has more than {max_instances} occurrences in the time window."
                    raise RecurrenceError(text, "ErrorInvalidRequest")
        k += 1


def occurrence_id_date(start_local: datetime) -> str:
    """The yyyyMMdd local date used to build occurrence ids (zero-padded even for years < 1000)."""
    return f"{start_local.year:04d}{start_local.month:02d}{start_local.day:02d}"
