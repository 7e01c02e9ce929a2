"""getSchedule: free/busy views, items, errors and permissions (graphemu.graph.schedule)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphemu import create_app, world_from_seed
from graphemu.testing import EmulatorTransport
from tests.graphemu.conftest import SEED, mint

ALEX = "alex@contoso.onmicrosoft.com"
MEGAN = "megan@contoso.onmicrosoft.com"
ADELE = "adele@contoso.onmicrosoft.com"
PST = "Pacific Standard Time"
DIGITS = {"free": 0, "workingElsewhere": 0, "unknown": 0, "tentative": 1, "busy": 2, "oof": 3}


def when(text: str, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": text, "timeZone": zone}


def event(subject: str, start: str, end: str, zone: str = "UTC", **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": when(start, zone), "end": when(end, zone), **extra}


def body(*schedules: str, start: str, end: str, zone: str = "UTC", interval: Any = 60) -> dict[str, Any]:
    return {
        "schedules": list(schedules),
        "startTime": when(start, zone),
        "endTime": when(end, zone),
        "availabilityViewInterval": interval,
    }


async def put(graph: httpx.AsyncClient, user: str, item: dict[str, Any]) -> dict[str, Any]:
    response = await graph.post(f"/users/{user}/events", json=item)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_the_docs_example_in_pacific_time(graph: httpx.AsyncClient) -> None:
    """Megan's four items (busy, tentative, busy, tentative) merge into "200220010" at 60 minutes, as in
    calendar-getschedule.md; times come back in the Prefer zone, echoed in Preference-Applied."""
    await put(graph, ALEX, event("Let's go for lunch", "2019-03-15T12:00:00", "2019-03-15T14:00:00", PST,
                                 location={"displayName": "Harry's Bar"}))  # fmt: skip
    for start, end, show in [("08:30", "09:30", "busy"), ("12:00", "14:00", "busy"),
                             ("12:00", "13:00", "tentative"), ("16:00", "17:00", "tentative")]:  # fmt: skip
        await put(
            graph, MEGAN, event("x", f"2019-03-15T{start}:00", f"2019-03-15T{end}:00", PST, showAs=show)
        )
    response = await graph.post(
        f"/users/{ADELE}/calendar/getSchedule",
        headers={"Prefer": f'outlook.timezone="{PST}"'},
        json=body(ALEX, MEGAN, start="2019-03-15T09:00:00", end="2019-03-15T18:00:00", zone=PST),
    )
    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == f'outlook.timezone="{PST}"'
    alex, megan = response.json()["value"]
    assert (alex["scheduleId"], alex["availabilityView"]) == (ALEX, "000220000")
    assert alex["scheduleItems"] == [
        {
            "isPrivate": False,
            "status": "busy",
            "subject": "Let's go for lunch",
            "location": "Harry's Bar",
            "start": when("2019-03-15T12:00:00.0000000", PST),
            "end": when("2019-03-15T14:00:00.0000000", PST),
        }
    ]
    assert megan["availabilityView"] == "200220010"
    items = megan["scheduleItems"]  # by start; the order of two items starting together is not specified
    assert [i["start"]["dateTime"] for i in items] == sorted(i["start"]["dateTime"] for i in items)
    assert sorted(i["status"] for i in items) == ["busy", "busy", "tentative", "tentative"]
    assert megan["workingHours"]["daysOfWeek"][0] == "monday"


async def test_series_private_oof_and_free_items(graph: httpx.AsyncClient) -> None:
    """Occurrences of a series count; a private item hides subject and location; oof is 3; a free item
    is listed without making a digit; a deleted occurrence is gone."""
    master = await put(graph, ALEX, event("Standup", "2026-03-02T09:00:00", "2026-03-02T09:30:00",
                       recurrence={"pattern": {"type": "daily", "interval": 1},
                                   "range": {"type": "numbered", "startDate": "2026-03-02",
                                             "numberOfOccurrences": 3}}))  # fmt: skip
    await put(
        graph, ALEX, event("Doctor", "2026-03-03T11:00:00", "2026-03-03T12:00:00", sensitivity="private")
    )
    await put(graph, ALEX, event("Away", "2026-03-03T13:00:00", "2026-03-03T14:00:00", showAs="oof"))
    await put(graph, ALEX, event("Focus", "2026-03-03T15:00:00", "2026-03-03T16:00:00", showAs="free"))
    instances = await graph.get(
        f"/users/{ALEX}/events/{master['id']}/instances",
        params={"startDateTime": "2026-03-04T00:00:00Z", "endDateTime": "2026-03-05T00:00:00Z"},
    )
    gone = await graph.delete(f"/users/{ALEX}/events/{instances.json()['value'][0]['id']}")
    assert gone.status_code == 204, gone.text
    response = await graph.post(
        f"/users/{ADELE}/calendar/getSchedule",
        json=body(ALEX, start="2026-03-02T08:00:00", end="2026-03-05T08:00:00", interval=1440),
    )
    assert response.status_code == 200, response.text
    (alex,) = response.json()["value"]
    assert alex["availabilityView"] == "230"
    private = next(i for i in alex["scheduleItems"] if i["isPrivate"])
    assert set(private) == {"isPrivate", "status", "start", "end"}
    assert [i["status"] for i in alex["scheduleItems"]] == ["busy", "busy", "busy", "oof", "free"]


async def test_unknown_mailboxes_and_policy_get_an_error_entry(graph: httpx.AsyncClient) -> None:
    """An unknown address or a user without a mailbox is an entry with an error; so is a mailbox outside
    the app's access policy. The call itself succeeds."""
    response = await graph.post(
        f"/users/{ADELE}/calendar/getSchedule",
        json=body("nobody@contoso.onmicrosoft.com", "nomail@contoso.onmicrosoft.com",
                  "outsider@contoso.onmicrosoft.com", ALEX,
                  start="2026-03-02T08:00:00", end="2026-03-02T10:00:00"),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    codes = [(v.get("error") or {}).get("responseCode") for v in response.json()["value"]]
    assert codes == ["ErrorMailRecipientNotFound", "ErrorMailRecipientNotFound", "ErrorAccessDenied", None]
    assert response.json()["value"][3]["availabilityView"] == "00"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"availabilityViewInterval": 4}, 400, "ErrorInvalidParameter"),
        ({"availabilityViewInterval": 1441}, 400, "ErrorInvalidParameter"),
        ({"availabilityViewInterval": "often"}, 400, "RequestBodyRead"),
        ({"schedules": []}, 400, "ErrorInvalidParameter"),
        ({"schedules": [ALEX] * 101}, 400, "ErrorInvalidParameter"),
        ({"schedules": "alex"}, 400, "RequestBodyRead"),
        ({"endTime": when("2026-03-02T08:00:00")}, 400, "ErrorInvalidParameter"),
        ({"endTime": when("2026-05-04T08:00:00")}, 400, "ErrorInvalidParameter"),
        (
            {"startTime": when("2026-03-02T08:00:00", "Greenwich Mean Time")},
            400,
            "TimeZoneNotSupportedException",
        ),
        ({"colour": "red"}, 400, "RequestBodyRead"),
    ],
)
async def test_invalid_bodies(
    graph: httpx.AsyncClient, change: dict[str, Any], status: int, code: str
) -> None:
    request = body(ALEX, start="2026-03-02T08:00:00", end="2026-03-02T10:00:00") | change
    response = await graph.post(f"/users/{ADELE}/calendar/getSchedule", json=request)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


async def test_permissions(app: Any) -> None:
    """Calendars.Read is enough (app or delegated through /me); User.Read.All alone is 403."""
    request = body(ALEX, start="2026-03-02T08:00:00", end="2026-03-02T10:00:00", interval="30")
    tokens = {
        "app-read": (mint(app, roles=["Calendars.Read"]), f"/users/{ADELE}", 200),
        "app-none": (mint(app, roles=["User.Read.All"]), f"/users/{ADELE}", 403),
        "delegated": (mint(app, user=ADELE, scopes=["Calendars.Read"]), "/me", 200),
        "delegated-none": (mint(app, user=ADELE, scopes=["User.Read"]), "/me", 403),
    }
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app), base_url="https://graph.microsoft.com/v1.0"
    ) as g:
        for name, (token, prefix, status) in tokens.items():
            response = await g.post(
                f"{prefix}/calendar/getSchedule", json=request, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == status, (name, response.text)
            if status == 200:
                assert response.json()["value"][0]["availabilityView"] == "0000"


# -- property: every digit is the highest status overlapping its slot ------------------------------------

_APP = create_app(world_from_seed(SEED))
_BASE = datetime(2026, 3, 2, 8, tzinfo=UTC)
_items = st.lists(
    st.tuples(
        st.integers(min_value=-120, max_value=600),  # start, minutes from the window start
        st.integers(min_value=5, max_value=300),  # duration, minutes
        st.sampled_from(sorted(DIGITS)),
    ),
    max_size=6,
)


def _expected(items: list[tuple[int, int, str]], length: int, interval: int) -> str:
    """The view computed independently, minute by minute: a slot's digit is the highest status of the
    items covering any minute of it."""
    digits = []
    for first in range(0, length, interval):
        minutes = range(first, min(first + interval, length))
        covering = [DIGITS[s] for start, dur, s in items for m in minutes if start <= m < start + dur]
        digits.append(str(max(covering, default=0)))
    return "".join(digits)


@settings(deadline=None)
@given(items=_items, interval=st.sampled_from([5, 15, 30, 45, 60, 90]), length=st.integers(5, 480))
def test_view_digit_is_the_highest_overlapping_status(
    items: list[tuple[int, int, str]], interval: int, length: int
) -> None:
    async def run() -> str:
        async with httpx.AsyncClient(
            transport=EmulatorTransport(_APP),
            base_url="https://graph.microsoft.com/v1.0",
            headers={"Authorization": f"Bearer {mint(_APP)}"},
        ) as graph:
            made = []
            for start, duration, show in items:
                begin = _BASE + timedelta(minutes=start)
                created = await put(graph, MEGAN, event("p", begin.isoformat()[:19], (begin + timedelta(
                    minutes=duration)).isoformat()[:19], showAs=show))  # fmt: skip
                made.append(created["id"])
            try:
                end = _BASE + timedelta(minutes=length)
                response = await graph.post(
                    f"/users/{ADELE}/calendar/getSchedule",
                    json=body(
                        MEGAN, start=_BASE.isoformat()[:19], end=end.isoformat()[:19], interval=interval
                    ),
                )
                assert response.status_code == 200, response.text
                view: str = response.json()["value"][0]["availabilityView"]
                return view
            finally:
                for event_id in made:
                    await graph.delete(f"/users/{MEGAN}/events/{event_id}")

    assert asyncio.run(run()) == _expected(items, length, interval)
