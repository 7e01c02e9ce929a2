"""graphemu.recurrence: patternedRecurrence validation, normalisation and expansion."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphemu.recurrence import (
    DAYS_OF_WEEK,
    RecurrenceError,
    expand,
    occurrence_id_date,
    validate_recurrence,
)
from tests.work import calls_made

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def rec(pattern: dict[str, Any], range_: dict[str, Any]) -> dict[str, Any]:
    return {"pattern": pattern, "range": range_}


def no_end(start: str) -> dict[str, Any]:
    return {"type": "noEnd", "startDate": start}


def local(
    recurrence: dict[str, Any],
    first: datetime,
    window: tuple[datetime, datetime],
    *,
    duration: timedelta = HOUR,
    tz: ZoneInfo = BERLIN,
) -> list[datetime]:
    """Expand and return the starts as local datetimes, for readable assertions."""
    starts = expand(
        recurrence, first_start=first, duration=duration, tz=tz, window_start=window[0], window_end=window[1]
    )
    return [s.astimezone(tz) for s in starts]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


WEEKLY_MONDAY = rec({"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, no_end("2024-01-01"))


# --- DST -------------------------------------------------------------------------------------------------


def test_weekly_berlin_stays_at_nine_across_october_dst() -> None:
    """A weekly 09:00 Berlin meeting is 07:00Z in summer and 08:00Z after the October change."""
    first = datetime(2024, 1, 1, 9, tzinfo=BERLIN)
    starts = expand(
        WEEKLY_MONDAY,
        first_start=first,
        duration=HOUR,
        tz=BERLIN,
        window_start=utc(2024, 10, 14),
        window_end=utc(2024, 11, 5),
    )
    assert starts == [utc(2024, 10, 14, 7), utc(2024, 10, 21, 7), utc(2024, 10, 28, 8), utc(2024, 11, 4, 8)]
    assert {s.astimezone(BERLIN).hour for s in starts} == {9}


def test_weekly_berlin_stays_at_nine_across_march_dst() -> None:
    """The same meeting moves from 08:00Z to 07:00Z when Berlin springs forward on 30 March 2025."""
    first = datetime(2024, 1, 1, 9, tzinfo=BERLIN)
    starts = expand(
        WEEKLY_MONDAY,
        first_start=first,
        duration=HOUR,
        tz=BERLIN,
        window_start=utc(2025, 3, 20),
        window_end=utc(2025, 4, 8),
    )
    assert starts == [utc(2025, 3, 24, 8), utc(2025, 3, 31, 7), utc(2025, 4, 7, 7)]


def test_nonexistent_wall_time_is_shifted_forward() -> None:
    """02:30 does not exist in Berlin on 30 March 2025; that occurrence starts at 03:30 CEST instead."""
    daily = rec({"type": "daily", "interval": 1}, no_end("2025-03-29"))
    starts = local(daily, datetime(2025, 3, 29, 2, 30, tzinfo=BERLIN), (utc(2025, 3, 28), utc(2025, 4, 1)))
    assert [(s.day, s.hour, s.minute) for s in starts] == [(29, 2, 30), (30, 3, 30), (31, 2, 30)]


def test_ambiguous_wall_time_takes_the_first_instant() -> None:
    """02:30 happens twice in Berlin on 27 October 2024; the occurrence takes the earlier, summer-time one."""
    daily = rec({"type": "daily", "interval": 1}, no_end("2024-10-26"))
    starts = expand(
        daily,
        first_start=datetime(2024, 10, 26, 2, 30, tzinfo=BERLIN),
        duration=HOUR,
        tz=BERLIN,
        window_start=utc(2024, 10, 27),
        window_end=utc(2024, 10, 28),
    )
    assert starts == [utc(2024, 10, 27, 0, 30)]


def test_series_first_in_repeated_hour_still_takes_first_instant_later() -> None:
    """A series whose first start is the second 02:30 (fold=1) still uses the first 02:30 a year later."""
    daily = rec({"type": "daily", "interval": 1}, no_end("2024-10-27"))
    first = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN)
    starts = expand(
        daily,
        first_start=first,
        duration=HOUR,
        tz=BERLIN,
        window_start=utc(2025, 10, 26),
        window_end=utc(2025, 10, 27),
    )
    assert starts == [utc(2025, 10, 26, 0, 30)]


def test_date_missing_from_the_zone_gives_one_occurrence() -> None:
    """Samoa skipped 30 December 2011; a daily series has one occurrence on the 31st, not two."""
    apia = ZoneInfo("Pacific/Apia")
    daily = rec({"type": "daily", "interval": 1}, no_end("2011-12-28"))
    starts = local(
        daily, datetime(2011, 12, 28, 9, tzinfo=apia), (utc(2011, 12, 27), utc(2012, 1, 2)), tz=apia
    )
    assert [(s.day, s.hour) for s in starts] == [(28, 9), (29, 9), (31, 9), (1, 9), (2, 9)]


# --- patterns --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_day", "expected"),
    [("sunday", [date(2024, 1, 14), date(2024, 1, 28)]), ("monday", [date(2024, 1, 7), date(2024, 1, 21)])],
)
def test_biweekly_depends_on_first_day_of_week(first_day: str, expected: list[date]) -> None:
    """Every other Sunday from Monday 1 Jan 2024: firstDayOfWeek sets the week grid, so which Sundays."""
    pattern = {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday"], "firstDayOfWeek": first_day}
    starts = local(
        rec(pattern, no_end("2024-01-01")),
        datetime(2024, 1, 1, 10, tzinfo=BERLIN),
        (utc(2024, 1, 1), utc(2024, 2, 1)),
    )
    assert [s.date() for s in starts] == expected


def test_weekly_several_days_in_date_order() -> None:
    """A Monday/Wednesday/Friday series yields those days in date order, starting on the range startDate."""
    pattern = {"type": "weekly", "interval": 1, "daysOfWeek": ["friday", "monday", "wednesday"]}
    starts = local(
        rec(pattern, no_end("2024-01-03")),
        datetime(2024, 1, 3, 10, tzinfo=BERLIN),
        (utc(2024, 1, 1), utc(2024, 1, 13)),
    )
    assert [s.day for s in starts] == [3, 5, 8, 10, 12]


def test_absolute_monthly_31_falls_on_last_day_of_short_months() -> None:
    """Day 31 of every month falls on the last day of shorter months, as Outlook does."""
    pattern = {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}
    starts = local(
        rec(pattern, no_end("2024-01-01")),
        datetime(2024, 1, 31, 9, tzinfo=BERLIN),
        (utc(2024, 1, 1), utc(2024, 9, 1)),
    )
    assert [s.date() for s in starts] == [
        date(2024, m, d) for m, d in ((1, 31), (2, 29), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31))
    ]


def test_absolute_monthly_interval_counts_from_start_month() -> None:
    """Day 15 every third month from February: February, May, August, November."""
    pattern = {"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 15}
    starts = local(
        rec(pattern, no_end("2024-02-20")),
        datetime(2024, 2, 20, 9, tzinfo=BERLIN),
        (utc(2024, 1, 1), utc(2025, 1, 1)),
    )
    assert [s.date() for s in starts] == [date(2024, 5, 15), date(2024, 8, 15), date(2024, 11, 15)]


def test_relative_monthly_last_friday() -> None:
    """ "Last Friday of every month" lands on the final Friday, whether the month has four or five."""
    pattern = {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"}
    starts = local(
        rec(pattern, no_end("2024-01-01")),
        datetime(2024, 1, 26, 16, tzinfo=BERLIN),
        (utc(2024, 1, 1), utc(2024, 5, 1)),
    )
    assert [s.date() for s in starts] == [
        date(2024, 1, 26),
        date(2024, 2, 23),
        date(2024, 3, 29),
        date(2024, 4, 26),
    ]


def test_relative_monthly_first_weekday() -> None:
    """With several daysOfWeek the index counts days matching any of them ("first weekday of the month")."""
    weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"]
    pattern = {"type": "relativeMonthly", "interval": 1, "daysOfWeek": weekdays, "index": "first"}
    starts = local(
        rec(pattern, no_end("2024-06-01")),
        datetime(2024, 6, 3, 9, tzinfo=BERLIN),
        (utc(2024, 6, 1), utc(2024, 10, 1)),
    )
    assert [s.date() for s in starts] == [
        date(2024, 6, 3),
        date(2024, 7, 1),
        date(2024, 8, 1),
        date(2024, 9, 2),
    ]


def test_relative_yearly_fourth_thursday_of_november() -> None:
    """US Thanksgiving: the fourth Thursday of November each year."""
    pattern = {
        "type": "relativeYearly",
        "interval": 1,
        "month": 11,
        "daysOfWeek": ["thursday"],
        "index": "fourth",
    }
    starts = local(
        rec(pattern, no_end("2024-01-01")),
        datetime(2024, 11, 28, 12, tzinfo=NEW_YORK),
        (utc(2024, 1, 1), utc(2027, 1, 1)),
        tz=NEW_YORK,
    )
    assert [s.date() for s in starts] == [date(2024, 11, 28), date(2025, 11, 27), date(2026, 11, 26)]


def test_absolute_yearly_29_february_falls_on_28th_in_common_years() -> None:
    """29 February yearly falls on 28 February in common years (last day of the month)."""
    pattern = {"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29}
    starts = local(
        rec(pattern, no_end("2023-01-01")),
        datetime(2024, 2, 29, 9, tzinfo=BERLIN),
        (utc(2023, 1, 1), utc(2029, 1, 1)),
    )
    assert [s.date() for s in starts] == [
        date(2023, 2, 28),
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


# --- ranges ----------------------------------------------------------------------------------------------


def test_numbered_counts_occurrences_before_the_window() -> None:
    """Ten daily occurrences from 1 January: a window from 8 January sees only the 8th, 9th and 10th."""
    daily = rec(
        {"type": "daily", "interval": 1},
        {"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 10},
    )
    starts = local(daily, datetime(2024, 1, 1, 9, tzinfo=BERLIN), (utc(2024, 1, 8), utc(2024, 2, 1)))
    assert [s.day for s in starts] == [8, 9, 10]


def test_numbered_weekly_counts_partial_first_week() -> None:
    """Mon/Thu from Thursday 4 Jan 2024, 5 times: 4, 8, 11, 15, 18 January, even seen from a later window."""
    pattern = {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "thursday"]}
    series = rec(pattern, {"type": "numbered", "startDate": "2024-01-04", "numberOfOccurrences": 5})
    first = datetime(2024, 1, 4, 9, tzinfo=BERLIN)
    assert [s.day for s in local(series, first, (utc(2024, 1, 1), utc(2024, 3, 1)))] == [4, 8, 11, 15, 18]
    assert [s.day for s in local(series, first, (utc(2024, 1, 16), utc(2024, 3, 1)))] == [18]


def test_numbered_monthly_counts_short_months() -> None:
    """Day 31, three times from January: 31 January, 29 February, 31 March; none in a later window."""
    pattern = {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}
    series = rec(pattern, {"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 3})
    first = datetime(2024, 1, 31, 9, tzinfo=BERLIN)
    assert local(series, first, (utc(2024, 4, 1), utc(2025, 1, 1))) == []
    starts = local(series, first, (utc(2024, 1, 1), utc(2025, 1, 1)))
    assert [s.date() for s in starts] == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)]


def test_numbered_monthly_ignores_days_before_start_date() -> None:
    """Day 5 monthly from 10 January, 3 times: February, March, April (5 January precedes the start)."""
    pattern = {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 5}
    series = rec(pattern, {"type": "numbered", "startDate": "2024-01-10", "numberOfOccurrences": 3})
    starts = local(series, datetime(2024, 2, 5, 9, tzinfo=BERLIN), (utc(2024, 3, 1), utc(2025, 1, 1)))
    assert [s.date() for s in starts] == [date(2024, 3, 5), date(2024, 4, 5)]


def test_end_date_is_inclusive() -> None:
    """An endDate range includes an occurrence on the endDate itself (a local date)."""
    daily = rec(
        {"type": "daily", "interval": 1},
        {"type": "endDate", "startDate": "2024-01-01", "endDate": "2024-01-05"},
    )
    starts = local(daily, datetime(2024, 1, 1, 23, 30, tzinfo=BERLIN), (utc(2023, 12, 1), utc(2024, 2, 1)))
    assert [s.day for s in starts] == [1, 2, 3, 4, 5]


# --- window edges ----------------------------------------------------------------------------------------


def test_occurrence_ending_exactly_at_window_start_is_excluded() -> None:
    """[09:00, 10:00) does not overlap a window opening at 10:00."""
    starts = local(
        WEEKLY_MONDAY,
        datetime(2024, 1, 1, 9, tzinfo=UTC),
        (utc(2024, 1, 8, 10), utc(2024, 1, 9)),
        tz=ZoneInfo("UTC"),
    )
    assert starts == []


def test_occurrence_starting_exactly_at_window_end_is_excluded() -> None:
    """An occurrence starting at the window's (exclusive) end is outside it."""
    starts = local(
        WEEKLY_MONDAY,
        datetime(2024, 1, 1, 9, tzinfo=UTC),
        (utc(2024, 1, 7), utc(2024, 1, 8, 9)),
        tz=ZoneInfo("UTC"),
    )
    assert starts == []


def test_occurrence_straddling_window_start_is_included() -> None:
    """An occurrence still running when the window opens overlaps it."""
    starts = expand(
        WEEKLY_MONDAY,
        first_start=datetime(2024, 1, 1, 9, tzinfo=UTC),
        duration=HOUR,
        tz=ZoneInfo("UTC"),
        window_start=utc(2024, 1, 8, 9, 59),
        window_end=utc(2024, 1, 9),
    )
    assert starts == [utc(2024, 1, 8, 9)]


def test_zero_duration_occurrence_at_window_start_is_included() -> None:
    """A zero-length occurrence counts when window_start <= start < window_end."""
    kwargs: dict[str, Any] = {"first_start": datetime(2024, 1, 1, 9, tzinfo=UTC), "duration": timedelta(0)}
    kwargs["tz"] = ZoneInfo("UTC")
    assert expand(WEEKLY_MONDAY, window_start=utc(2024, 1, 8, 9), window_end=utc(2024, 1, 9), **kwargs) == [
        utc(2024, 1, 8, 9)
    ]
    assert expand(WEEKLY_MONDAY, window_start=utc(2024, 1, 8), window_end=utc(2024, 1, 8, 9), **kwargs) == []


# --- validation ------------------------------------------------------------------------------------------

GOOD_PATTERN: dict[str, Any] = {"type": "daily", "interval": 1}
GOOD_RANGE: dict[str, Any] = no_end("2024-01-01")


@pytest.mark.parametrize(
    ("pattern", "range_", "code"),
    [
        ({"type": "fortnightly", "interval": 1}, GOOD_RANGE, "RequestBodyRead"),
        ({"interval": 1}, GOOD_RANGE, "ErrorPropertyValidationFailure"),
        (GOOD_PATTERN, {"type": "forever", "startDate": "2024-01-01"}, "RequestBodyRead"),
        ({"type": "daily", "interval": 0}, GOOD_RANGE, "ErrorPropertyValidationFailure"),
        ({"type": "daily"}, GOOD_RANGE, "ErrorPropertyValidationFailure"),
        ({"type": "daily", "interval": None}, GOOD_RANGE, "RequestBodyRead"),
        ({"type": "daily", "interval": "1"}, GOOD_RANGE, "RequestBodyRead"),
        ({"type": "weekly", "interval": 1}, GOOD_RANGE, "ErrorPropertyValidationFailure"),
        ({"type": "weekly", "interval": 1, "daysOfWeek": []}, GOOD_RANGE, "ErrorPropertyValidationFailure"),
        ({"type": "weekly", "interval": 1, "daysOfWeek": ["funday"]}, GOOD_RANGE, "RequestBodyRead"),
        ({"type": "absoluteMonthly", "interval": 1}, GOOD_RANGE, "ErrorPropertyValidationFailure"),
        (
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32},
            GOOD_RANGE,
            "ErrorPropertyValidationFailure",
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "index": "last"},
            GOOD_RANGE,
            "ErrorPropertyValidationFailure",
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 1},
            GOOD_RANGE,
            "ErrorPropertyValidationFailure",
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "month": 13, "dayOfMonth": 1},
            GOOD_RANGE,
            "ErrorPropertyValidationFailure",
        ),
        ({"type": "absoluteYearly", "interval": 1, "month": 2}, GOOD_RANGE, "ErrorPropertyValidationFailure"),
        (
            {"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 30},
            GOOD_RANGE,
            "ErrorPropertyValidationFailure",
        ),
        (
            {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"]},
            GOOD_RANGE,
            "ErrorPropertyValidationFailure",
        ),
        ({"type": "daily", "interval": 1, "colour": "red"}, GOOD_RANGE, "RequestBodyRead"),
        (GOOD_PATTERN, {"type": "endDate", "startDate": "2024-01-01"}, "ErrorPropertyValidationFailure"),
        (
            GOOD_PATTERN,
            {"type": "endDate", "startDate": "2024-01-02", "endDate": "2024-01-01"},
            "ErrorPropertyValidationFailure",
        ),
        (
            GOOD_PATTERN,
            {"type": "endDate", "startDate": "2024-01-01", "endDate": "4501-01-01"},
            "ErrorRecurrenceEndDateTooBig",
        ),
        (GOOD_PATTERN, {"type": "numbered", "startDate": "2024-01-01"}, "ErrorPropertyValidationFailure"),
        (
            GOOD_PATTERN,
            {"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": -1},
            "ErrorPropertyValidationFailure",
        ),
        (GOOD_PATTERN, {"type": "noEnd"}, "ErrorPropertyValidationFailure"),
        (GOOD_PATTERN, no_end("2024-02-30"), "RequestBodyRead"),
        (GOOD_PATTERN, no_end("20240101"), "RequestBodyRead"),
        (GOOD_PATTERN, no_end("2024-01-01T00:00:00Z"), "RequestBodyRead"),
        (GOOD_PATTERN, None, "ErrorPropertyValidationFailure"),
        ([], GOOD_RANGE, "RequestBodyRead"),
    ],
)
def test_invalid_recurrences_are_rejected(pattern: Any, range_: Any, code: str) -> None:
    """Each recurrence Graph would refuse raises RecurrenceError with a message and a Graph error code."""
    with pytest.raises(RecurrenceError) as info:
        validate_recurrence({"pattern": pattern, "range": range_})
    assert info.value.message
    assert info.value.code == code


def test_unknown_top_level_property_is_rejected() -> None:
    """patternedRecurrence has only pattern and range; anything else is refused like OData does."""
    with pytest.raises(
        RecurrenceError, match=r"does not exist on type 'microsoft\.graph\.patternedRecurrence'"
    ):
        validate_recurrence({"pattern": GOOD_PATTERN, "range": GOOD_RANGE, "rrule": "FREQ=DAILY"})


def test_validate_returns_graph_output_shape() -> None:
    """Output has every key with Graph's defaults, canonical enum case, and sorted, de-duplicated days."""
    out = validate_recurrence(
        rec(
            {"type": "Weekly", "interval": 2, "daysOfWeek": ["Friday", "monday", "friday"], "dayOfMonth": 9},
            {
                "type": "NoEnd",
                "startDate": "2024-01-01",
                "numberOfOccurrences": 4,
                "recurrenceTimeZone": "UTC",
            },
        )
    )
    assert out == {
        "pattern": {
            "type": "weekly",
            "interval": 2,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": ["monday", "friday"],
            "firstDayOfWeek": "sunday",
            "index": "first",
        },
        "range": {
            "type": "noEnd",
            "startDate": "2024-01-01",
            "endDate": "0001-01-01",
            "recurrenceTimeZone": "UTC",
            "numberOfOccurrences": 0,
        },
    }
    assert validate_recurrence(out) == out


def test_validate_keeps_fields_the_type_uses() -> None:
    """relativeYearly keeps month, daysOfWeek and index; numbered keeps its count; endDate keeps its date."""
    pattern = {"type": "relativeYearly", "interval": 1, "month": 3, "daysOfWeek": ["sunday"], "index": "last"}
    out = validate_recurrence(
        rec(pattern, {"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 3})
    )
    assert out["pattern"] | {"dayOfMonth": 0, "firstDayOfWeek": "sunday"} == out["pattern"]
    assert out["pattern"]["month"] == 3
    assert out["pattern"]["index"] == "last"
    assert out["range"]["numberOfOccurrences"] == 3
    out = validate_recurrence(
        rec(GOOD_PATTERN, {"type": "endDate", "startDate": "2024-01-01", "endDate": "2024-02-01"})
    )
    assert out["range"]["endDate"] == "2024-02-01"
    assert out["range"]["recurrenceTimeZone"] is None


# --- limits and helpers ----------------------------------------------------------------------------------


def test_daily_series_from_1990_costs_a_week_in_2030_what_a_new_one_does() -> None:
    """Skipping ahead arithmetically makes a 40-year-old daily noEnd series as cheap to query as one that
    began a week earlier: a week of 2030 costs both the same work (walking from 1990 would generate 14,600
    days first). The target, 50 ms, is timed by bench/parse_bench.py."""

    def week_of_2030(since: date) -> tuple[list[datetime], int]:
        daily = rec({"type": "daily", "interval": 1}, no_end(since.isoformat()))
        first = datetime.combine(since, time(9), tzinfo=BERLIN)
        return calls_made(
            lambda: expand(
                daily,
                first_start=first,
                duration=HOUR,
                tz=BERLIN,
                window_start=utc(2030, 3, 4),
                window_end=utc(2030, 3, 11),
            )
        )

    starts, old = week_of_2030(date(1990, 1, 1))
    recent, new = week_of_2030(date(2030, 2, 25))
    assert len(starts) == 7
    assert starts == recent
    assert old <= new + 100, f"{old} calls from 1990, {new} from 2030"


def test_too_many_instances_raise() -> None:
    """More occurrences in the window than max_instances is an error, not a truncated answer."""
    daily = rec({"type": "daily", "interval": 1}, no_end("2024-01-01"))
    kwargs: dict[str, Any] = {"first_start": utc(2024, 1, 1, 9), "duration": HOUR, "tz": BERLIN}
    assert (
        len(
            expand(
                daily, window_start=utc(2024, 1, 1), window_end=utc(2024, 1, 11), max_instances=10, **kwargs
            )
        )
        == 10
    )
    with pytest.raises(RecurrenceError):
        expand(daily, window_start=utc(2024, 1, 1), window_end=utc(2024, 1, 12), max_instances=10, **kwargs)


def test_yearly_series_far_window_terminates() -> None:
    """Day 31 every twelfth month from April falls on 30 April; a window far ahead is reached quickly."""
    pattern = {"type": "absoluteMonthly", "interval": 12, "dayOfMonth": 31}
    kwargs: dict[str, Any] = {"first_start": utc(2024, 4, 1, 9), "duration": HOUR, "tz": BERLIN}
    starts = expand(
        rec(pattern, no_end("2024-04-01")), window_start=utc(9000, 1, 1), window_end=utc(9002, 1, 1), **kwargs
    )
    assert [s.date() for s in starts] == [date(9000, 4, 30), date(9001, 4, 30)]


def test_naive_datetimes_are_a_programming_error() -> None:
    """expand needs aware datetimes; a naive one is a caller bug (ValueError), not a client error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        expand(WEEKLY_MONDAY, first_start=datetime(2024, 1, 1, 9), duration=HOUR, tz=BERLIN,
               window_start=utc(2024, 1, 1), window_end=utc(2024, 2, 1))  # fmt: skip


def test_occurrence_id_date_is_local_yyyymmdd() -> None:
    """The occurrence-id date is the local date, zero-padded."""
    assert occurrence_id_date(datetime(2024, 3, 5, 23, 30, tzinfo=BERLIN)) == "20240305"
    assert occurrence_id_date(datetime(987, 1, 2)) == "09870102"


# --- properties ------------------------------------------------------------------------------------------

# A non-empty set of weekdays drawn as a 7-bit mask: no duplicate rejection, so no invalid examples.
day_sets = st.integers(1, 127).map(lambda mask: [d for i, d in enumerate(DAYS_OF_WEEK) if mask >> i & 1])
weekly_patterns = st.fixed_dictionaries(
    {
        "type": st.just("weekly"),
        "interval": st.integers(1, 4),
        "daysOfWeek": day_sets,
        "firstDayOfWeek": st.sampled_from(DAYS_OF_WEEK),
    }
)


@given(
    pattern=weekly_patterns,
    tz=st.sampled_from([BERLIN, NEW_YORK]),
    start=st.dates(date(2023, 1, 1), date(2025, 12, 31)),
    hour=st.sampled_from([h for h in range(24) if h != 2]),  # 02:xx falls into both zones' spring-forward gap
    minute=st.sampled_from([0, 15, 30, 45]),
    count=st.none() | st.integers(1, 150),
)
def test_weekly_property(
    pattern: dict[str, Any], tz: ZoneInfo, start: date, hour: int, minute: int, count: int | None
) -> None:
    """Weekly series over 2 years keep the first wall time, rise strictly, use listed days, obey counts."""
    range_ = (
        {"type": "numbered", "startDate": start.isoformat(), "numberOfOccurrences": count}
        if count
        else no_end(start.isoformat())
    )
    first = datetime(start.year, start.month, start.day, hour, minute, tzinfo=tz)
    window = (first - timedelta(days=1), first + timedelta(days=731))
    starts = local(rec(pattern, range_), first, window, tz=tz)
    unbounded = local(rec(pattern, no_end(start.isoformat())), first, window, tz=tz)
    assert starts
    assert all((s.hour, s.minute) == (starts[0].hour, starts[0].minute) == (hour, minute) for s in starts)
    assert all(a < b for a, b in pairwise(starts))
    assert {DAYS_OF_WEEK[(s.weekday() + 1) % 7] for s in starts} <= set(pattern["daysOfWeek"])
    assert len(starts) == (min(count, len(unbounded)) if count else len(unbounded))
    assert starts == unbounded[: len(starts)]


any_patterns = st.one_of(
    st.fixed_dictionaries({"type": st.just("daily"), "interval": st.integers(1, 10)}),
    weekly_patterns,
    st.fixed_dictionaries(
        {"type": st.just("absoluteMonthly"), "interval": st.integers(1, 13), "dayOfMonth": st.integers(1, 31)}
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["relativeMonthly", "relativeYearly"]),
            "interval": st.integers(1, 3),
            "month": st.integers(1, 12),
            "daysOfWeek": day_sets,
            "index": st.sampled_from(["first", "second", "third", "fourth", "last"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("absoluteYearly"),
            "interval": st.integers(1, 4),
            "month": st.integers(1, 12),
            "dayOfMonth": st.integers(1, 28),
        }
    ),
)


@given(
    pattern=any_patterns,
    count=st.none() | st.integers(1, 60),
    offset_days=st.integers(0, 1500),
    span_days=st.integers(1, 120),
    duration_hours=st.integers(0, 30),
)
def test_skipping_ahead_matches_full_expansion(
    pattern: dict[str, Any], count: int | None, offset_days: int, span_days: int, duration_hours: int
) -> None:
    """A late window returns exactly the occurrences a full expansion from the start would put there."""
    start = date(2020, 2, 10)
    range_ = (
        {"type": "numbered", "startDate": "2020-02-10", "numberOfOccurrences": count}
        if count
        else no_end("2020-02-10")
    )
    series, duration = rec(pattern, range_), timedelta(hours=duration_hours)
    first = datetime(2020, 2, 10, 9, 30, tzinfo=BERLIN)
    window_start = datetime.combine(start + timedelta(days=offset_days), datetime.min.time(), tzinfo=UTC)
    window_end = window_start + timedelta(days=span_days)
    kwargs: dict[str, Any] = {"first_start": first, "duration": duration, "tz": BERLIN}
    full = expand(
        series, window_start=utc(2020, 1, 1), window_end=window_end, max_instances=100_000, **kwargs
    )
    expected = [s for s in full if s + duration > window_start or (not duration and s >= window_start)]
    assert expand(series, window_start=window_start, window_end=window_end, **kwargs) == expected
