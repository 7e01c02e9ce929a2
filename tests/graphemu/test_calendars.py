"""Calendar routes: list, default, get, create, update, delete, query options and Graph's errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.graphemu.schema import assert_valid, check_response

ADELE = "adele@contoso.onmicrosoft.com"
BASE = "https://graph.microsoft.com/v1.0/$metadata#"


@pytest.fixture(autouse=True)
def _every_response_is_schema_checked(graph: httpx.AsyncClient) -> None:
    """Every event and calendar this module receives through `graph` is validated against the schema."""
    graph.event_hooks["response"].append(check_response)


async def _calendars(graph: httpx.AsyncClient, user: str = ADELE) -> list[dict[str, Any]]:
    response = await graph.get(f"/users/{user}/calendars")
    assert response.status_code == 200
    for calendar in response.json()["value"]:
        assert_valid("calendar", calendar)
    return list(response.json()["value"])


async def test_list_calendars_default_first_with_every_property(graph, world) -> None:
    """The list holds the default calendar first, each with every property of the schema's calendar type."""
    response = await graph.get(f"/users/{ADELE}/calendars")
    body = response.json()
    adele = world.find_user(ADELE)
    assert body["@odata.context"] == f"{BASE}users('{adele.id}')/calendars"
    names = [c["name"] for c in body["value"]]
    assert names == ["Calendar", "United States holidays"]
    default = body["value"][0]
    assert_valid("calendar", default)
    assert list(default) == [
        "id", "name", "color", "hexColor", "isDefaultCalendar", "changeKey", "canShare",
        "canViewPrivateItems", "canEdit", "allowedOnlineMeetingProviders", "defaultOnlineMeetingProvider",
        "isTallyingResponses", "isRemovable", "owner",
    ]  # fmt: skip
    assert default["isDefaultCalendar"] is True
    assert default["isRemovable"] is False
    assert default["hexColor"] == ""
    assert default["owner"] == {"name": "Adele Vance", "address": ADELE}
    assert default["allowedOnlineMeetingProviders"] == ["teamsForBusiness"]


async def test_holiday_calendar_is_read_only(graph) -> None:
    """The seeded holiday calendar reports canEdit false and no online meeting providers."""
    holiday = (await _calendars(graph))[1]
    assert holiday["canEdit"] is False
    assert holiday["canShare"] is False
    assert holiday["allowedOnlineMeetingProviders"] == []
    assert holiday["defaultOnlineMeetingProvider"] == "unknown"


async def test_default_calendar_route(graph, world) -> None:
    """GET users/{u}/calendar returns the default calendar with an entity context."""
    response = await graph.get(f"/users/{ADELE}/calendar")
    assert response.status_code == 200
    body = response.json()
    assert_valid("calendar", body)
    assert body["isDefaultCalendar"] is True
    assert body["@odata.context"] == f"{BASE}users('{world.find_user(ADELE).id}')/calendar/$entity"


async def test_create_calendar_201_then_get_by_id(graph) -> None:
    """POST creates a calendar (201) that GET by id returns; me-style id lookups are case-sensitive."""
    response = await graph.post(f"/users/{ADELE}/calendars", json={"name": "Volunteer", "color": "LightBlue"})
    assert response.status_code == 201
    created = response.json()
    assert_valid("calendar", created)
    assert created["name"] == "Volunteer"
    assert created["color"] == "lightBlue"
    assert created["canEdit"] is True
    assert created["isDefaultCalendar"] is False
    assert created["@odata.context"].endswith("/calendars/$entity")
    fetched = await graph.get(f"/users/{ADELE}/calendars/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == created["id"]
    assert (await graph.get(f"/users/{ADELE}/calendars/{created['id'].swapcase()}")).status_code == 404


async def test_duplicate_calendar_name_is_409_case_insensitive(graph) -> None:
    """A second calendar with the same name in another case is 409 ErrorFolderExists."""
    assert (await graph.post(f"/users/{ADELE}/calendars", json={"name": "Team"})).status_code == 201
    response = await graph.post(f"/users/{ADELE}/calendars", json={"name": "TEAM"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "ErrorFolderExists"
    assert error["message"] == "A folder with the specified name already exists."


async def test_create_calendar_rejects_unknown_property_and_missing_name(graph) -> None:
    """An unknown property is 400 RequestBodyRead; a calendar needs a name."""
    response = await graph.post(f"/users/{ADELE}/calendars", json={"name": "X", "shade": "red"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "RequestBodyRead"
    assert "'shade' does not exist" in response.json()["error"]["message"]
    response = await graph.post(f"/users/{ADELE}/calendars", json={"color": "auto"})
    assert response.status_code == 400


async def test_patch_calendar_renames_and_changes_change_key(graph) -> None:
    """PATCH renames and recolours a calendar and gives it a new changeKey; a taken name is 409."""
    created = (await graph.post(f"/users/{ADELE}/calendars", json={"name": "Old"})).json()
    response = await graph.patch(
        f"/users/{ADELE}/calendars/{created['id']}", json={"name": "New", "color": "lightRed"}
    )
    assert response.status_code == 200
    body = response.json()
    assert_valid("calendar", body)
    assert (body["name"], body["color"]) == ("New", "lightRed")
    assert body["changeKey"] != created["changeKey"]
    clash = await graph.patch(f"/users/{ADELE}/calendars/{created['id']}", json={"name": "calendar"})
    assert clash.status_code == 409


async def test_delete_calendar_removes_it_and_its_events(graph, world) -> None:
    """DELETE answers 204, the calendar and its events are gone, and the deletions are logged."""
    created = (await graph.post(f"/users/{ADELE}/calendars", json={"name": "Temp"})).json()
    event = (
        await graph.post(
            f"/users/{ADELE}/calendars/{created['id']}/events",
            json={"subject": "x", "start": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"},
                  "end": {"dateTime": "2024-05-01T11:00:00", "timeZone": "UTC"}},
        )
    ).json()  # fmt: skip
    response = await graph.delete(f"/users/{ADELE}/calendars/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await graph.get(f"/users/{ADELE}/calendars/{created['id']}")).status_code == 404
    assert (await graph.get(f"/users/{ADELE}/events/{event['id']}")).status_code == 404
    log = world.changes[world.find_user(ADELE).id]
    assert (log[-1].event_id, log[-1].kind) == (event["id"], "deleted")


async def test_default_calendar_cannot_be_deleted(graph) -> None:
    """Deleting the default calendar is refused with 403 ErrorCannotDeleteObject."""
    default = (await graph.get(f"/users/{ADELE}/calendar")).json()
    response = await graph.delete(f"/users/{ADELE}/calendars/{default['id']}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ErrorCannotDeleteObject"


async def test_calendars_select_filter_and_paging(graph) -> None:
    """$select trims properties, $filter matches names case-insensitively, $top pages with a nextLink."""
    for i in range(3):
        await graph.post(f"/users/{ADELE}/calendars", json={"name": f"Project {i}"})
    selected = (await graph.get(f"/users/{ADELE}/calendars", params={"$select": "name"})).json()
    assert selected["@odata.context"].endswith("/calendars(name)")
    assert all(set(c) == {"id", "name"} for c in selected["value"])
    filtered = (
        await graph.get(f"/users/{ADELE}/calendars", params={"$filter": "name eq 'project 1'"})
    ).json()
    assert [c["name"] for c in filtered["value"]] == ["Project 1"]
    page = (await graph.get(f"/users/{ADELE}/calendars", params={"$top": "2"})).json()
    names = [c["name"] for c in page["value"]]
    while "@odata.nextLink" in page:
        page = (await graph.get(page["@odata.nextLink"])).json()
        names += [c["name"] for c in page["value"]]
    assert names == ["Calendar", "United States holidays", "Project 0", "Project 1", "Project 2"]


async def test_unknown_calendar_and_mailbox_errors(graph) -> None:
    """An unknown calendar id is 404; outsider is 403 by policy; nomail is MailboxNotEnabledForRESTAPI."""
    response = await graph.get(f"/users/{ADELE}/calendars/AAMkAGI1AAAt9AHjAAA=")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ErrorItemNotFound"
    outsider = await graph.get("/users/outsider@contoso.onmicrosoft.com/calendars")
    assert outsider.status_code == 403
    assert outsider.json()["error"]["message"] == "Access to OData is disabled."
    nomail = await graph.get("/users/nomail@contoso.onmicrosoft.com/calendar")
    assert nomail.status_code == 404
    assert nomail.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"


TAG = "String {6c1f3e2a-5b7d-4e09-9f3a-2d8c41b7a0e5} Name calsync.calendar"
EXPAND = f"singleValueExtendedProperties($filter=id eq '{TAG}')"


async def test_calendar_extended_property_written_on_create_and_read_by_expand(graph, world) -> None:
    """A calendar created with an extended property does not echo it; $expand on the list and on the
    calendar gives it back, only to a $filter on its id (the Name part case-sensitive); a null value in
    a PATCH removes it."""
    body = {"name": "Timetable", "color": "lightTeal",
            "singleValueExtendedProperties": [{"id": TAG, "value": "default"}]}  # fmt: skip
    response = await graph.post(f"/users/{ADELE}/calendars", json=body)
    assert response.status_code == 201
    created = response.json()
    assert "singleValueExtendedProperties" not in created
    assert created["color"] == "lightTeal"
    listed = (await graph.get(f"/users/{ADELE}/calendars", params={"$expand": EXPAND})).json()["value"]
    tagged = {c["name"]: c.get("singleValueExtendedProperties") for c in listed}
    assert tagged == {"Calendar": None, "United States holidays": None,
                      "Timetable": [{"id": TAG, "value": "default"}]}  # fmt: skip
    other = EXPAND.replace("calsync.calendar", "CALSYNC.calendar")
    one = await graph.get(f"/users/{ADELE}/calendars/{created['id']}", params={"$expand": other})
    assert one.status_code == 200
    assert "singleValueExtendedProperties" not in one.json()
    one = await graph.get(f"/users/{ADELE}/calendars/{created['id']}", params={"$expand": EXPAND})
    assert one.json()["singleValueExtendedProperties"] == [{"id": TAG, "value": "default"}]
    removed = {"singleValueExtendedProperties": [{"id": TAG, "value": None}]}
    assert (await graph.patch(f"/users/{ADELE}/calendars/{created['id']}", json=removed)).status_code == 200
    assert world.calendars[world.find_user(ADELE).id][created["id"]].extended == {}


async def test_calendars_filtered_by_extended_property_and_select_keeps_it(graph) -> None:
    """`$filter=singleValueExtendedProperties/any(...)` finds the tagged calendar; $select keeps the
    expanded navigation, as it does for events."""
    prop = [{"id": TAG, "value": "exams"}]
    await graph.post(
        f"/users/{ADELE}/calendars", json={"name": "Exams", "singleValueExtendedProperties": prop}
    )
    await graph.post(f"/users/{ADELE}/calendars", json={"name": "Exams (mine)"})
    params = {"$filter": f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG}' and ep/value eq 'exams')",
              "$expand": EXPAND, "$select": "name"}  # fmt: skip
    body = (await graph.get(f"/users/{ADELE}/calendars", params=params)).json()
    assert [(c["name"], c["singleValueExtendedProperties"]) for c in body["value"]] == [("Exams", prop)]


async def test_calendar_extended_property_body_and_expand_errors(graph) -> None:
    """A property that is not a list of {id, value} strings is 400 RequestBodyRead; an $expand without a
    $filter on the id is 400, as for events."""
    for bad in ("x", [{"id": TAG, "value": 3}], [{"id": TAG, "colour": "x"}]):
        body = {"name": "Bad", "singleValueExtendedProperties": bad}
        response = await graph.post(f"/users/{ADELE}/calendars", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "RequestBodyRead")
    response = await graph.get(
        f"/users/{ADELE}/calendars", params={"$expand": "singleValueExtendedProperties"}
    )
    assert response.status_code == 400
