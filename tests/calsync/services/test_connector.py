"""calsync.services.connector against graphemu over TLS: inputs refused before anything is sent, Graph's
misleading 403s turned into plain errors, results as Graph answers them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calsync.graph import Conflict, GraphClient
from calsync.services import connector
from calsync.services.connector import DelegatedOnly, InvalidInput, MeetingQuery
from graphemu import World
from graphemu.server import ServerInfo
from tests.calsync.graph.conftest import ADELE, ALEX, MEGAN
from tests.calsync.graph.tlsemu import app_graph, tls_server, user_graph

__all__ = ["app_graph", "tls_server", "user_graph"]  # fixtures

TUESDAY = datetime(2026, 3, 3, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return TUESDAY + timedelta(days=day, hours=hour, minutes=minute)


async def test_calendar_inputs_are_checked_first(
    app_graph: GraphClient, tls_server: tuple[ServerInfo, World]
) -> None:
    """Bad names, colours and empty updates never reach Graph: the mailbox's calendars stay as they were."""
    world = tls_server[1]
    before = {c.name for c in world.calendars[world.find_user(ALEX).id].values()}  # type: ignore[union-attr]
    for call in (
        connector.create_calendar(app_graph, ALEX, "   "),
        connector.create_calendar(app_graph, ALEX, "x" * 256),
        connector.create_calendar(app_graph, ALEX, "Exams", color="purple"),
        connector.update_calendar(app_graph, ALEX, "AAMk"),
    ):
        with pytest.raises(InvalidInput):
            await call
    after = {c.name for c in world.calendars[world.find_user(ALEX).id].values()}  # type: ignore[union-attr]
    assert after == before


async def test_calendar_lifecycle(app_graph: GraphClient) -> None:
    made = await connector.create_calendar(app_graph, ALEX, "  Office hours ", color="LIGHTGREEN")
    assert (made["name"], made["color"]) == ("Office hours", "lightGreen")
    with pytest.raises(Conflict):
        await connector.create_calendar(app_graph, ALEX, "office HOURS")
    renamed = await connector.update_calendar(app_graph, ALEX, made["id"], name="Consultations")
    assert renamed["name"] == "Consultations"
    assert await connector.delete_calendar(app_graph, ALEX, made["id"]) is True
    assert await connector.delete_calendar(app_graph, ALEX, made["id"]) is False


async def test_default_calendar_is_not_deleted(app_graph: GraphClient) -> None:
    default = await app_graph.get_calendar(ALEX)
    with pytest.raises(InvalidInput, match="default"):
        await connector.delete_calendar(app_graph, ALEX, default["id"])
    assert (await app_graph.get_calendar(ALEX, default["id"]))["isDefaultCalendar"] is True


async def test_occurrences_stop_at_the_limit(app_graph: GraphClient) -> None:
    body: dict[str, Any] = {
        "subject": "Seminar",
        "start": {"dateTime": "2026-03-03T14:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-03T15:00:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
                       "range": {"type": "noEnd", "startDate": "2026-03-03"}},
    }  # fmt: skip
    master = await app_graph.create_event(ALEX, body)
    found = await connector.occurrences(app_graph, ALEX, master["id"], at(0), at(0, day=365), limit=12)
    assert len(found) == 12
    assert [o["start"]["dateTime"][:10] for o in found[:2]] == ["2026-03-03", "2026-03-10"]
    with pytest.raises(InvalidInput, match="after start"):
        await connector.occurrences(app_graph, ALEX, master["id"], at(1), at(0))
    with pytest.raises(InvalidInput, match="time zone"):
        await connector.occurrences(app_graph, ALEX, master["id"], datetime(2026, 3, 3), at(5))


@pytest.mark.parametrize(
    ("addresses", "start", "end", "interval", "message"),
    [
        ([], at(8), at(9), 30, "at least 1"),
        (["not an address"], at(8), at(9), 30, "not an email address"),
        ([ALEX] * 101, at(8), at(9), 30, "at most 100"),
        ([ALEX], at(8), at(8, day=63), 30, "62 days"),
        ([ALEX], at(8), at(9), 4, "between 5 and 1440"),
    ],
)
async def test_free_busy_inputs(
    app_graph: GraphClient, addresses: list[str], start: datetime, end: datetime, interval: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await connector.free_busy(app_graph, ADELE, addresses, start, end, interval_minutes=interval)


async def test_free_busy(app_graph: GraphClient) -> None:
    away = {
        "subject": "Away",
        "showAs": "oof",
        "start": {"dateTime": "2026-03-03T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-03T10:00:00", "timeZone": "UTC"},
    }
    await app_graph.create_event(MEGAN, away)
    (megan,) = await connector.free_busy(app_graph, ADELE, [MEGAN], at(8), at(11), interval_minutes=60)
    assert megan["availabilityView"] == "030"


async def test_meeting_times_need_a_signed_in_user(app_graph: GraphClient, user_graph: GraphClient) -> None:
    query = MeetingQuery(
        attendees=[MEGAN], start=at(13, day=1), end=at(15, day=1), duration=timedelta(hours=1)
    )
    with pytest.raises(DelegatedOnly, match="signed-in user"):
        await connector.meeting_times(app_graph, ADELE, query)
    result = await connector.meeting_times(user_graph, "me", query)
    starts = [s["meetingTimeSlot"]["start"]["dateTime"][11:16] for s in result["meetingTimeSuggestions"]]
    assert starts == ["13:00", "13:30", "14:00"]
    too_long = MeetingQuery(attendees=[MEGAN], start=at(13), end=at(14), duration=timedelta(hours=2))
    with pytest.raises(InvalidInput, match="longer than the window"):
        await connector.meeting_times(user_graph, "me", too_long)
