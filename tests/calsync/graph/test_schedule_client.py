"""The connector calls of GraphClient against graphemu over TLS: calendars create/update/delete, a series'
instances across pages, getSchedule and findMeetingTimes (delegated only), retried through throttling."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from calsync.graph import Conflict, Forbidden, GraphClient, NotFound
from graphemu import EmulatorConfig, World, world_from_seed
from graphemu.server import BackgroundServer, ServerInfo
from tests.calsync.graph.conftest import ADELE, ALEX, CLIENT, MEGAN, SEED

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def trust(info: ServerInfo) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=info.ca)


class TlsTokens:
    """Tokens from graphemu's control API over TLS: app-only, or delegated for `user` with `scopes`."""

    def __init__(self, info: ServerInfo, user: str | None = None, scopes: list[str] | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=info.base_url, verify=trust(info))
        self._body: dict[str, Any] = {"clientId": CLIENT}
        if user:
            self._body |= {"user": user, "scopes": scopes or []}

    async def token(self, *, force_refresh: bool = False) -> str:
        response = await self._http.post("/_emu/tokens", json=self._body)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerInfo, World]]:
    world = world_from_seed(SEED)
    with BackgroundServer(world, EmulatorConfig(), tls_dir=tmp_path_factory.mktemp("tls")) as info:
        yield info, world


async def client(info: ServerInfo, tokens: TlsTokens) -> GraphClient:
    return GraphClient(tokens, base_url=info.graph, verify=trust(info))


@pytest.fixture
async def graph(server: tuple[ServerInfo, World]) -> AsyncIterator[GraphClient]:
    tokens = TlsTokens(server[0])
    async with await client(server[0], tokens) as g:
        yield g
    await tokens.aclose()


@pytest.fixture
async def delegated(server: tuple[ServerInfo, World]) -> AsyncIterator[GraphClient]:
    tokens = TlsTokens(server[0], ADELE, ["Calendars.ReadWrite", "Calendars.Read.Shared"])
    async with await client(server[0], tokens) as g:
        yield g
    await tokens.aclose()


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def event(subject: str, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    def when(value: datetime) -> dict[str, str]:
        return {"dateTime": value.replace(tzinfo=None).isoformat(), "timeZone": "UTC"}

    return {"subject": subject, "start": when(start), "end": when(end), **extra}


async def test_calendar_create_update_delete(graph: GraphClient) -> None:
    """A new calendar carries what Graph says calendars carry; a rename and a colour stick; a taken name is
    409; a delete reports True, then False once gone, and a read is 404."""
    made = await graph.create_calendar(ALEX, "Exams", color="lightBlue")
    assert made["name"] == "Exams"
    assert (made["canEdit"], made["isDefaultCalendar"], made["isRemovable"]) == (True, False, True)
    assert made["allowedOnlineMeetingProviders"] == ["teamsForBusiness"]
    assert made["owner"]["address"] == ALEX
    with pytest.raises(Conflict):
        await graph.create_calendar(ALEX, "exams")
    changed = await graph.update_calendar(ALEX, made["id"], {"name": "Finals", "color": "lightRed"})
    assert (changed["name"], changed["color"]) == ("Finals", "lightRed")
    assert changed["changeKey"] != made["changeKey"]
    assert await graph.delete_calendar(ALEX, made["id"]) is True
    assert await graph.delete_calendar(ALEX, made["id"]) is False
    with pytest.raises(NotFound):
        await graph.get_calendar(ALEX, made["id"])


async def test_instances_follow_pages(graph: GraphClient) -> None:
    """25 daily occurrences come back in pages of 10, each once, in order; a window cuts them."""
    recurrence = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 25},
    }
    master = await graph.create_event(MEGAN, event("Daily", at(7), at(7, 30), recurrence=recurrence))
    found = [i async for i in graph.instances(MEGAN, master["id"], at(0), at(0, day=30), page_size=10)]
    assert len({i["id"] for i in found}) == 25
    assert [i["start"]["dateTime"][:10] for i in found][:2] == ["2026-03-02", "2026-03-03"]
    assert all(i["seriesMasterId"] == master["id"] and i["type"] == "occurrence" for i in found)
    some = [i async for i in graph.instances(MEGAN, master["id"], at(0, day=3), at(0, day=5))]
    assert len(some) == 2
    with pytest.raises(NotFound):
        [i async for i in graph.instances(MEGAN, "AAMkAGI2TG93AAA=", at(0), at(0, day=1))]


async def test_get_schedule(graph: GraphClient) -> None:
    """Busy and tentative items make digits; an unknown address is an error entry; Prefer applies."""
    await graph.create_event(ALEX, event("Busy", at(9), at(10)))
    await graph.create_event(ALEX, event("Maybe", at(10, 30), at(11), showAs="tentative"))
    alex, nobody = await graph.get_schedule(ADELE, [ALEX, "nobody@contoso.onmicrosoft.com"], at(8), at(12))
    assert alex["availabilityView"] == "00220100"
    assert [i["status"] for i in alex["scheduleItems"]] == ["busy", "tentative"]
    assert nobody["error"]["responseCode"] == "ErrorMailRecipientNotFound"
    (hourly,) = await graph.get_schedule(
        ADELE, [ALEX], at(8), at(12), interval_minutes=60, time_zone="W. Europe Standard Time"
    )
    assert hourly["availabilityView"] == "0210"
    assert hourly["scheduleItems"][0]["start"] == {
        "dateTime": "2026-03-02T10:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }


async def test_find_meeting_times_is_delegated_only(graph: GraphClient, delegated: GraphClient) -> None:
    """App-only is refused (403); Adele signed in gets the free hours around Megan's meeting."""
    window = [(at(9, day=1), at(12, day=1))]
    with pytest.raises(Forbidden):
        await graph.find_meeting_times(ADELE, attendees=[MEGAN], slots=window)
    await graph.create_event(MEGAN, event("Review", at(9, day=1), at(10, day=1)))
    result = await delegated.find_meeting_times(
        "me", attendees=[MEGAN], slots=window, duration=timedelta(hours=1), minimum_attendee_percentage=100
    )
    assert result["emptySuggestionsReason"] == ""
    starts = [s["meetingTimeSlot"]["start"]["dateTime"][11:16] for s in result["meetingTimeSuggestions"]]
    assert starts == ["10:00", "10:30", "11:00"]
    none = await delegated.find_meeting_times(
        "me", attendees=[MEGAN], slots=[(at(9, day=1), at(10, day=1))], minimum_attendee_percentage=100
    )
    assert (none["emptySuggestionsReason"], none["meetingTimeSuggestions"]) == ("attendeesUnavailable", [])


async def test_reads_are_retried_through_throttling(
    server: tuple[ServerInfo, World], graph: GraphClient
) -> None:
    """getSchedule is a POST that only reads: injected 429s and 503s are retried to the same answer."""
    info, world = server
    await graph.create_event(MEGAN, event("Busy", at(9, day=2), at(10, day=2)))
    expected = await graph.get_schedule(ADELE, [MEGAN], at(8, day=2), at(12, day=2))
    async with httpx.AsyncClient(base_url=info.base_url, verify=trust(info)) as control:
        faults = {"rate": 0.6, "statuses": [429, 503], "methods": ["POST"], "retry_after": 0.01, "seed": 3}
        (await control.put("/_emu/faults", json=faults)).raise_for_status()
        try:
            before = world.counters.injected_faults
            for _ in range(4):
                assert await graph.get_schedule(ADELE, [MEGAN], at(8, day=2), at(12, day=2)) == expected
            assert world.counters.injected_faults > before
        finally:
            (await control.put("/_emu/faults", json={"rate": 0.0})).raise_for_status()
