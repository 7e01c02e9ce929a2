"""Time zone names Graph accepts, supportedTimeZones, and the dateTimeTimeZone wire format."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from graphemu.timezones import (
    TimeZoneNotSupported,
    canonical_name,
    parse_graph_datetime,
    resolve,
    supported_time_zones,
    to_output,
    windows_names,
)


@pytest.mark.parametrize(
    ("name", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("GMT Standard Time", "Europe/London"),
        ("UTC", "UTC"),
        ("Europe/London", "Europe/London"),
        ("America/New_York", "America/New_York"),
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("Asia/Calcutta", "Asia/Calcutta"),  # CLDR's legacy spelling is listed too
        ("Etc/GMT+12", "Etc/GMT+12"),
    ],
)
def test_accepted_names(name: str, iana: str) -> None:
    assert resolve(name) == ZoneInfo(iana)
    assert canonical_name(name) == name


def test_names_match_case_insensitively_and_echo_canonical_spelling() -> None:
    assert resolve("pacific standard time") == ZoneInfo("America/Los_Angeles")
    assert canonical_name("pacific standard time") == "Pacific Standard Time"
    assert canonical_name("europe/london") == "Europe/London"
    assert canonical_name("utc") == "UTC"


@pytest.mark.parametrize(
    "name", ["Greenwich Mean Time", "Mars/Olympus", "", " UTC", "America/Nuuk_typo", "Factory"]
)
def test_rejected_names(name: str) -> None:
    with pytest.raises(TimeZoneNotSupported) as info:
        resolve(name)
    assert info.value.name == name
    assert str(info.value) == (
        f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'."
    )
    assert isinstance(info.value, ValueError)


def test_greenwich_mean_time_message_exactly() -> None:
    with pytest.raises(TimeZoneNotSupported) as info:
        resolve("Greenwich Mean Time")
    assert str(info.value) == (
        "A valid TimeZone value must be specified. The following TimeZone value is not supported: "
        "'Greenwich Mean Time'."
    )


def test_windows_names_sorted_and_complete() -> None:
    names = windows_names()
    assert names == sorted(names)
    assert {"UTC", "Dateline Standard Time", "W. Europe Standard Time"} <= set(names)
    assert len(names) >= 130


def test_supported_time_zones_windows() -> None:
    items = supported_time_zones()
    assert len(items) >= 130
    assert all(set(item) == {"alias", "displayName"} for item in items)
    assert [item["alias"] for item in items].count("Dateline Standard Time") == 1
    by_alias = {item["alias"]: item["displayName"] for item in items}
    assert by_alias["Dateline Standard Time"].startswith("(UTC-12:00) ")
    assert by_alias["W. Europe Standard Time"] == "(UTC+01:00) Berlin"
    assert by_alias["AUS Eastern Standard Time"] == "(UTC+10:00) Sydney"  # southern hemisphere: no DST
    assert by_alias["Nepal Standard Time"].startswith("(UTC+05:45) ")
    assert by_alias["GMT Standard Time"].startswith("(UTC+00:00) ")
    assert by_alias["UTC"] == "(UTC+00:00) Coordinated Universal Time"
    assert by_alias["UTC-11"] == "(UTC-11:00) Coordinated Universal Time-11"
    assert items[0]["alias"] == "Dateline Standard Time"  # ordered by offset
    assert all(re.fullmatch(r"\(UTC[+-]\d\d:\d\d\) .+", item["displayName"]) for item in items)
    assert sorted(by_alias) == windows_names()
    items[0]["alias"] = "mutated"
    assert supported_time_zones()[0]["alias"] == "Dateline Standard Time"


def test_supported_time_zones_iana() -> None:
    items = supported_time_zones("iana")
    aliases = [item["alias"] for item in items]
    assert aliases == sorted(aliases)
    assert all(item["alias"] == item["displayName"] for item in items)
    assert {"Europe/London", "America/New_York", "Asia/Kolkata", "Etc/GMT+12"} <= set(aliases)
    assert "" not in aliases
    for alias in aliases:
        resolve(alias)


def test_to_output_format_and_default_zone() -> None:
    moment = datetime(2017, 4, 15, 11, 0, tzinfo=UTC)
    assert to_output(moment, None) == ("2017-04-15T11:00:00.0000000", "UTC")
    text, zone = to_output(datetime(2017, 4, 15, 11, 0, 0, 123456, tzinfo=UTC), "utc")
    assert (text, zone) == ("2017-04-15T11:00:00.1234560", "UTC")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}", text)


def test_to_output_berlin_summer_and_winter() -> None:
    summer = datetime(2024, 7, 1, 9, 30, tzinfo=UTC)
    winter = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)
    assert to_output(summer, "W. Europe Standard Time") == (
        "2024-07-01T11:30:00.0000000",
        "W. Europe Standard Time",
    )
    assert to_output(winter, "W. Europe Standard Time") == (
        "2024-01-15T10:30:00.0000000",
        "W. Europe Standard Time",
    )
    assert to_output(summer, "Europe/Berlin")[0] == "2024-07-01T11:30:00.0000000"
    # An aware input in another zone is converted, not reinterpreted.
    assert to_output(summer.astimezone(ZoneInfo("Asia/Tokyo")), "UTC")[0] == "2024-07-01T09:30:00.0000000"


def test_to_output_rejects_naive_and_unknown_zone() -> None:
    with pytest.raises(ValueError, match="aware"):
        to_output(datetime(2024, 1, 1), "UTC")
    with pytest.raises(TimeZoneNotSupported):
        to_output(datetime(2024, 1, 1, tzinfo=UTC), "Greenwich Mean Time")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-07-01T11:30:00", datetime(2024, 7, 1, 9, 30, tzinfo=UTC)),
        ("2024-07-01T11:30:00.5", datetime(2024, 7, 1, 9, 30, 0, 500000, tzinfo=UTC)),
        ("2024-07-01T11:30:00.1234567", datetime(2024, 7, 1, 9, 30, 0, 123456, tzinfo=UTC)),  # truncated
        ("2024-07-01T11:30:00Z", datetime(2024, 7, 1, 11, 30, tzinfo=UTC)),  # explicit offset wins
        ("2024-07-01T11:30:00.0000000+05:30", datetime(2024, 7, 1, 6, 0, tzinfo=UTC)),
        ("2024-03-31T02:30:00", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),  # DST gap: 03:30 CEST
        ("2024-10-27T02:30:00", datetime(2024, 10, 27, 0, 30, tzinfo=UTC)),  # ambiguous: first (CEST)
    ],
)
def test_parse_graph_datetime_in_berlin(value: str, expected: datetime) -> None:
    parsed = parse_graph_datetime(value, "W. Europe Standard Time")
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2024-07-01",
        "2024-07-01 11:30:00",
        "2024-07-01T11:30",
        "2024-07-01T11:30:00.",
        "2024-07-01T11:30:00.12345678",
        "2024-02-30T00:00:00",
        "2024-07-01T24:00:00",
        "2024-07-01T11:30:00+24:00",
        "0001-01-01T00:00:00+01:00",
        "2024-07-01T11:30:00 ",
        "\u0662024-07-01T11:30:00",
    ],
)
def test_parse_graph_datetime_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="invalid dateTime"):
        parse_graph_datetime(value, "UTC")


def test_parse_graph_datetime_validates_zone_even_with_offset() -> None:
    with pytest.raises(TimeZoneNotSupported):
        parse_graph_datetime("2024-07-01T11:30:00Z", "Greenwich Mean Time")


_ZONES = [
    "UTC",
    "W. Europe Standard Time",
    "Pacific Standard Time",
    "GMT Standard Time",
    "AUS Eastern Standard Time",
    "Lord Howe Standard Time",
    "Nepal Standard Time",
    "Chatham Islands Standard Time",
    "Morocco Standard Time",
    "Dateline Standard Time",
    "Europe/London",
    "Europe/Dublin",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Africa/Monrovia",
    "Pacific/Apia",
    "Etc/GMT+12",
]


@settings(database=None, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2100, 12, 31, 23, 59, 59),
        timezones=st.just(UTC),
    ),
    zone_name=st.sampled_from(_ZONES),
)
@example(moment=datetime(2024, 10, 27, 0, 30, tzinfo=UTC), zone_name="W. Europe Standard Time")
@example(moment=datetime(2024, 10, 27, 1, 30, tzinfo=UTC), zone_name="W. Europe Standard Time")
@example(moment=datetime(2024, 4, 6, 15, 45, tzinfo=UTC), zone_name="Lord Howe Standard Time")
def test_parse_round_trips_to_output(moment: datetime, zone_name: str) -> None:
    text, echoed = to_output(moment, zone_name)
    parsed = parse_graph_datetime(text, echoed)
    # Graph's wire format has no offset, so the second occurrence of an ambiguous wall time cannot survive
    # the trip: it comes back as the first (fold=0). Everything else must round-trip exactly.
    local = moment.astimezone(resolve(zone_name))
    assert parsed == local.replace(fold=0).astimezone(UTC)
    if local.replace(fold=0).utcoffset() == local.replace(fold=1).utcoffset():
        assert parsed == moment
    assert to_output(parsed, zone_name) == (text, echoed)
