"""Bounded expansion of iCalendar recurrences (RRULE, RDATE, EXDATE, EXRULE) into instances.

Why our own wrapper around dateutil: icalendar 7 parses RRULEs but does not expand them, and the
library that does (recurring-ical-events) materialises `rruleset.between()` from DTSTART, which cannot be
bounded (and pins python-dateutil below 3). Here dateutil's rrule iterator is consumed lazily and stops at
the first instance past the window, and three limits hold whatever the rule says (BI-04):
- at most `max_instances` instances per master near the window (5,000 by default);
- a deterministic work budget and a wall-clock backstop (`calsync.sources.budget`, 1 s per master),
  which also stop dateutil's internal loops that never yield (a filter that never matches, an EXRULE that
  excludes everything);
- INTERVAL must be at least 1 (INTERVAL=0 makes dateutil repeat one instance forever); anything else is
  ICS_RRULE_INVALID, a rule that cannot be read, as docs/sources.md says.
Recurrences are expanded in local wall-clock time (aware datetimes in the event's zone, or naive
midnights for all-day events) so a weekly 09:00 Europe/Berlin series stays at 09:00 across DST.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from dateutil.rrule import (  # type: ignore[import-untyped]
    DAILY,
    HOURLY,
    MINUTELY,
    MONTHLY,
    SECONDLY,
    WEEKLY,
    YEARLY,
    rrule,
    rruleset,
    weekday,
)

from calsync.sources.budget import Budget

FREQS: dict[str, int] = {
    "YEARLY": YEARLY,
    "MONTHLY": MONTHLY,
    "WEEKLY": WEEKLY,
    "DAILY": DAILY,
    "HOURLY": HOURLY,
    "MINUTELY": MINUTELY,
    "SECONDLY": SECONDLY,
}
WEEKDAYS: dict[str, int] = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
# rule part -> (dateutil keyword, lowest, highest, negatives allowed)
_INT_PARTS: dict[str, tuple[str, int, int, bool]] = {
    "BYSECOND": ("bysecond", 0, 59, False),  # 60 (leap second) cannot be represented by datetime
    "BYMINUTE": ("byminute", 0, 59, False),
    "BYHOUR": ("byhour", 0, 23, False),
    "BYMONTHDAY": ("bymonthday", 1, 31, True),
    "BYYEARDAY": ("byyearday", 1, 366, True),
    "BYWEEKNO": ("byweekno", 1, 53, True),
    "BYMONTH": ("bymonth", 1, 12, False),
    "BYSETPOS": ("bysetpos", 1, 366, True),
}
MAX_INTERVAL = 10_000
MAX_PART_VALUES = 400  # values in one BYxxx part; a real rule has a handful


class RuleError(ValueError):
    """An unusable rule; `code` is ICS_RRULE_INVALID, _UNSUPPORTED or _UNBOUNDED; `message` is safe text."""

    def __init__(
        self, code: Literal["ICS_RRULE_INVALID", "ICS_RRULE_UNSUPPORTED", "ICS_RRULE_UNBOUNDED"], message: str
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TooManyInstances(ValueError):
    """More instances near the window than the cap allows."""


def _text(value: Any) -> str:
    return str(value).strip().upper()


def _ints(part: str, values: Iterable[Any]) -> tuple[int, ...]:
    keyword, low, high, negative = _INT_PARTS[part]
    del keyword
    out: list[int] = []
    for value in values:
        raw = _text(value)
        if not re.fullmatch(r"[+-]?\d{1,4}", raw):
            raise RuleError("ICS_RRULE_INVALID", f"{part} has a value that is not a small integer")
        number = int(raw)
        if not (low <= number <= high or (negative and -high <= number <= -low)):
            raise RuleError("ICS_RRULE_INVALID", f"{part} has a value out of range")
        out.append(number)
    return tuple(out)


def _weekdays(values: Iterable[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for value in values:
        match = _BYDAY.fullmatch(_text(value))
        if match is None:
            raise RuleError("ICS_RRULE_INVALID", "BYDAY has a value that is not a weekday")
        n = int(match.group(1)) if match.group(1) else None
        if n is not None and not (1 <= abs(n) <= 53):
            raise RuleError("ICS_RRULE_INVALID", "BYDAY has an ordinal out of range")
        out.append(weekday(WEEKDAYS[match.group(2)], n))
    return tuple(out)


def _single(recur: Mapping[str, Any], part: str) -> Any:
    values = recur.get(part)
    if values is None:
        return None
    if isinstance(values, list | tuple):
        if len(values) != 1:
            raise RuleError("ICS_RRULE_INVALID", f"{part} must have exactly one value")
        return values[0]
    return values


def _listed(values: Any) -> list[Any]:
    if isinstance(values, list | tuple):
        return list(values)
    return [values]


def build_rule(
    recur: Mapping[str, Any],
    dtstart: datetime,
    until_in_space: Callable[[date | datetime], datetime],
) -> Any:
    """A dateutil rrule for an icalendar vRecur (a mapping of part -> list of values).

    `until_in_space` converts UNTIL (a date or datetime as icalendar parsed it) into the expansion space of
    `dtstart` (aware in the event's zone, or naive for all-day events). Raises `RuleError`.
    """
    parts = {str(k).upper(): v for k, v in recur.items()}
    freq_text = _text(_single(parts, "FREQ") or "")
    if freq_text not in FREQS:
        raise RuleError("ICS_RRULE_INVALID", "FREQ is missing or unknown")
    kwargs: dict[str, Any] = {"dtstart": dtstart, "cache": False}
    interval = _single(parts, "INTERVAL")
    if interval is not None:
        raw = _text(interval)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_INTERVAL:
            raise RuleError("ICS_RRULE_INVALID", "INTERVAL must be a whole number from 1 to 10000")
        kwargs["interval"] = int(raw)
    count = _single(parts, "COUNT")
    if count is not None:
        raw = _text(count)
        if not raw.isdigit() or int(raw) < 1 or len(raw) > 12:
            raise RuleError("ICS_RRULE_INVALID", "COUNT must be a positive whole number")
        kwargs["count"] = int(raw)
    until = _single(parts, "UNTIL")
    if until is not None:
        if not isinstance(until, date):
            raise RuleError("ICS_RRULE_INVALID", "UNTIL is not a date or date-time")
        kwargs["until"] = until_in_space(until)
    wkst = _single(parts, "WKST")
    if wkst is not None:
        if _text(wkst) not in WEEKDAYS:
            raise RuleError("ICS_RRULE_INVALID", "WKST is not a weekday")
        kwargs["wkst"] = WEEKDAYS[_text(wkst)]
    rscale = _single(parts, "RSCALE")
    if rscale is not None and _text(rscale) != "GREGORIAN":
        raise RuleError("ICS_RRULE_UNSUPPORTED", "RSCALE other than GREGORIAN is not supported")
    for part, values in parts.items():
        if part in _INT_PARTS or part == "BYDAY":
            listed = _listed(values)
            if not listed or len(listed) > MAX_PART_VALUES:
                raise RuleError("ICS_RRULE_INVALID", f"{part} has no values or too many")
            if part == "BYDAY":
                kwargs["byweekday"] = _weekdays(listed)
            else:
                kwargs[_INT_PARTS[part][0]] = _ints(part, listed)
        elif part not in ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "RSCALE", "SKIP") and not (
            part.startswith("X-")
        ):
            raise RuleError("ICS_RRULE_INVALID", f"unknown rule part {part[:20]}")
    try:
        return rrule(FREQS[freq_text], **kwargs)
    except (ValueError, TypeError, OverflowError):
        raise RuleError("ICS_RRULE_INVALID", "the rule's parts contradict each other") from None


@dataclass
class Series:
    """One master's recurrence in expansion space (aware local datetimes, or naive for all-day).

    `exdays` are dates excluded whole (an EXDATE given as DATE for a timed event, or any EXDATE of an
    all-day event); `period_ends` maps an RDATE;VALUE=PERIOD start to its own duration.
    """

    start: datetime
    duration: timedelta
    rules: list[Any] = field(default_factory=list)
    exrules: list[Any] = field(default_factory=list)
    rdates: list[datetime] = field(default_factory=list)
    exdates: list[datetime] = field(default_factory=list)
    exdays: set[date] = field(default_factory=set)
    period_durations: dict[datetime, timedelta] = field(default_factory=dict)


def expand(
    series: Series,
    *,
    window_start: datetime,
    window_end: datetime,
    budget: Budget,
    max_instances: int = 5_000,
) -> list[tuple[datetime, timedelta]]:
    """The series' instances (start in expansion space, duration) that may touch the window, in order.

    The caller applies the exact window rule; this keeps every instance within two days of the window
    (enough for any UTC offset and for wall-clock vs instant order at DST changes). Instances before
    that are skipped with plain comparisons, so a long history costs only dateutil's own steps. Raises
    `TooManyInstances`, `BudgetExceeded` or `RuleError` (dateutil rejects some rules only while iterating).
    """
    ruleset = rruleset(cache=False)
    ruleset.rdate(series.start)
    for rule in series.rules:
        ruleset.rrule(rule)
    for rule in series.exrules:
        ruleset.exrule(rule)
    for value in series.rdates:
        ruleset.rdate(value)
    for value in series.exdates:
        ruleset.exdate(value)
    longest = max([series.duration, *series.period_durations.values()])
    slack = timedelta(days=2)
    early, late = window_start - longest - slack, window_end + slack
    if series.start.tzinfo is None:
        early, late = early.replace(tzinfo=None), late.replace(tzinfo=None)
    durations = series.period_durations
    exdays = series.exdays

    def collect() -> list[tuple[datetime, timedelta]]:
        found: list[tuple[datetime, timedelta]] = []
        for start in ruleset:
            if start < early:
                continue
            if start > late:
                break
            if exdays and start.date() in exdays:
                continue
            found.append((start, durations.get(start, series.duration) if durations else series.duration))
            if len(found) > max_instances:
                raise TooManyInstances(f"more than {max_instances} instances in the window")
        return found

    try:
        return budget.run(collect)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, TooManyInstances):
            raise
        raise RuleError("ICS_RRULE_INVALID", "the rule cannot be expanded") from None


def midnight(day: date) -> datetime:
    """Naive midnight of `day`: the expansion space of all-day events."""
    return datetime.combine(day, time())
