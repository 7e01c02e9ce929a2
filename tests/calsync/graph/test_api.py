"""The typed calls build the right requests: encoded paths, OData expressions, headers, bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from calsync.graph import NotFound, extended_property_filter, literal

from .conftest import graph_error_response, mock_client


class Recorder:
    """A MockTransport handler that records requests and answers with a fixed JSON body."""

    def __init__(self, body: object = None, status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.body = {"value": []} if body is None else body
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def test_odata_literals_double_quotes() -> None:
    """String literals double single quotes; the extended-property filter uses them for id and value."""
    assert literal("O'Brien's") == "'O''Brien''s'"
    assert extended_property_filter("String {x} Name k", "a'b") == (
        "singleValueExtendedProperties/Any(ep: ep/id eq 'String {x} Name k' and ep/value eq 'a''b')"
    )


async def test_find_by_extended_property_request() -> None:
    """The filter and the expand travel URL-encoded; the response's events are yielded."""
    recorder = Recorder({"value": [{"id": "E1"}]})
    prop = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name calsyncKey"
    async with mock_client(recorder) as graph:
        found = [e async for e in graph.find_events_by_extended_property("a@x.com", prop, "key 'one'")]
    assert found == [{"id": "E1"}]
    request = recorder.last
    assert request.url.path == "/v1.0/users/a@x.com/events"
    assert request.url.params["$filter"] == extended_property_filter(prop, "key 'one'")
    assert request.url.params["$expand"] == f"singleValueExtendedProperties($filter=id eq '{prop}')"
    assert b" " not in request.url.raw_path
    assert b"'" not in request.url.raw_path.split(b"?")[1]


async def test_create_event_adds_transaction_id_without_touching_input() -> None:
    """transaction_id goes into the body sent, not into the caller's dict; a calendar id is encoded."""
    recorder = Recorder({"id": "E1"}, status=201)
    body = {"subject": "x"}
    async with mock_client(recorder) as graph:
        await graph.create_event("me", body, "AAMk/cal=", transaction_id="tx-9")
    assert body == {"subject": "x"}
    assert recorder.last.url.raw_path == b"/v1.0/me/calendars/AAMk%2Fcal%3D/events"
    assert json.loads(recorder.last.content) == {"subject": "x", "transactionId": "tx-9"}


async def test_update_and_delete_send_if_match() -> None:
    """A bare changeKey becomes W/"..."; an etag is sent as is."""
    recorder = Recorder({})
    async with mock_client(recorder) as graph:
        await graph.update_event("u", "E=1", {"subject": "y"}, if_match="ck1")
        assert recorder.last.headers["If-Match"] == 'W/"ck1"'
        recorder.body, recorder.status = {}, 204
        await graph.delete_event("u", "E=1", if_match='W/"ck2"')
    assert recorder.last.headers["If-Match"] == 'W/"ck2"'
    assert recorder.last.url.raw_path == b"/v1.0/users/u/events/E%3D1"


async def test_delete_404_means_gone_but_unknown_path_raises() -> None:
    """ErrorItemNotFound on delete returns False; ResourceNotFound (a wrong path) is raised."""
    answers = [graph_error_response(404, "ErrorItemNotFound"), graph_error_response(404, "ResourceNotFound")]
    async with mock_client(lambda r: answers.pop(0)) as graph:
        assert await graph.delete_event("u", "E1") is False
        with pytest.raises(NotFound):
            await graph.delete_event("u", "E1")


async def test_calendar_view_window_in_utc() -> None:
    """Window bounds are sent in UTC with a Z, whatever zone they were given in."""
    recorder = Recorder()
    start = datetime(2025, 3, 3, 9, tzinfo=timezone(timedelta(hours=1)))
    async with mock_client(recorder) as graph:
        [e async for e in graph.calendar_view("u", start, start + timedelta(days=1), select=["subject"])]
    params = recorder.last.url.params
    assert params["startDateTime"] == "2025-03-03T08:00:00Z"
    assert params["endDateTime"] == "2025-03-04T08:00:00Z"
    assert params["$select"] == "subject"


async def test_transitive_members_is_an_advanced_query() -> None:
    """The user cast needs ConsistencyLevel: eventual and $count=true."""
    recorder = Recorder()
    async with mock_client(recorder) as graph:
        [u async for u in graph.group_transitive_user_members("g-1", select=["id"])]
    request = recorder.last
    assert request.url.path == "/v1.0/groups/g-1/transitiveMembers/microsoft.graph.user"
    assert request.headers["ConsistencyLevel"] == "eventual"
    assert request.url.params["$count"] == "true"


async def test_supported_time_zones_iana() -> None:
    """The IANA variant calls the function with its enum parameter."""
    recorder = Recorder({"value": [{"alias": "Europe/Berlin", "displayName": "x"}]})
    async with mock_client(recorder) as graph:
        zones = await graph.supported_time_zones("u", "iana")
    assert zones[0]["alias"] == "Europe/Berlin"
    assert recorder.last.url.path.endswith(
        "/outlook/supportedTimeZones(TimeZoneStandard=microsoft.graph.timeZoneStandard'Iana')"
    )


async def test_subscription_calls() -> None:
    """Create, renew, reauthorize and delete send the documented requests."""
    recorder = Recorder({"id": "S1"}, status=201)
    expiry = datetime(2025, 3, 10, tzinfo=UTC)
    async with mock_client(recorder) as graph:
        created = await graph.create_subscription(
            resource="/users/u/events",
            notification_url="https://hook/x",
            expiration=expiry,
            client_state="cs",
        )
        assert created == {"id": "S1"}
        assert json.loads(recorder.last.content) == {
            "changeType": "created,updated,deleted",
            "notificationUrl": "https://hook/x",
            "resource": "/users/u/events",
            "expirationDateTime": "2025-03-10T00:00:00Z",
            "clientState": "cs",
        }
        await graph.renew_subscription("S1", expiry)
        assert recorder.last.method == "PATCH"
        assert recorder.last.url.path == "/v1.0/subscriptions/S1"
        recorder.body, recorder.status = {}, 204
        await graph.reauthorize_subscription("S1")
        assert recorder.last.url.path == "/v1.0/subscriptions/S1/reauthorize"
        assert await graph.delete_subscription("S1") is True


async def test_naive_datetimes_are_refused() -> None:
    """A window without a time zone is refused before anything is sent."""
    recorder = Recorder()
    async with mock_client(recorder) as graph:
        with pytest.raises(ValueError, match="aware"):
            [e async for e in graph.calendar_view("u", datetime(2025, 1, 1), datetime(2025, 1, 2))]
    assert recorder.requests == []
