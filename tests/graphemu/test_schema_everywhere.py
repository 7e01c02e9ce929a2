"""Every event, calendar and subscription graphemu returns validates against the v1.0 schema extract.

Issue 2: a client built on the schema must be able to read anything graphemu answers, from every route that
returns these entities: create, get, list, update, calendarView, instances, delta, $batch. The mailbox holds
the shapes that stress the schema: a fully specified single event, an all-day event, an online meeting, six
recurrence patterns with every range type, a series with an exception and a cancelled occurrence, events
with extended properties (expanded), and an event in a secondary calendar. `Seen` records what was checked,
so each test also proves it did not pass by checking nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.graphemu.schema import assert_valid

DOMAIN = "contoso.onmicrosoft.com"
ADELE = f"adele@{DOMAIN}"
U = f"/users/{ADELE}"
PACIFIC = "Pacific Standard Time"
TAG = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Color"
COUNT = "Integer {66f5a359-4659-4830-9070-00047ec6ac6e} Name Count"
EXPAND = f"singleValueExtendedProperties($filter=id eq '{TAG}' or id eq '{COUNT}')"
WINDOW = {"startDateTime": "2031-01-01T00:00:00Z", "endDateTime": "2031-03-01T00:00:00Z"}


def when(day: str, start: str, end: str, zone: str = "UTC") -> dict[str, Any]:
    return {
        "start": {"dateTime": f"{day}T{start}", "timeZone": zone},
        "end": {"dateTime": f"{day}T{end}", "timeZone": zone},
    }


def series(subject: str, day: str, pattern: dict[str, Any], rng: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": subject,
        **when(day, "09:00:00", "10:00:00", PACIFIC),
        "recurrence": {"pattern": pattern, "range": {"startDate": day, **rng}},
    }


# fmt: off
FULL = {
    "subject": "Everything set", "body": {"contentType": "HTML", "content": "<p>Agenda</p>"},
    **when("2031-01-06", "10:00:00", "11:30:00", PACIFIC),
    "location": {"displayName": "Conf Room 3", "locationType": "conferenceRoom"},
    "locations": [
        {"displayName": "Conf Room 3"},
        {"displayName": "Fourth Coffee", "coordinates": {"latitude": 47.672, "longitude": -102.103},
         "address": {"street": "4567 Main St", "city": "Redmond", "state": "WA", "countryOrRegion": "US",
                     "postalCode": "32008"}},
    ],
    "attendees": [
        {"type": kind, "emailAddress": {"name": name, "address": f"{name.split()[0].lower()}@{DOMAIN}"}}
        for kind, name in (("required", "Alex Wilber"), ("optional", "Megan Bowen"), ("resource", "Room"))
    ],
    "categories": ["Red category", "Blue category"], "importance": "high", "sensitivity": "private",
    "showAs": "tentative", "isReminderOn": True, "reminderMinutesBeforeStart": 30, "responseRequested": False,
    "hideAttendees": True, "allowNewTimeProposals": False, "transactionId": "schema-everywhere-1",
    "singleValueExtendedProperties": [{"id": TAG, "value": "Green"}, {"id": COUNT, "value": "7"}],
}
ALL_DAY = {"subject": "Holiday", "isAllDay": True, "showAs": "oof",
           "start": {"dateTime": "2031-01-08T00:00:00", "timeZone": "UTC"},
           "end": {"dateTime": "2031-01-10T00:00:00", "timeZone": "UTC"}}
ONLINE = {"subject": "Teams call", "isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness",
          **when("2031-01-07", "15:00:00", "15:30:00")}
SERIES = [
    series("Daily", "2031-01-05", {"type": "daily", "interval": 2},
           {"type": "numbered", "numberOfOccurrences": 5}),
    series("Weekly", "2031-01-06",
        {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"], "firstDayOfWeek": "monday"},
        {"type": "endDate", "endDate": "2031-02-26"}),
    series("Monthly", "2031-01-15", {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
           {"type": "noEnd"}),
    series("Relative monthly", "2031-01-09",
           {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["thursday"], "index": "second"},
           {"type": "numbered", "numberOfOccurrences": 3}),
    series("Yearly", "2031-02-10", {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 10, "month": 2},
           {"type": "noEnd"}),
    series("Relative yearly", "2031-01-31",
           {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["friday"], "index": "last", "month": 1},
           {"type": "numbered", "numberOfOccurrences": 2}),
]
# fmt: on


@dataclass
class Seen:
    """What was validated: counts by entity and by event type / feature."""

    counts: Counter[str] = field(default_factory=Counter)

    def check(self, kind: str, obj: dict[str, Any]) -> None:
        """Validate one object; removal stubs in delta lose their `@removed` annotation first."""
        if "@removed" in obj:
            assert set(obj) == {"@odata.type", "id", "@removed"}, obj
            obj = {k: v for k, v in obj.items() if k != "@removed"}
            self.counts["removed"] += 1
        assert_valid(kind, obj)
        self.counts[kind] += 1
        if kind == "event":
            self.counts[f"type:{obj.get('type')}"] += 1
            self.counts["allDay"] += obj.get("isAllDay") is True
            self.counts["online"] += obj.get("onlineMeeting") is not None
            self.counts["extended"] += bool(obj.get("singleValueExtendedProperties"))
            self.counts["zoned"] += (obj.get("start") or {}).get("timeZone") == PACIFIC

    def body(self, kind: str, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        """Validate an entity or every item of a collection response; returns the JSON body."""
        assert response.status_code == status, response.text
        data: dict[str, Any] = response.json()
        for item in data["value"] if isinstance(data.get("value"), list) else [data]:
            self.check(kind, item)
        return data

    async def pages(self, graph: httpx.AsyncClient, url: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Follow nextLinks to the end, validating every event on the way."""
        items: list[dict[str, Any]] = []
        response = await graph.get(url, **kwargs)
        while True:
            data = self.body("event", response)
            items += data["value"]
            link = data.get("@odata.nextLink")
            if not link:
                return items
            response = await graph.get(link, headers=kwargs.get("headers"))


@dataclass
class Mailbox:
    """Ids of what `mailbox` created, and what its create answers validated."""

    seen: Seen
    full: str = ""
    masters: list[str] = field(default_factory=list)
    weekly: str = ""
    exception: str = ""
    cancelled: str = ""
    secondary_calendar: str = ""
    secondary_event: str = ""


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def mailbox(graph: httpx.AsyncClient) -> Mailbox:
    """Adele's mailbox with every shape; creates (and the exception's PATCH) are validated on the way."""
    made = Mailbox(Seen())
    seen = made.seen
    made.full = seen.body("event", await graph.post(f"{U}/events", json=FULL), 201)["id"]
    for body in (ALL_DAY, ONLINE):
        seen.body("event", await graph.post(f"{U}/events", json=body), 201)
    for body in SERIES:
        made.masters.append(seen.body("event", await graph.post(f"{U}/events", json=body), 201)["id"])
    made.weekly = made.masters[1]
    first_two = (await graph.get(f"{U}/events/{made.weekly}/instances", params=WINDOW | {"$top": "2"})).json()
    made.exception, made.cancelled = (i["id"] for i in first_two["value"])
    moved = {"subject": "Weekly, moved", **when("2031-01-06", "13:00:00", "14:00:00", PACIFIC)}
    seen.body("event", await graph.patch(f"{U}/events/{made.exception}", json=moved))
    assert (await graph.delete(f"{U}/events/{made.cancelled}")).status_code == 204
    calendar = seen.body("calendar", await graph.post(f"{U}/calendars", json={"name": "Timetable"}), 201)
    made.secondary_calendar = calendar["id"]
    other = {"subject": "In a second calendar", **when("2031-01-12", "08:00:00", "09:00:00")}
    created = await graph.post(f"{U}/calendars/{made.secondary_calendar}/events", json=other)
    made.secondary_event = seen.body("event", created, 201)["id"]
    return made


async def test_creates_and_updates_validate(graph: httpx.AsyncClient, mailbox: Mailbox, seen: Seen) -> None:
    """Create and PATCH answers validate: single, all-day, online, six patterns, an exception."""
    changes = {
        "subject": "Changed",
        "isOnlineMeeting": True,
        "categories": [],
        "sensitivity": "normal",
        "singleValueExtendedProperties": [{"id": TAG, "value": "Blue"}],
    }
    seen.body("event", await graph.patch(f"{U}/events/{mailbox.full}", json=changes))
    master = {
        "recurrence": {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "noEnd", "startDate": "2031-01-05"},
        }
    }
    seen.body("event", await graph.patch(f"{U}/events/{mailbox.masters[0]}", json=master))
    created = mailbox.seen.counts
    assert (created["type:singleInstance"], created["type:seriesMaster"], created["type:exception"]) == (
        4,
        6,
        1,
    )
    assert (created["allDay"], created["online"], created["calendar"]) == (1, 1, 1)
    assert (seen.counts["online"], seen.counts["type:seriesMaster"]) == (1, 1)


async def test_lists_validate_with_every_option(
    graph: httpx.AsyncClient, mailbox: Mailbox, seen: Seen
) -> None:
    """Event lists in all three collections validate, with Prefer zone and text, $select, $expand, $filter."""
    prefer = {"Prefer": f'outlook.timezone="{PACIFIC}", outlook.body-content-type="text"'}
    listed = await seen.pages(graph, f"{U}/events", headers=prefer)
    assert len(listed) == 10
    await seen.pages(graph, f"{U}/calendar/events", params={"$top": "3"})
    await seen.pages(graph, f"{U}/calendars/{mailbox.secondary_calendar}/events")
    await seen.pages(
        graph, f"{U}/events", params={"$select": "subject,start,end,cancelledOccurrences,recurrence"}
    )
    await seen.pages(graph, f"{U}/events", params={"$expand": EXPAND})
    ext = f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq 'Green')"
    assert len(await seen.pages(graph, f"{U}/events", params={"$filter": ext, "$expand": EXPAND})) == 1
    assert seen.counts["extended"] == 2
    assert seen.counts["zoned"] >= 10


async def test_single_gets_validate(graph: httpx.AsyncClient, mailbox: Mailbox, seen: Seen) -> None:
    """GET of a single event, a master, an occurrence and an exception validates, in every path form."""
    seen.body("event", await graph.get(f"{U}/events/{mailbox.full}", params={"$expand": EXPAND}))
    seen.body("event", await graph.get(f"{U}/calendar/events/{mailbox.weekly}"))
    seen.body("event", await graph.get(f"{U}/events/{mailbox.exception}"))
    seen.body(
        "event",
        await graph.get(f"{U}/calendars/{mailbox.secondary_calendar}/events/{mailbox.secondary_event}"),
    )
    selected = await graph.get(
        f"{U}/events/{mailbox.weekly}", params={"$select": "subject,cancelledOccurrences"}
    )
    assert seen.body("event", selected)["cancelledOccurrences"]
    instances = (await graph.get(f"{U}/events/{mailbox.weekly}/instances", params=WINDOW)).json()["value"]
    occurrence = next(i["id"] for i in instances if i["type"] == "occurrence")
    seen.body(
        "event",
        await graph.get(f"{U}/events/{occurrence}", headers={"Prefer": f'outlook.timezone="{PACIFIC}"'}),
    )
    kinds = ("singleInstance", "seriesMaster", "exception", "occurrence")
    assert [seen.counts[f"type:{k}"] for k in kinds] == [2, 1, 1, 1]  # the $select answer has no type
    assert seen.counts["extended"] == 1


async def test_calendar_view_and_instances_validate(
    graph: httpx.AsyncClient, mailbox: Mailbox, seen: Seen
) -> None:
    """calendarView (all calendar forms) and every series' instances validate: occurrences and exceptions."""
    view = await seen.pages(graph, f"{U}/calendarView", params=WINDOW | {"$expand": EXPAND})
    assert {i["type"] for i in view} == {"singleInstance", "occurrence", "exception"}
    await seen.pages(graph, f"{U}/calendars/{mailbox.secondary_calendar}/calendarView", params=WINDOW)
    zoned = {"Prefer": f'outlook.timezone="{PACIFIC}"'}
    await seen.pages(graph, f"{U}/calendar/calendarView", params=WINDOW | {"$top": "4"}, headers=zoned)
    for master in mailbox.masters:
        await seen.pages(graph, f"{U}/events/{master}/instances", params=WINDOW)
    assert seen.counts["type:exception"] == 3
    assert seen.counts["type:occurrence"] > 40
    assert seen.counts["allDay"] == 2


async def test_delta_items_validate(graph: httpx.AsyncClient, mailbox: Mailbox, seen: Seen) -> None:
    """calendarView/delta pages validate in the first round and in a round with updates and removals."""

    async def round_from(url: str, **kwargs: Any) -> str:
        while True:
            data = seen.body("event", await graph.get(url, **kwargs))
            if "@odata.deltaLink" in data:
                return str(data["@odata.deltaLink"])
            url, kwargs = data["@odata.nextLink"], {}

    link = await round_from(
        f"{U}/calendarView/delta", params=WINDOW, headers={"Prefer": "odata.maxpagesize=7"}
    )
    first = Counter(seen.counts)
    assert first["type:occurrence"] > 20
    assert (await graph.patch(f"{U}/events/{mailbox.full}", json={"subject": "Delta"})).status_code == 200
    assert (await graph.delete(f"{U}/events/{mailbox.masters[3]}")).status_code == 204
    await round_from(link)
    assert seen.counts["removed"] == 2  # the relative-monthly series' occurrences in the window
    assert seen.counts["type:singleInstance"] == first["type:singleInstance"] + 1


async def test_batch_bodies_validate(graph: httpx.AsyncClient, mailbox: Mailbox, seen: Seen) -> None:
    """Event and calendar bodies inside $batch responses validate like direct answers."""
    requests = [
        {"id": "1", "method": "GET", "url": f"{U}/events/{mailbox.full}?$expand={EXPAND}"},
        {
            "id": "2",
            "method": "GET",
            "url": f"{U}/calendarView?startDateTime=2031-01-01&endDateTime=2031-02-01",
        },
        {
            "id": "3",
            "method": "POST",
            "url": f"{U}/events",
            "headers": {"Content-Type": "application/json"},
            "body": {**ONLINE, "subject": "Batched"},
        },
        {
            "id": "4",
            "method": "PATCH",
            "url": f"{U}/events/{mailbox.exception}",
            "headers": {"Content-Type": "application/json"},
            "body": {"subject": "Batched change"},
        },
        {"id": "5", "method": "GET", "url": f"{U}/calendars"},
        {
            "id": "6",
            "method": "GET",
            "url": f"{U}/events/{mailbox.weekly}/instances?startDateTime=2031-01-01&endDateTime=2031-02-01",
        },
    ]
    response = await graph.post("/$batch", json={"requests": requests})
    assert response.status_code == 200
    for item in response.json()["responses"]:
        assert item["status"] in (200, 201), item
        kind = "calendar" if item["id"] == "5" else "event"
        body = item["body"]
        for obj in body["value"] if isinstance(body.get("value"), list) else [body]:
            seen.check(kind, obj)
    assert seen.counts["calendar"] >= 3
    assert seen.counts["extended"] == 1


async def test_calendars_validate(graph: httpx.AsyncClient, mailbox: Mailbox, seen: Seen) -> None:
    """Calendars from list, get (default, by id, $select), create and update validate."""
    seen.body("calendar", await graph.get(f"{U}/calendars"))
    seen.body("calendar", await graph.get(f"{U}/calendar"))
    seen.body(
        "calendar",
        await graph.get(f"{U}/calendars/{mailbox.secondary_calendar}", params={"$select": "name,color"}),
    )
    seen.body(
        "calendar",
        await graph.patch(f"{U}/calendars/{mailbox.secondary_calendar}", json={"color": "lightBlue"}),
    )
    seen.body("calendar", await graph.get("/users/alex@contoso.onmicrosoft.com/calendars"))
    assert seen.counts["calendar"] == 7


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _receiver() -> httpx.ASGITransport:
    async def endpoint(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        return PlainTextResponse(token) if token is not None else Response(status_code=202)

    return httpx.ASGITransport(app=Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])]))


async def test_subscriptions_validate(app: Any, graph: httpx.AsyncClient, seen: Seen) -> None:
    """Subscription objects from create, get, list and renew validate against entity 'subscription'."""
    app.state.world.extra["notification_transport"] = _receiver()
    now = app.state.world.clock.now()
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": "https://hooks.example.com/notify",
        "lifecycleNotificationUrl": "https://hooks.example.com/lifecycle",
        "resource": f"{U}/events",
        "expirationDateTime": iso(now + timedelta(days=2)),
        "clientState": "secret",
    }
    created = seen.body("subscription", await graph.post("/subscriptions", json=body), 201)
    calendar_body = body | {"resource": f"{U}/calendar/events", "lifecycleNotificationUrl": None}
    seen.body("subscription", await graph.post("/subscriptions", json=calendar_body), 201)
    seen.body("subscription", await graph.get(f"/subscriptions/{created['id']}"))
    seen.body("subscription", await graph.get("/subscriptions"))
    renew = {"expirationDateTime": iso(now + timedelta(days=3))}
    seen.body("subscription", await graph.patch(f"/subscriptions/{created['id']}", json=renew))
    assert seen.counts["subscription"] == 6
