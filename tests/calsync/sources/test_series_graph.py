"""The RRULE -> patternedRecurrence translation is exact: graphemu's expander (which follows the Graph docs)
gives the same occurrences as dateutil's reading of the RRULE, across DST, whenever a pattern is returned."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from icalendar import vRecur

from calsync.sources.recurrence import build_rule
from calsync.sources.series_graph import Untranslatable, to_patterned
from graphemu.recurrence import expand

ZONES = ["Europe/Berlin", "America/New_York", "UTC", "Australia/Sydney"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _rule(text: str, first: datetime) -> object:
    recur = vRecur.from_ical(text)
    zone = first.tzinfo

    def until(value: date | datetime) -> datetime:
        if isinstance(value, datetime):
            return value.astimezone(zone)
        return datetime.combine(value, time(23, 59, 59), tzinfo=zone)

    return build_rule(recur, first, until)


def _translate(text: str, first: datetime, zone: str) -> dict[str, object]:
    recur = vRecur.from_ical(text)
    parts = {str(k).upper(): v for k, v in recur.items()}
    return to_patterned(parts, _rule(text, first), first, zone)


@st.composite
def rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
    if freq in ("DAILY", "WEEKLY") and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=4, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    if freq in ("MONTHLY", "YEARLY"):
        kind = draw(st.sampled_from(["none", "monthday", "ordinal"]))
        if kind == "monthday":
            parts.append(f"BYMONTHDAY={draw(st.integers(1, 31))}")
        elif kind == "ordinal":
            parts.append(f"BYDAY={draw(st.sampled_from(['1', '2', '3', '4', '-1', '5', '-2']))}"
                         f"{draw(st.sampled_from(DAYS))}")  # fmt: skip
        if freq == "YEARLY" and (kind != "none" or draw(st.booleans())):
            parts.append(f"BYMONTH={draw(st.integers(1, 12))}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    end = draw(st.sampled_from(["count", "until", "none"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif end == "until":
        until = draw(st.dates(date(2026, 1, 1), date(2029, 12, 31)))
        parts.append(f"UNTIL={until:%Y%m%d}T{draw(st.integers(0, 23)):02d}0000Z")
    return ";".join(parts)


@given(
    text=rules(),
    day=st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    clock=st.sampled_from([time(0, 30), time(9, 15), time(17, 0), time(23, 45)]),
    zone=st.sampled_from(ZONES),
)
def test_translated_patterns_give_the_rules_occurrences(text: str, day: date, clock: time, zone: str) -> None:
    tz = ZoneInfo(zone)
    first = datetime.combine(day, clock, tzinfo=tz)
    try:
        recurrence = _translate(text, first, zone)
    except Untranslatable:
        assume(False)
        return
    window_start, window_end = (
        first.astimezone(UTC) - timedelta(days=1),
        first.astimezone(UTC) + timedelta(days=1200),
    )
    rule = _rule(text, first)
    wanted = []
    for moment in rule:  # type: ignore[attr-defined]
        if moment.astimezone(UTC) >= window_end:
            break
        wanted.append(moment.astimezone(UTC))
    got = expand(
        recurrence,
        first_start=first,
        duration=timedelta(hours=1),
        tz=tz,
        window_start=window_start,
        window_end=window_end,
    )
    assert got == wanted


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "BYSETPOS unsupported"),
        ("FREQ=DAILY;BYHOUR=9,17", "BYHOUR unsupported"),
        ("FREQ=MONTHLY;BYMONTHDAY=31", "BYMONTHDAY beyond 28 or negative"),
        ("FREQ=MONTHLY;BYDAY=5FR", "BYDAY of several days or without ordinal 1-4 or -1"),
        ("FREQ=WEEKLY;BYDAY=TU", "DTSTART is not an occurrence of the rule"),
        ("FREQ=HOURLY", "FREQ=HOURLY"),
    ],
)
def test_rules_graph_cannot_express_say_why(text: str, reason: str) -> None:
    first = datetime(2026, 9, 7, 9, 15, tzinfo=ZoneInfo("Europe/Berlin"))  # a Monday
    with pytest.raises(Untranslatable) as caught:
        _translate(text, first, "Europe/Berlin")
    assert caught.value.reason == reason


def test_a_weekly_lecture_across_dst_keeps_its_wall_clock_time() -> None:
    first = datetime(2026, 9, 7, 9, 15, tzinfo=ZoneInfo("Europe/Berlin"))
    recurrence = _translate("FREQ=WEEKLY;UNTIL=20261214T235959Z", first, "Europe/Berlin")
    assert recurrence == {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
        "range": {"type": "endDate", "startDate": "2026-09-07", "endDate": "2026-12-14",
                  "recurrenceTimeZone": "W. Europe Standard Time"},
    }  # fmt: skip
