"""findMeetingTimes: delegated only, suggestions from free/busy, their order and the empty reasons
(graphemu.graph.meetingtimes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphemu import create_app, world_from_seed
from graphemu.testing import EmulatorTransport
from tests.graphemu.conftest import SEED, mint

ADELE = "adele@contoso.onmicrosoft.com"
ALEX = "alex@contoso.onmicrosoft.com"
PST = "Pacific Standard Time"
# Monday 2026-03-02, 09:00-12:00 UTC (the mailboxes' zone is UTC; work hours 08:00-17:00)
MORNING = {"start": {"dateTime": "2026-03-02T09:00:00", "timeZone": "UTC"},
           "end": {"dateTime": "2026-03-02T12:00:00", "timeZone": "UTC"}}  # fmt: skip


def request(*attendees: str, **extra: Any) -> dict[str, Any]:
    return {
        "attendees": [{"type": "required", "emailAddress": {"address": a}} for a in attendees],
        "timeConstraint": {"activityDomain": "work", "timeSlots": [MORNING]},
        "meetingDuration": "PT1H",
        **extra,
    }


@pytest.fixture
async def me(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Adele, signed in with Calendars.ReadWrite.Shared (and Calendars.ReadWrite for her own events)."""
    token = mint(app, user=ADELE, scopes=["Calendars.ReadWrite", "Calendars.ReadWrite.Shared"])
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def busy(graph: httpx.AsyncClient, user: str, start: str, end: str, show: str = "busy") -> None:
    response = await graph.post(
        f"/users/{user}/events",
        json={
            "subject": "x",
            "showAs": show,
            "start": {"dateTime": f"2026-03-02T{start}:00", "timeZone": "UTC"},
            "end": {"dateTime": f"2026-03-02T{end}:00", "timeZone": "UTC"},
        },
    )
    assert response.status_code == 201, response.text


def starts(result: dict[str, Any]) -> list[str]:
    return [s["meetingTimeSlot"]["start"]["dateTime"][11:16] for s in result["meetingTimeSuggestions"]]


async def test_app_only_and_missing_shared_scope_are_denied(app: Any, graph: httpx.AsyncClient) -> None:
    """The docs list no application permission; delegated needs a .Shared scope."""
    response = await graph.post(f"/users/{ADELE}/findMeetingTimes", json=request(ALEX))
    assert (response.status_code, response.json()["error"]["code"]) == (403, "ErrorAccessDenied")
    token = mint(app, user=ADELE, scopes=["Calendars.ReadWrite"])
    response = await graph.post(
        "/me/findMeetingTimes", json=request(ALEX), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    token = mint(app, user=ADELE, scopes=["Calendars.Read.Shared"])
    response = await graph.post(
        "/me/microsoft.graph.findMeetingTimes",
        json=request(ALEX),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text


async def test_suggestions_skip_busy_times_and_are_ordered(
    graph: httpx.AsyncClient, me: httpx.AsyncClient
) -> None:
    """Alex is busy 09:30-10:30: hour-long candidates overlapping it are not suggested at 100%; the rest come
    chronologically, numbered, with attendee availability and (when asked) a reason."""
    await busy(graph, ALEX, "09:30", "10:30")
    response = await me.post(
        "/me/findMeetingTimes",
        json=request(ALEX, minimumAttendeePercentage="100", returnSuggestionReasons="true", maxCandidates=10),
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["emptySuggestionsReason"] == ""
    assert starts(result) == ["10:30", "11:00"]
    first = result["meetingTimeSuggestions"][0]
    assert (first["order"], first["confidence"], first["organizerAvailability"]) == (1, 100, "free")
    assert first["attendeeAvailability"] == [
        {"attendee": {"type": "required", "emailAddress": {"address": ALEX}}, "availability": "free"}
    ]
    assert first["suggestionReason"]
    # With the default 50%, the busy times come too, after the free ones (confidence 0 < 50: no).
    default = (await me.post("/me/findMeetingTimes", json=request(ALEX))).json()
    assert starts(default) == ["10:30", "11:00"]
    assert "suggestionReason" not in default["meetingTimeSuggestions"][0]


async def test_confidence_orders_then_time(graph: httpx.AsyncClient, me: httpx.AsyncClient) -> None:
    """With an unknown attendee (49) and Alex busy at 09:00-10:00, free-for-both times (74.5) rank above."""
    await busy(graph, ALEX, "09:00", "10:00")
    response = await me.post(
        "/me/findMeetingTimes",
        json=request(ALEX, "stranger@elsewhere.example", minimumAttendeePercentage=0, maxCandidates=5),
    )
    result = response.json()
    assert [s["confidence"] for s in result["meetingTimeSuggestions"]] == [74.5, 74.5, 74.5, 24.5, 24.5]
    assert starts(result) == ["10:00", "10:30", "11:00", "09:00", "09:30"]
    assert [s["order"] for s in result["meetingTimeSuggestions"]] == [1, 2, 3, 4, 5]
    unknown = result["meetingTimeSuggestions"][0]["attendeeAvailability"][1]["availability"]
    assert unknown == "unknown"


async def test_empty_reasons(graph: httpx.AsyncClient, me: httpx.AsyncClient) -> None:
    """attendeesUnavailable, attendeesUnavailableOrUnknown, organizerUnavailable (not when the organizer is
    optional), locationsUnavailable, and a weekend for work hours."""
    await busy(graph, ALEX, "08:00", "13:00")
    result = (await me.post("/me/findMeetingTimes", json=request(ALEX))).json()
    assert (result["emptySuggestionsReason"], result["meetingTimeSuggestions"]) == (
        "attendeesUnavailable",
        [],
    )
    result = (await me.post("/me/findMeetingTimes", json=request("x@elsewhere.example"))).json()
    assert result["emptySuggestionsReason"] == "attendeesUnavailableOrUnknown"
    await busy(me, ADELE, "08:00", "13:00", show="oof")
    result = (await me.post("/me/findMeetingTimes", json=request())).json()
    assert result["emptySuggestionsReason"] == "organizerUnavailable"
    result = (await me.post("/me/findMeetingTimes", json=request(isOrganizerOptional=True))).json()
    assert result["meetingTimeSuggestions"][0]["organizerAvailability"] == "oof"
    located = request(locationConstraint={"isRequired": True, "suggestLocation": False, "locations": []},
                      isOrganizerOptional=True)  # fmt: skip
    assert (await me.post("/me/findMeetingTimes", json=located)).json()["emptySuggestionsReason"] == (
        "locationsUnavailable"
    )
    saturday = {"start": {"dateTime": "2026-03-07T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-03-07T12:00:00", "timeZone": "UTC"}}  # fmt: skip
    weekend = request(timeConstraint={"activityDomain": "work", "timeSlots": [saturday]})
    assert (await me.post("/me/findMeetingTimes", json=weekend)).json()["meetingTimeSuggestions"] == []
    weekend["timeConstraint"]["activityDomain"] = "personal"
    assert starts((await me.post("/me/findMeetingTimes", json=weekend)).json())[0] == "09:00"


async def test_prefer_time_zone_and_locations(me: httpx.AsyncClient) -> None:
    response = await me.post(
        "/me/findMeetingTimes",
        headers={"Prefer": f'outlook.timezone="{PST}"'},
        json=request(
            locationConstraint={
                "isRequired": False,
                "suggestLocation": False,
                "locations": [{"resolveAvailability": False, "displayName": "Hood"}],
            }
        ),
    )
    assert response.headers["Preference-Applied"] == f'outlook.timezone="{PST}"'
    first = response.json()["meetingTimeSuggestions"][0]
    assert first["meetingTimeSlot"]["start"] == {"dateTime": "2026-03-02T01:00:00.0000000", "timeZone": PST}
    assert first["locations"] == [{"displayName": "Hood"}]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"meetingDuration": "an hour"}, "RequestBodyRead"),
        ({"meetingDuration": "PT0M"}, "ErrorInvalidParameter"),
        ({"maxCandidates": -1}, "ErrorInvalidParameter"),
        ({"minimumAttendeePercentage": 101}, "ErrorInvalidParameter"),
        ({"isOrganizerOptional": "maybe"}, "RequestBodyRead"),
        ({"attendees": [{"type": "boss", "emailAddress": {"address": ALEX}}]}, "RequestBodyRead"),
        ({"timeConstraint": {"timeSlots": [{"start": MORNING["end"], "end": MORNING["start"]}]}},
         "ErrorInvalidParameter"),
        ({"when": "soon"}, "RequestBodyRead"),
    ],
)  # fmt: skip
async def test_invalid_bodies(me: httpx.AsyncClient, change: dict[str, Any], code: str) -> None:
    response = await me.post("/me/findMeetingTimes", json=request(ALEX) | change)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


# -- property: what is suggested respects the constraints, in the documented order ----------------------

_APP = create_app(world_from_seed(SEED))
_MONDAY = datetime(2026, 3, 2, 8, tzinfo=UTC)
_busy = st.lists(
    st.tuples(st.integers(0, 18), st.integers(1, 6), st.sampled_from(["busy", "tentative", "oof", "free"])),
    max_size=5,
)  # (start in half hours after Monday 08:00, length in half hours, showAs)


@settings(deadline=None)
@given(
    organizer=_busy,
    attendee=_busy,
    duration=st.integers(1, 4),
    minimum=st.sampled_from([0, 50, 100]),
    optional=st.booleans(),
    unknown=st.booleans(),
)
def test_suggestions_respect_the_constraints(
    organizer: list[tuple[int, int, str]],
    attendee: list[tuple[int, int, str]],
    duration: int,
    minimum: int,
    optional: bool,
    unknown: bool,
) -> None:
    """Each suggestion lies in the slot and the work hours, lasts the duration, reaches the minimum
    confidence, avoids the organizer's busy or away time unless optional, and the order is confidence
    (high to low) then time; when none is left, a reason is given."""
    half = timedelta(minutes=30)

    def spans(items: list[tuple[int, int, str]]) -> list[tuple[datetime, datetime, str]]:
        return [(_MONDAY + s * half, _MONDAY + (s + n) * half, show) for s, n, show in items]

    async def run() -> dict[str, Any]:
        app_token = mint(_APP)
        user_token = mint(_APP, user=ADELE, scopes=["Calendars.Read.Shared"])
        async with httpx.AsyncClient(transport=EmulatorTransport(_APP), base_url="https://graph.microsoft.com/v1.0",
                                     headers={"Authorization": f"Bearer {app_token}"}) as graph:  # fmt: skip
            made: list[tuple[str, str]] = []
            for who, items in ((ADELE, organizer), (ALEX, attendee)):
                for start, end, show in spans(items):
                    body = {"subject": "x", "showAs": show,
                            "start": {"dateTime": start.isoformat()[:19], "timeZone": "UTC"},
                            "end": {"dateTime": end.isoformat()[:19], "timeZone": "UTC"}}  # fmt: skip
                    created = await graph.post(f"/users/{who}/events", json=body)
                    made.append((who, created.json()["id"]))
            try:
                people = [ALEX, "stranger@elsewhere.example"] if unknown else [ALEX]
                body = request(*people, meetingDuration=f"PT{30 * duration}M", maxCandidates=100)
                body |= {"minimumAttendeePercentage": minimum, "isOrganizerOptional": optional}
                answer = await graph.post(
                    "/me/findMeetingTimes", headers={"Authorization": f"Bearer {user_token}"}, json=body
                )
                assert answer.status_code == 200, answer.text
                result: dict[str, Any] = answer.json()
                return result
            finally:
                for who, event_id in made:
                    await graph.delete(f"/users/{who}/events/{event_id}")

    result = asyncio.run(run())
    found = result["meetingTimeSuggestions"]
    slot_start, slot_end = datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)
    hard = [(s, e) for s, e, show in spans(organizer) if show in ("busy", "oof")]
    keys = []
    for item in found:
        start = datetime.fromisoformat(item["meetingTimeSlot"]["start"]["dateTime"][:19]).replace(tzinfo=UTC)
        end = datetime.fromisoformat(item["meetingTimeSlot"]["end"]["dateTime"][:19]).replace(tzinfo=UTC)
        assert slot_start <= start
        assert end <= slot_end
        assert end - start == duration * half
        assert item["confidence"] >= minimum
        if not optional:
            assert not any(s < end and e > start for s, e in hard)
        keys.append((-item["confidence"], start))
    assert keys == sorted(keys)
    assert [i["order"] for i in found] == list(range(1, len(found) + 1))
    assert (result["emptySuggestionsReason"] == "") == bool(found)
