"""Event routes: create/get/list/update/delete, paging, query options, If-Match, transactionId, time zones,
Teams meetings, read-only calendars, occurrences and exceptions, and Graph's validation errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from graphemu.graph.eventmodel import create_event, occurrence_id, parse_occurrence_id
from graphemu.graph.router import Context
from tests.graphemu.conftest import mint
from tests.graphemu.schema import assert_valid, check_response

ADELE = "adele@contoso.onmicrosoft.com"
EVENTS = f"/users/{ADELE}/events"
BERLIN = "W. Europe Standard Time"
CONFLICT = (
    "The send or update operation could not be performed because the change key passed in the request "
    "does not match the current change key for the item."
)
DATETIME7 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}")


@pytest.fixture(autouse=True)
def _every_response_is_schema_checked(graph: httpx.AsyncClient) -> None:
    """Every event and calendar this module receives through `graph` is validated against the schema."""
    graph.event_hooks["response"].append(check_response)


def body(**extra: Any) -> dict[str, Any]:
    """A minimal valid event body: one hour on 2024-07-01 at 09:00 Berlin time."""
    return {
        "subject": "Planning",
        "start": {"dateTime": "2024-07-01T09:00:00", "timeZone": BERLIN},
        "end": {"dateTime": "2024-07-01T10:00:00", "timeZone": BERLIN},
        **extra,
    }


def weekly(count: int = 5, **extra: Any) -> dict[str, Any]:
    """A weekly series on Mondays 09:00-10:00 Berlin time from 2024-01-01."""
    return body(
        start={"dateTime": "2024-01-01T09:00:00", "timeZone": BERLIN},
        end={"dateTime": "2024-01-01T10:00:00", "timeZone": BERLIN},
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": count},
        },
        **extra,
    )


async def create(
    graph: httpx.AsyncClient, payload: dict[str, Any], path: str = EVENTS, **kw: Any
) -> dict[str, Any]:
    response = await graph.post(path, json=payload, **kw)
    assert response.status_code == 201, response.text
    assert_valid("event", response.json())
    return dict(response.json())


def error(response: httpx.Response) -> tuple[int, str, str]:
    e = response.json()["error"]
    return response.status_code, e["code"], e["message"]


# -- create, get, shape --------------------------------------------------------------------------------


async def test_create_returns_201_with_the_full_event(graph, world) -> None:
    """POST answers 201 with every default property, W/"changeKey" etag, UTC 7-digit times and Location."""
    response = await graph.post(EVENTS, json=body(location={"displayName": "Harry's Bar"}))
    assert response.status_code == 201
    event = response.json()
    assert_valid("event", event)
    adele = world.find_user(ADELE)
    assert (
        event["@odata.context"]
        == f"https://graph.microsoft.com/v1.0/$metadata#users('{adele.id}')/events/$entity"
    )
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert response.headers["location"].endswith(f"/users('{adele.id}')/events('{event['id']}')")
    assert event["start"] == {"dateTime": "2024-07-01T07:00:00.0000000", "timeZone": "UTC"}
    assert event["end"] == {"dateTime": "2024-07-01T08:00:00.0000000", "timeZone": "UTC"}
    assert (event["originalStartTimeZone"], event["originalEndTimeZone"]) == (BERLIN, BERLIN)
    assert event["type"] == "singleInstance"
    assert event["seriesMasterId"] is None
    assert event["recurrence"] is None
    assert event["responseStatus"] == {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
    assert event["organizer"] == {"emailAddress": {"name": "Adele Vance", "address": ADELE}}
    assert (event["isOrganizer"], event["isReminderOn"], event["reminderMinutesBeforeStart"]) == (
        True,
        True,
        15,
    )
    assert (event["importance"], event["sensitivity"], event["showAs"]) == ("normal", "normal", "busy")
    assert event["transactionId"] is None
    assert event["onlineMeeting"] is None
    assert event["isOnlineMeeting"] is False
    harrys = "Harry's Bar"
    assert event["location"] == {
        "displayName": harrys,
        "locationType": "default",
        "uniqueId": harrys,
        "uniqueIdType": "private",
    }
    assert event["locations"] == [
        {"displayName": "Harry's Bar", "locationType": "default", "uniqueIdType": "unknown"}
    ]
    assert event["iCalUId"].startswith("040000008200E00074C5B7101A82E008")
    assert len(event["iCalUId"]) == 112
    assert "singleValueExtendedProperties" not in event
    assert (await graph.get(f"{EVENTS}/{event['id']}")).json()["id"] == event["id"]


async def test_body_becomes_html_and_preview_is_text(graph) -> None:
    """A text body comes back as an HTML document; bodyPreview is its text; Prefer text returns text."""
    event = await create(graph, body(body={"contentType": "text", "content": "Bring <notes>\nplease"}))
    assert event["body"]["contentType"] == "html"
    assert event["body"]["content"].startswith("<html>")
    assert "Bring &lt;notes&gt;<br>" in event["body"]["content"]
    assert event["bodyPreview"] == "Bring <notes> please"
    response = await graph.get(
        f"{EVENTS}/{event['id']}", headers={"Prefer": 'outlook.body-content-type="text"'}
    )
    assert response.json()["body"] == {"contentType": "text", "content": "Bring <notes>\r\nplease"}
    assert response.headers["preference-applied"] == 'outlook.body-content-type="text"'


async def test_create_in_named_calendar_and_scoped_paths(graph) -> None:
    """Events created under calendars/{id}/events are found by users/{u}/events/{id} but not via /calendar."""
    calendar = (await graph.post(f"/users/{ADELE}/calendars", json={"name": "Side"})).json()
    path = f"/users/{ADELE}/calendars/{calendar['id']}/events"
    event = await create(graph, body(), path)
    assert event["@odata.context"].endswith(f"/calendars('{calendar['id']}')/events/$entity")
    assert (await graph.get(f"{path}/{event['id']}")).status_code == 200
    assert (await graph.get(f"{EVENTS}/{event['id']}")).status_code == 200
    assert (await graph.get(f"/users/{ADELE}/calendar/events/{event['id']}")).status_code == 404
    in_calendar = (await graph.get(path)).json()["value"]
    in_default = (await graph.get(f"/users/{ADELE}/calendar/events")).json()["value"]
    assert [e["id"] for e in in_calendar] == [event["id"]]
    assert in_default == []


async def test_unknown_and_malformed_ids(graph) -> None:
    """An unknown id is 404 ErrorItemNotFound; a non-base64 id is 400 ErrorInvalidIdMalformed."""
    status, code, _ = error(await graph.get(f"{EVENTS}/AAMkAGI1AAAt9AHjAAA="))
    assert (status, code) == (404, "ErrorItemNotFound")
    status, code, message = error(await graph.get(f"{EVENTS}/not!an*id"))
    assert (status, code, message) == (400, "ErrorInvalidIdMalformed", "Id is malformed.")


# -- validation ------------------------------------------------------------------------------------------


async def test_unsupported_time_zone_is_400_with_graph_message(graph, world) -> None:
    """A start zone Graph does not know is 400 TimeZoneNotSupportedException with Exchange's message."""
    payload = body(start={"dateTime": "2024-07-01T09:00:00", "timeZone": "Greenwich Mean Time"})
    status, code, message = error(await graph.post(EVENTS, json=payload))
    assert (status, code) == (400, "TimeZoneNotSupportedException")
    assert message == (
        "A valid TimeZone value must be specified. The following TimeZone value is not supported: "
        "'Greenwich Mean Time'."
    )
    assert world.counters.time_zone_not_supported == 1


async def test_end_before_start_and_bad_all_day_are_validation_failures(graph) -> None:
    """End before start, and an all-day event off midnight, are 400 ErrorPropertyValidationFailure."""
    backwards = body(end={"dateTime": "2024-07-01T08:00:00", "timeZone": BERLIN})
    not_midnight = body(isAllDay=True)
    for payload in (backwards, not_midnight):
        status, code, message = error(await graph.post(EVENTS, json=payload))
        assert (status, code, message) == (
            400,
            "ErrorPropertyValidationFailure",
            "At least one property failed validation.",
        )


async def test_all_day_event_shows_midnight_in_any_zone(graph) -> None:
    """An all-day event reads midnight to midnight, whatever outlook.timezone asks for."""
    payload = body(isAllDay=True, start={"dateTime": "2024-07-01", "timeZone": BERLIN},
                   end={"dateTime": "2024-07-02T00:00:00", "timeZone": BERLIN})  # fmt: skip
    event = await create(graph, payload)
    assert event["start"] == {"dateTime": "2024-07-01T00:00:00.0000000", "timeZone": "UTC"}
    pacific = await graph.get(
        f"{EVENTS}/{event['id']}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    )
    assert pacific.json()["end"] == {
        "dateTime": "2024-07-02T00:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }


async def test_unknown_property_and_wrong_types_are_request_body_read(graph) -> None:
    """An unknown property or a wrongly typed value is 400 RequestBodyRead, and nothing is stored."""
    status, code, message = error(await graph.post(EVENTS, json=body(colour="red")))
    assert (status, code) == (400, "RequestBodyRead")
    assert message.startswith(
        "The property 'colour' does not exist on type 'Microsoft.OutlookServices.Event'."
    )
    status, code, _ = error(await graph.post(EVENTS, json=body(isReminderOn="yes")))
    assert (status, code) == (400, "RequestBodyRead")
    status, code, _ = error(await graph.post(EVENTS, json=body(importance="urgent")))
    assert (status, code) == (400, "RequestBodyRead")
    assert (await graph.get(EVENTS)).json()["value"] == []


async def test_read_only_properties_in_body_are_ignored(graph) -> None:
    """id, changeKey and type sent by a client are ignored, enum and property names in any case accepted."""
    event = await create(graph, body(id="mine", changeKey="x", type="occurrence", Importance="HIGH"))
    assert event["id"] != "mine"
    assert event["type"] == "singleInstance"
    assert event["importance"] == "high"


async def test_missing_start_and_end_default_to_now_and_thirty_minutes(graph, world) -> None:
    """Graph accepts an event without start/end; graphemu starts it now (to the minute) for 30 minutes."""
    event = await create(graph, {"subject": "No times"})
    now = world.clock.now().replace(second=0, microsecond=0)
    start = datetime.fromisoformat(event["start"]["dateTime"][:26]).replace(tzinfo=UTC)
    end = datetime.fromisoformat(event["end"]["dateTime"][:26]).replace(tzinfo=UTC)
    assert abs(start - now) <= timedelta(minutes=1)
    assert end - start == timedelta(minutes=30)


async def test_invalid_recurrence_is_400(graph) -> None:
    """A weekly pattern without daysOfWeek is refused with 400."""
    payload = weekly()
    payload["recurrence"]["pattern"]["daysOfWeek"] = []
    status, code, _ = error(await graph.post(EVENTS, json=payload))
    assert (status, code) == (400, "ErrorPropertyValidationFailure")


async def test_empty_body_is_400(graph) -> None:
    """A POST without a body is 400 BadRequest."""
    response = await graph.post(EVENTS, headers={"Content-Type": "application/json"})
    assert error(response)[:2] == (400, "BadRequest")


# -- listing, paging, query options ------------------------------------------------------------------


async def test_paging_follows_next_link_across_25_events(graph) -> None:
    """25 events come back 10, 10, 5 by following absolute nextLinks verbatim, each event once."""
    for i in range(25):
        await create(graph, body(subject=f"Event {i:02d}"))
    page = (await graph.get(EVENTS)).json()
    sizes, seen = [], []
    while True:
        sizes.append(len(page["value"]))
        seen += [e["subject"] for e in page["value"]]
        for event in page["value"]:
            assert_valid("event", event)
        if "@odata.nextLink" not in page:
            break
        link = page["@odata.nextLink"]
        assert link.startswith("https://graph.microsoft.com/v1.0/users/")
        assert "$skip=" in link
        page = (await graph.get(link)).json()
    assert sizes == [10, 10, 5]
    assert seen == [f"Event {i:02d}" for i in range(25)]


async def test_top_and_maxpagesize_set_the_page_size(graph, app) -> None:
    """$top sets the page size (carried in nextLink); odata.maxpagesize too, echoed in Preference-Applied;
    a $top above max_page_size is clamped."""
    for i in range(7):
        await create(graph, body(subject=f"E{i}"))
    first = (await graph.get(EVENTS, params={"$top": "3"})).json()
    assert len(first["value"]) == 3
    assert "%24top=3" not in first["@odata.nextLink"]
    second = (await graph.get(first["@odata.nextLink"])).json()
    assert [e["subject"] for e in second["value"]] == ["E3", "E4", "E5"]
    response = await graph.get(EVENTS, headers={"Prefer": "odata.maxpagesize=2"})
    assert len(response.json()["value"]) == 2
    assert response.headers["preference-applied"] == "odata.maxpagesize=2"
    app.state.config.max_page_size = 4
    assert len((await graph.get(EVENTS, params={"$top": "1000"})).json()["value"]) == 4
    assert error(await graph.get(EVENTS, params={"$top": "-1"}))[:2] == (400, "BadRequest")


async def test_select_filter_and_orderby(graph, world) -> None:
    """$select keeps id and etag, $filter and $orderby work on the event JSON."""
    for subject, hour in (("Beta", 9), ("Alpha", 11), ("Gamma", 10)):
        start = {"dateTime": f"2024-07-01T{hour:02d}:00:00", "timeZone": "UTC"}
        await create(
            graph,
            body(subject=subject, start=start, end={**start, "dateTime": f"2024-07-01T{hour:02d}:30:00"}),
        )
    selected = (await graph.get(EVENTS, params={"$select": "subject,start"})).json()
    adele = world.find_user(ADELE)
    assert selected["@odata.context"].endswith(f"users('{adele.id}')/events(subject,start)")
    assert all(set(e) == {"@odata.etag", "id", "subject", "start"} for e in selected["value"])
    ordered = (await graph.get(EVENTS, params={"$orderby": "start/dateTime desc"})).json()["value"]
    assert [e["subject"] for e in ordered] == ["Alpha", "Gamma", "Beta"]
    filtered = (await graph.get(EVENTS, params={"$filter": "startswith(subject,'g')"})).json()["value"]
    assert [e["subject"] for e in filtered] == ["Gamma"]
    assert error(await graph.get(EVENTS, params={"$filter": "subject eq"}))[:2] == (
        400,
        "ErrorInvalidUrlQueryFilter",
    )
    assert error(await graph.get(EVENTS, params={"$select": "colour"}))[0] == 400


async def test_list_holds_series_masters_never_occurrences(graph) -> None:
    """A weekly series lists as one seriesMaster; its occurrences are not listed."""
    master = await create(graph, weekly())
    listed = (await graph.get(EVENTS)).json()["value"]
    assert [(e["id"], e["type"]) for e in listed] == [(master["id"], "seriesMaster")]
    assert master["recurrence"]["range"]["recurrenceTimeZone"] == BERLIN


# -- update, delete, If-Match --------------------------------------------------------------------------


async def test_patch_changes_fields_and_change_key(graph, world) -> None:
    """PATCH answers 200 with the event; changeKey, etag and lastModifiedDateTime change; the log says so."""
    event = await create(graph, body())
    world.clock.advance(5)
    response = await graph.patch(
        f"{EVENTS}/{event['id']}", json={"subject": "Moved", "location": {"displayName": "Room 1"}}
    )
    assert response.status_code == 200
    updated = response.json()
    assert_valid("event", updated)
    assert updated["subject"] == "Moved"
    assert updated["locations"][0]["displayName"] == "Room 1"
    assert updated["changeKey"] != event["changeKey"]
    assert updated["@odata.etag"] == f'W/"{updated["changeKey"]}"'
    assert updated["lastModifiedDateTime"] > event["lastModifiedDateTime"]
    assert updated["createdDateTime"] == event["createdDateTime"]
    kinds = [c.kind for c in world.changes[world.find_user(ADELE).id]]
    assert kinds == ["created", "updated"]


async def test_if_match_mismatch_is_412_and_matches_pass(graph) -> None:
    """A stale If-Match is 412 ErrorIrresolvableConflict; W/"ck", "ck", bare ck and * all match."""
    event = await create(graph, body())
    url = f"{EVENTS}/{event['id']}"
    stale = await graph.patch(url, json={"subject": "A"}, headers={"If-Match": 'W/"stale"'})
    assert error(stale) == (412, "ErrorIrresolvableConflict", CONFLICT)
    current = event["changeKey"]
    for form in ('W/"{}"', '"{}"', "{}", "*"):
        tag = form.format(current)
        response = await graph.patch(url, json={"subject": form}, headers={"If-Match": tag})
        assert response.status_code == 200, tag
        current = response.json()["changeKey"]
    assert (await graph.delete(url, headers={"If-Match": event["@odata.etag"]})).status_code == 412
    assert (await graph.delete(url, headers={"If-Match": f'W/"{current}"'})).status_code == 204


async def test_if_match_ignored_when_enforcement_is_off(graph, app) -> None:
    """With enforce_if_match False a stale If-Match does not stop the PATCH."""
    app.state.config.enforce_if_match = False
    event = await create(graph, body())
    response = await graph.patch(
        f"{EVENTS}/{event['id']}", json={"subject": "x"}, headers={"If-Match": 'W/"old"'}
    )
    assert response.status_code == 200


async def test_delete_is_204_then_404(graph, world) -> None:
    """DELETE answers 204 with no body; the event is gone and the deletion logged."""
    event = await create(graph, body())
    response = await graph.delete(f"{EVENTS}/{event['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await graph.get(f"{EVENTS}/{event['id']}")).status_code == 404
    assert world.changes[world.find_user(ADELE).id][-1].kind == "deleted"


# -- transactionId -----------------------------------------------------------------------------------


async def test_repeated_transaction_id_returns_the_original(graph, world) -> None:
    """A retried create with the same transactionId makes no second event and answers 201 with the first."""
    first = await create(graph, body(transactionId="tx-1"))
    second = await create(graph, body(transactionId="tx-1", subject="retry"))
    assert second["id"] == first["id"]
    assert second["subject"] == "Planning"
    assert second["transactionId"] == "tx-1"
    assert len(world.events[world.find_user(ADELE).id]) == 1
    other = await create(graph, body(transactionId="tx-2"))
    assert other["id"] != first["id"]


async def test_repeated_transaction_id_conflicts_in_conflict_mode(graph, app) -> None:
    """With duplicate_transaction_id="conflict" the retry is 409 ErrorDuplicateTransactionId."""
    app.state.config.duplicate_transaction_id = "conflict"
    await create(graph, body(transactionId="tx-1"))
    assert error(await graph.post(EVENTS, json=body(transactionId="tx-1")))[:2] == (
        409,
        "ErrorDuplicateTransactionId",
    )


@pytest.mark.parametrize("mode", ["return-original", "conflict"])
async def test_transaction_id_of_a_deleted_event(graph, app, world, mode: str) -> None:
    """After the original is deleted, "return-original" creates a new event (which then owns the id) and
    "conflict" still answers 409: the transactionId stays used."""
    app.state.config.duplicate_transaction_id = mode
    first = await create(graph, body(transactionId="tx-1"))
    assert (await graph.delete(f"{EVENTS}/{first['id']}")).status_code == 204
    if mode == "conflict":
        for _ in range(2):
            assert error(await graph.post(EVENTS, json=body(transactionId="tx-1")))[:2] == (
                409,
                "ErrorDuplicateTransactionId",
            )
        assert world.events[world.find_user(ADELE).id] == {}
        return
    second = await create(graph, body(transactionId="tx-1", subject="again"))
    assert second["id"] != first["id"]
    assert (second["subject"], second["transactionId"]) == ("again", "tx-1")
    third = await create(graph, body(transactionId="tx-1", subject="retry"))
    assert third["id"] == second["id"]
    assert len(world.events[world.find_user(ADELE).id]) == 1


async def test_transaction_id_cannot_change(graph) -> None:
    """PATCH with another transactionId is refused."""
    event = await create(graph, body(transactionId="tx-1"))
    response = await graph.patch(f"{EVENTS}/{event['id']}", json={"transactionId": "tx-9"})
    assert response.status_code == 400


# -- access ------------------------------------------------------------------------------------------


async def test_mailbox_access_errors(graph, app) -> None:
    """No token is 401; outsider is 403 "Access to OData is disabled."; nomail is 404
    MailboxNotEnabledForRESTAPI; a user of another tenant is 404 ErrorInvalidUser."""
    from graphemu.testing import EmulatorTransport

    async with httpx.AsyncClient(
        transport=EmulatorTransport(app), base_url="https://graph.microsoft.com/v1.0"
    ) as anon:
        assert error(await anon.get(EVENTS))[:2] == (401, "InvalidAuthenticationToken")
    assert error(await graph.get("/users/outsider@contoso.onmicrosoft.com/events")) == (
        403, "ErrorAccessDenied", "Access to OData is disabled.",
    )  # fmt: skip
    assert error(await graph.post("/users/nomail@contoso.onmicrosoft.com/events", json=body()))[:2] == (
        404, "MailboxNotEnabledForRESTAPI",
    )  # fmt: skip
    assert error(await graph.get("/users/eve@fabrikam.onmicrosoft.com/events"))[:2] == (
        404,
        "ErrorInvalidUser",
    )


async def test_read_scope_cannot_write(app) -> None:
    """An app token with only Calendars.Read can list but not create (403 ErrorAccessDenied)."""
    from graphemu.testing import EmulatorTransport

    token = mint(app, roles=["Calendars.Read"])
    transport = EmulatorTransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://graph.microsoft.com/v1.0",
                                 headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip
        assert (await client.get(EVENTS)).status_code == 200
        assert error(await client.post(EVENTS, json=body()))[:2] == (403, "ErrorAccessDenied")


async def test_holiday_calendar_events_are_read_only(graph, app, world) -> None:
    """Creating, updating or deleting events of a canEdit=false calendar is 403 ErrorAccessDenied."""
    adele = world.find_user(ADELE)
    holiday = next(c for c in world.calendars[adele.id].values() if not c.can_edit)
    path = f"/users/{ADELE}/calendars/{holiday.id}/events"
    assert error(await graph.post(path, json=body()))[:2] == (403, "ErrorAccessDenied")
    seeded = create_event(Context(world, app.state.config), adele, holiday, body(subject="Independence Day"))
    assert (await graph.get(f"{path}/{seeded.id}")).json()["subject"] == "Independence Day"
    assert error(await graph.patch(f"{path}/{seeded.id}", json={"subject": "x"}))[:2] == (
        403,
        "ErrorAccessDenied",
    )
    assert error(await graph.delete(f"{EVENTS}/{seeded.id}"))[:2] == (403, "ErrorAccessDenied")


# -- time zones and Teams ----------------------------------------------------------------------------


async def test_prefer_timezone_for_berlin_summer_and_winter(graph) -> None:
    """09:00 Berlin reads 07:00 UTC in summer and 08:00 UTC in winter, and 09:00 with outlook.timezone."""
    summer = await create(graph, body())
    january = {"start": {"dateTime": "2024-01-15T09:00:00", "timeZone": BERLIN},
               "end": {"dateTime": "2024-01-15T10:00:00", "timeZone": BERLIN}}  # fmt: skip
    winter = await create(graph, body(**january))
    assert summer["start"]["dateTime"] == "2024-07-01T07:00:00.0000000"
    assert winter["start"]["dateTime"] == "2024-01-15T08:00:00.0000000"
    prefer = {"Prefer": f'outlook.timezone="{BERLIN}"'}
    for event in (summer, winter):
        response = await graph.get(f"{EVENTS}/{event['id']}", headers=prefer)
        assert response.headers["preference-applied"] == f'outlook.timezone="{BERLIN}"'
        start = response.json()["start"]
        assert start["timeZone"] == BERLIN
        assert start["dateTime"].endswith("T09:00:00.0000000")
        assert DATETIME7.fullmatch(start["dateTime"])
    listed = await graph.get(EVENTS, headers={"Prefer": 'outlook.timezone="Europe/Berlin"'})
    assert {e["start"]["timeZone"] for e in listed.json()["value"]} == {"Europe/Berlin"}


async def test_prefer_unsupported_timezone_is_400(graph) -> None:
    """An unsupported outlook.timezone preference is 400 TimeZoneNotSupportedException."""
    response = await graph.get(
        EVENTS, headers={"Prefer": 'outlook.timezone="Australia Eastern Standard Time"'}
    )
    assert error(response)[:2] == (400, "TimeZoneNotSupportedException")


async def test_teams_meeting_gets_a_join_url_and_stays_online(graph) -> None:
    """isOnlineMeeting on a Teams calendar sets onlineMeeting.joinUrl; turning it off later is ignored."""
    event = await create(graph, body(isOnlineMeeting=True))
    assert event["isOnlineMeeting"] is True
    assert event["onlineMeetingProvider"] == "teamsForBusiness"
    assert event["onlineMeeting"]["joinUrl"].startswith(
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
    )
    patched = (await graph.patch(f"{EVENTS}/{event['id']}", json={"isOnlineMeeting": False})).json()
    assert patched["isOnlineMeeting"] is True
    assert patched["onlineMeeting"] == event["onlineMeeting"]


async def test_calendar_without_teams_stays_offline(graph, world) -> None:
    """On a calendar that allows no online meeting provider, isOnlineMeeting stays false."""
    calendar = world.default_calendar(world.find_user(ADELE).id)
    calendar.allowed_online_meeting_providers = []
    event = await create(graph, body(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness"))
    assert (event["isOnlineMeeting"], event["onlineMeetingProvider"], event["onlineMeeting"]) == (
        False,
        "unknown",
        None,
    )


# -- occurrences -------------------------------------------------------------------------------------


def second_monday() -> datetime:
    return datetime(2024, 1, 8, 8, 0, tzinfo=UTC)  # 09:00 Berlin (CET)


async def test_occurrence_id_round_trip_and_get(graph) -> None:
    """occurrence_id/parse_occurrence_id round-trip, and GET by occurrence id returns the occurrence."""
    master = await create(graph, weekly())
    occurrence = occurrence_id(master["id"], second_monday())
    assert parse_occurrence_id(occurrence) == (master["id"], second_monday())
    assert parse_occurrence_id(occurrence.swapcase()) is None
    assert parse_occurrence_id(master["id"]) is None
    response = await graph.get(f"{EVENTS}/{occurrence}")
    assert response.status_code == 200
    item = response.json()
    assert_valid("event", item)
    assert (item["type"], item["seriesMasterId"], item["id"]) == ("occurrence", master["id"], occurrence)
    assert item["originalStart"] == "2024-01-08T08:00:00Z"
    assert item["recurrence"] is None
    assert item["start"]["dateTime"] == "2024-01-08T08:00:00.0000000"
    assert item["iCalUId"] != master["iCalUId"]
    assert item["iCalUId"][32:40] == "07E80108"
    not_in_series = occurrence_id(master["id"], second_monday() + timedelta(hours=1))
    assert (await graph.get(f"{EVENTS}/{not_in_series}")).status_code == 404


async def test_patch_occurrence_makes_an_exception(graph) -> None:
    """PATCH on an occurrence id turns it into an exception; the master gets a new changeKey."""
    master = await create(graph, weekly())
    occurrence = occurrence_id(master["id"], second_monday())
    moved = {"subject": "Moved", "start": {"dateTime": "2024-01-09T11:00:00", "timeZone": BERLIN},
             "end": {"dateTime": "2024-01-09T12:00:00", "timeZone": BERLIN}}  # fmt: skip
    response = await graph.patch(f"{EVENTS}/{occurrence}", json=moved)
    assert response.status_code == 200
    exception = response.json()
    assert_valid("event", exception)
    assert (exception["type"], exception["subject"], exception["id"]) == ("exception", "Moved", occurrence)
    assert exception["start"]["dateTime"] == "2024-01-09T10:00:00.0000000"
    assert exception["originalStart"] == "2024-01-08T08:00:00Z"
    again = (await graph.get(f"{EVENTS}/{occurrence}")).json()
    assert again["subject"] == "Moved"
    assert again["changeKey"] == exception["changeKey"]
    assert (await graph.get(f"{EVENTS}/{master['id']}")).json()["changeKey"] != master["changeKey"]
    too_far = {"start": {"dateTime": "2024-01-15T11:00:00", "timeZone": BERLIN},
               "end": {"dateTime": "2024-01-15T12:00:00", "timeZone": BERLIN}}  # fmt: skip
    assert error(await graph.patch(f"{EVENTS}/{occurrence}", json=too_far))[:2] == (
        400,
        "ErrorOccurrenceCrossingBoundary",
    )


async def test_delete_occurrence_cancels_it(graph, world) -> None:
    """DELETE on an occurrence id cancels it: 404 afterwards, listed in cancelledOccurrences, logged."""
    master = await create(graph, weekly())
    occurrence = occurrence_id(master["id"], second_monday())
    assert (await graph.delete(f"{EVENTS}/{occurrence}")).status_code == 204
    assert (await graph.get(f"{EVENTS}/{occurrence}")).status_code == 404
    selected = (
        await graph.get(f"{EVENTS}/{master['id']}", params={"$select": "subject,cancelledOccurrences"})
    ).json()
    assert_valid("event", selected)
    assert selected["cancelledOccurrences"] == [f"OID.{master['id']}.2024-01-08"]
    log = world.changes[world.find_user(ADELE).id]
    assert [(c.event_id, c.kind) for c in log[-2:]] == [(master["id"], "updated"), (occurrence, "deleted")]


async def test_master_change_of_time_drops_exceptions(graph) -> None:
    """Moving the series master's start drops its exceptions and cancellations."""
    master = await create(graph, weekly())
    occurrence = occurrence_id(master["id"], second_monday())
    await graph.delete(f"{EVENTS}/{occurrence}")
    later = {"start": {"dateTime": "2024-01-01T10:00:00", "timeZone": BERLIN},
             "end": {"dateTime": "2024-01-01T11:00:00", "timeZone": BERLIN}}  # fmt: skip
    await graph.patch(f"{EVENTS}/{master['id']}", json=later)
    selected = (
        await graph.get(f"{EVENTS}/{master['id']}", params={"$select": "cancelledOccurrences"})
    ).json()
    assert selected["cancelledOccurrences"] == []
