"""Single-value extended properties on events (graph-facts §3): stored on create/PATCH, never returned unless
expanded, found by $filter with the documented any() form."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.graphemu.schema import assert_valid, check_response

ADELE = "adele@contoso.onmicrosoft.com"
EVENTS = f"/users/{ADELE}/events"
TAG = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name CalsyncKey"
COUNT = "Integer {66f5a359-4659-4830-9070-00040ec6ac6e} Name Count"


@pytest.fixture(autouse=True)
def _every_response_is_schema_checked(graph: httpx.AsyncClient) -> None:
    """Every event and calendar this module receives through `graph` is validated against the schema."""
    graph.event_hooks["response"].append(check_response)


def body(subject: str = "Tagged", props: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "subject": subject,
        "start": {"dateTime": "2024-07-01T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2024-07-01T10:00:00", "timeZone": "UTC"},
    }
    if props is not None:
        payload["singleValueExtendedProperties"] = props
    return payload


def expand(*prop_ids: str) -> dict[str, str]:
    ors = " or ".join(f"id eq '{p}'" for p in prop_ids)
    return {"$expand": f"singleValueExtendedProperties($filter={ors})"}


async def create(graph: httpx.AsyncClient, payload: dict[str, Any]) -> dict[str, Any]:
    response = await graph.post(EVENTS, json=payload)
    assert response.status_code == 201, response.text
    assert_valid("event", response.json())
    return dict(response.json())


async def test_created_property_is_not_returned_without_expand(graph) -> None:
    """Creating with an extended property answers 201 without it; a plain GET does not show it either."""
    event = await create(graph, body(props=[{"id": TAG, "value": "src-1"}]))
    assert "singleValueExtendedProperties" not in event
    fetched = (await graph.get(f"{EVENTS}/{event['id']}")).json()
    assert "singleValueExtendedProperties" not in fetched


async def test_expand_returns_the_property_with_its_id_as_created(graph) -> None:
    """$expand with $filter=id eq returns [{id, value}], the id as created even if asked in another case."""
    event = await create(graph, body(props=[{"id": TAG, "value": "src-1"}, {"id": COUNT, "value": "12"}]))
    asked = TAG.replace("66f5a359", "66F5A359").replace("String", "string")
    response = await graph.get(f"{EVENTS}/{event['id']}", params=expand(asked))
    assert response.status_code == 200
    item = response.json()
    assert_valid("event", item)
    assert item["singleValueExtendedProperties"] == [{"id": TAG, "value": "src-1"}]
    both = (await graph.get(f"{EVENTS}/{event['id']}", params=expand(TAG, COUNT))).json()
    assert {p["id"] for p in both["singleValueExtendedProperties"]} == {TAG, COUNT}
    selected = (
        await graph.get(f"{EVENTS}/{event['id']}", params={"$select": "subject", **expand(TAG)})
    ).json()
    assert selected["singleValueExtendedProperties"] == [{"id": TAG, "value": "src-1"}]


async def test_expand_on_list_only_where_present(graph) -> None:
    """In a list, events carrying the property show it; others have no singleValueExtendedProperties."""
    await create(graph, body("with", [{"id": TAG, "value": "a"}]))
    await create(graph, body("without"))
    listed = (await graph.get(EVENTS, params=expand(TAG))).json()["value"]
    shown = {e["subject"]: e.get("singleValueExtendedProperties") for e in listed}
    assert shown == {"with": [{"id": TAG, "value": "a"}], "without": None}


async def test_filter_finds_events_by_property_value(graph) -> None:
    """The documented any() filter returns the matching events, without the property itself."""
    await create(graph, body("one", [{"id": TAG, "value": "src-1"}]))
    await create(graph, body("two", [{"id": TAG, "value": "src-2"}]))
    await create(graph, body("untagged"))
    query = f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq 'SRC-2')"
    found = (await graph.get(EVENTS, params={"$filter": query})).json()["value"]
    assert [e["subject"] for e in found] == ["two"]
    assert "singleValueExtendedProperties" not in found[0]
    lower = f"singleValueExtendedProperties/any(ep:ep/Id eq '{TAG}' and contains(ep/value,'src'))"
    assert [e["subject"] for e in (await graph.get(EVENTS, params={"$filter": lower})).json()["value"]] == [
        "one",
        "two",
    ]


async def test_name_part_of_the_id_is_case_sensitive(graph) -> None:
    """Filtering with another case of the property name matches nothing (graph-facts §3)."""
    await create(graph, body("one", [{"id": TAG, "value": "v"}]))
    other_case = TAG.replace("CalsyncKey", "calsynckey")
    query = f"singleValueExtendedProperties/Any(ep: ep/id eq '{other_case}' and ep/value eq 'v')"
    assert (await graph.get(EVENTS, params={"$filter": query})).json()["value"] == []


async def test_numeric_value_with_cast(graph) -> None:
    """cast(ep/value, Edm.Int32) compares numerically."""
    await create(graph, body("twelve", [{"id": COUNT, "value": "12"}]))
    await create(graph, body("nine", [{"id": COUNT, "value": "9"}]))
    query = f"singleValueExtendedProperties/Any(ep: ep/id eq '{COUNT}' and cast(ep/value, Edm.Int32) gt 10)"
    assert [e["subject"] for e in (await graph.get(EVENTS, params={"$filter": query})).json()["value"]] == [
        "twelve"
    ]


async def test_patch_adds_updates_and_removes_properties(graph) -> None:
    """PATCH adds a property, updates it under its original id, and a null value removes it."""
    event = await create(graph, body())
    url = f"{EVENTS}/{event['id']}"
    assert (
        await graph.patch(url, json={"singleValueExtendedProperties": [{"id": TAG, "value": "v1"}]})
    ).status_code == 200
    respelled = TAG.replace("66f5a359", "66F5A359")
    await graph.patch(url, json={"singleValueExtendedProperties": [{"id": respelled, "value": "v2"}]})
    assert (await graph.get(url, params=expand(TAG))).json()["singleValueExtendedProperties"] == [
        {"id": TAG, "value": "v2"}
    ]
    await graph.patch(url, json={"singleValueExtendedProperties": [{"id": TAG, "value": None}]})
    assert "singleValueExtendedProperties" not in (await graph.get(url, params=expand(TAG))).json()


async def test_bad_expand_and_bad_property_shapes_are_400(graph) -> None:
    """$expand without $filter, another navigation, or a non-string value are 400."""
    event = await create(graph, body(props=[{"id": TAG, "value": "v"}]))
    url = f"{EVENTS}/{event['id']}"
    assert (await graph.get(url, params={"$expand": "singleValueExtendedProperties"})).status_code == 400
    assert (await graph.get(url, params={"$expand": "attachments"})).status_code == 400
    response = await graph.post(EVENTS, json=body(props=[{"id": TAG, "value": 5}]))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "RequestBodyRead"


async def test_bad_expand_on_an_empty_list_is_400(graph) -> None:
    """An $expand graphemu cannot answer is 400 even when there is nothing to list."""
    response = await graph.get(EVENTS, params={"$expand": "singleValueExtendedProperties"})
    assert response.status_code == 400


async def test_a_tagged_series_master_is_found_by_its_tag_with_its_cancelled_occurrences(graph) -> None:
    """What calsync's series mode relies on: a series master created with a tag is listed by the tag's
    $filter (never its occurrences, user-list-events.md), with its recurrence and, on $select, the
    cancelledOccurrences ("OID.<master id>.<local date>", event.md) that DELETE on an instance adds; a
    PATCH on an instance makes an exception; a PATCH of the master's recurrence resets both."""
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
        "range": {"type": "endDate", "startDate": "2024-07-01", "endDate": "2024-07-29",
                  "recurrenceTimeZone": "UTC"},
    }  # fmt: skip
    master = await create(graph, {**body(props=[{"id": TAG, "value": "src-series"}]), "recurrence": weekly})
    window = {"startDateTime": "2024-06-30T00:00:00Z", "endDateTime": "2024-08-01T00:00:00Z"}
    instances = (await graph.get(f"{EVENTS}/{master['id']}/instances", params=window)).json()["value"]
    assert [i["originalStart"] for i in instances][:2] == ["2024-07-01T09:00:00Z", "2024-07-08T09:00:00Z"]
    assert (await graph.delete(f"{EVENTS}/{instances[1]['id']}")).status_code == 204
    moved = {"subject": "Moved", "start": {"dateTime": "2024-07-16T14:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2024-07-16T15:00:00", "timeZone": "UTC"}}  # fmt: skip
    assert (await graph.patch(f"{EVENTS}/{instances[2]['id']}", json=moved)).status_code == 200

    params = {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq 'src-series')",
        "$select": "subject,recurrence,cancelledOccurrences,type",
        **expand(TAG),
    }
    (listed,) = (await graph.get(EVENTS, params=params)).json()["value"]
    assert (listed["id"], listed["type"], listed["recurrence"]["pattern"]["type"]) == (
        master["id"], "seriesMaster", "weekly"
    )  # fmt: skip
    assert listed["cancelledOccurrences"] == [f"OID.{master['id']}.2024-07-08"]
    assert listed["singleValueExtendedProperties"] == [{"id": TAG, "value": "src-series"}]
    view = (await graph.get(f"/users/{ADELE}/calendarView", params=window)).json()["value"]
    assert [(v["subject"], v["type"]) for v in view] == [
        ("Tagged", "occurrence"), ("Moved", "exception"), ("Tagged", "occurrence"), ("Tagged", "occurrence")
    ]  # fmt: skip

    assert (await graph.patch(f"{EVENTS}/{master['id']}", json={"recurrence": weekly})).status_code == 200
    (again,) = (await graph.get(EVENTS, params=params)).json()["value"]
    assert again["cancelledOccurrences"] == []
    view = (await graph.get(f"/users/{ADELE}/calendarView", params=window)).json()["value"]
    assert [v["type"] for v in view] == ["occurrence"] * 5
