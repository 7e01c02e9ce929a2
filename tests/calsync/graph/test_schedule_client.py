"""The connector calls of GraphClient against graphemu over TLS: calendars create/update/delete, a series'
instances across pages, getSchedule and findMeetingTimes (delegated only), retried through throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.graph import Conflict, Forbidden, GraphClient, NotFound
from calsync.graph.schedule import iso_duration, utc_datetime_time_zone
from graphemu import World
from graphemu.graph.meetingtimes import parse_duration
from graphemu.server import ServerInfo
from tests.calsync.graph.conftest import ADELE, ALEX, MEGAN
from tests.calsync.graph.tlsemu import app_graph, tls_server, trust, user_graph

__all__ = ["app_graph", "tls_server", "user_graph"]  # fixtures

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def event(subject: str, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    def when(value: datetime) -> dict[str, str]:
        return {"dateTime": value.replace(tzinfo=None).isoformat(), "timeZone": "UTC"}

    return {"subject": subject, "start": when(start), "end": when(end), **extra}


async def test_calendar_create_update_delete(app_graph: GraphClient) -> None:
    """A new calendar carries what Graph says calendars carry; a rename and a colour stick; a taken name is
    409; a delete reports True, then False once gone, and a read is 404."""
    made = await app_graph.create_calendar(ALEX, "Exams", color="lightBlue")
    assert made["name"] == "Exams"
    assert (made["canEdit"], made["isDefaultCalendar"], made["isRemovable"]) == (True, False, True)
    assert made["allowedOnlineMeetingProviders"] == ["teamsForBusiness"]
    assert made["owner"]["address"] == ALEX
    with pytest.raises(Conflict):
        await app_graph.create_calendar(ALEX, "exams")
    changed = await app_graph.update_calendar(ALEX, made["id"], {"name": "Finals", "color": "lightRed"})
    assert (changed["name"], changed["color"]) == ("Finals", "lightRed")
    assert changed["changeKey"] != made["changeKey"]
    assert await app_graph.delete_calendar(ALEX, made["id"]) is True
    assert await app_graph.delete_calendar(ALEX, made["id"]) is False
    with pytest.raises(NotFound):
        await app_graph.get_calendar(ALEX, made["id"])


async def test_instances_follow_pages(app_graph: GraphClient) -> None:
    """25 daily occurrences come back in pages of 10, each once, in order; a window cuts them."""
    recurrence = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 25},
    }
    master = await app_graph.create_event(MEGAN, event("Daily", at(7), at(7, 30), recurrence=recurrence))
    found = [i async for i in app_graph.instances(MEGAN, master["id"], at(0), at(0, day=30), page_size=10)]
    assert len({i["id"] for i in found}) == 25
    assert [i["start"]["dateTime"][:10] for i in found][:2] == ["2026-03-02", "2026-03-03"]
    assert all(i["seriesMasterId"] == master["id"] and i["type"] == "occurrence" for i in found)
    some = [i async for i in app_graph.instances(MEGAN, master["id"], at(0, day=3), at(0, day=5))]
    assert len(some) == 2
    with pytest.raises(NotFound):
        [i async for i in app_graph.instances(MEGAN, "AAMkAGI2TG93AAA=", at(0), at(0, day=1))]


async def test_get_schedule(app_graph: GraphClient) -> None:
    """Busy and tentative items make digits; an unknown address is an error entry; Prefer applies."""
    await app_graph.create_event(ALEX, event("Busy", at(9), at(10)))
    await app_graph.create_event(ALEX, event("Maybe", at(10, 30), at(11), showAs="tentative"))
    alex, nobody = await app_graph.get_schedule(
        ADELE, [ALEX, "nobody@contoso.onmicrosoft.com"], at(8), at(12)
    )
    assert alex["availabilityView"] == "00220100"
    assert [i["status"] for i in alex["scheduleItems"]] == ["busy", "tentative"]
    assert nobody["error"]["responseCode"] == "ErrorMailRecipientNotFound"
    (hourly,) = await app_graph.get_schedule(
        ADELE, [ALEX], at(8), at(12), interval_minutes=60, time_zone="W. Europe Standard Time"
    )
    assert hourly["availabilityView"] == "0210"
    assert hourly["scheduleItems"][0]["start"] == {
        "dateTime": "2026-03-02T10:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }


async def test_find_meeting_times_is_delegated_only(app_graph: GraphClient, user_graph: GraphClient) -> None:
    """App-only is refused (403); Adele signed in gets the free hours around Megan's meeting."""
    window = [(at(9, day=1), at(12, day=1))]
    with pytest.raises(Forbidden):
        await app_graph.find_meeting_times(ADELE, attendees=[MEGAN], slots=window)
    await app_graph.create_event(MEGAN, event("Review", at(9, day=1), at(10, day=1)))
    result = await user_graph.find_meeting_times(
        "me", attendees=[MEGAN], slots=window, duration=timedelta(hours=1), minimum_attendee_percentage=100
    )
    assert result["emptySuggestionsReason"] == ""
    starts = [s["meetingTimeSlot"]["start"]["dateTime"][11:16] for s in result["meetingTimeSuggestions"]]
    assert starts == ["10:00", "10:30", "11:00"]
    none = await user_graph.find_meeting_times(
        "me", attendees=[MEGAN], slots=[(at(9, day=1), at(10, day=1))], minimum_attendee_percentage=100
    )
    assert (none["emptySuggestionsReason"], none["meetingTimeSuggestions"]) == ("attendeesUnavailable", [])


async def test_reads_are_retried_through_throttling(
    tls_server: tuple[ServerInfo, World], app_graph: GraphClient
) -> None:
    """getSchedule is a POST that only reads: injected 429s and 503s are retried to the same answer."""
    info, world = tls_server
    await app_graph.create_event(MEGAN, event("Busy", at(9, day=2), at(10, day=2)))
    expected = await app_graph.get_schedule(ADELE, [MEGAN], at(8, day=2), at(12, day=2))
    async with httpx.AsyncClient(base_url=info.base_url, verify=trust(info)) as control:
        faults = {"rate": 0.6, "statuses": [429, 503], "methods": ["POST"], "retry_after": 0.01, "seed": 3}
        (await control.put("/_emu/faults", json=faults)).raise_for_status()
        try:
            before = world.counters.injected_faults
            for _ in range(4):
                assert await app_graph.get_schedule(ADELE, [MEGAN], at(8, day=2), at(12, day=2)) == expected
            assert world.counters.injected_faults > before
        finally:
            (await control.put("/_emu/faults", json={"rate": 0.0})).raise_for_status()


@given(st.integers(min_value=1, max_value=7 * 24 * 3600))
def test_iso_duration_is_what_graph_reads(seconds: int) -> None:
    """Every positive whole-second duration survives the trip through graphemu's Edm.Duration reader."""
    assert parse_duration(iso_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


def test_naive_and_empty_values_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        utc_datetime_time_zone(datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="positive"):
        iso_duration(timedelta(0))
