"""A client application drives the API end to end against graphemu over TLS, as docs/api.md shows it:
a key, profiles, calendars, an upsert with Teams, the event read back, updated, its Teams meeting
removed, deleted; refusals on a read-only calendar and where Teams is not offered. Events really appear
in and disappear from graphemu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calsync.api.conftest import ApiClient, ApiTenant, api_client, eventually

EVENT = {
    "event_id": "lecture-42",
    "summary": "Algebra I",
    "description": "Week 3: groups.",
    "start": "2027-03-02T09:00:00",
    "end": "2027-03-02T10:30:00",
    "tzid": "Europe/Amsterdam",
    "location": {"description": "Hall A"},
    "reminders": [{"minutes": 10}],
    "transparency": "opaque",
    "categories": ["Lecture"],
    "conferencing": {"profile_id": "default"},
}


async def _calendars(c: ApiClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    answer = await c.http.get("/v1/calendars", headers=headers)
    assert answer.status_code == 200, answer.text
    return {cal["calendar_name"]: cal for cal in answer.json()["calendars"]}


async def test_a_client_app_upserts_reads_updates_and_deletes(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        headers = c.auth("read", "write")
        (profile,) = (await c.http.get("/v1/profiles", headers=headers)).json()["profiles"]
        calendars = await _calendars(c, headers)
        primary = calendars["Calendar"]
        assert primary["calendar_primary"] is True
        assert primary["calendar_readonly"] is False
        assert primary["calendar_integrated_conferencing_available"] is True
        assert primary["profile_id"] == profile["profile_id"]
        assert primary["provider_name"] == "exchange"
        holidays = calendars["United States holidays"]
        assert holidays["calendar_readonly"] is True
        assert holidays["calendar_primary"] is False
        assert calendars["Rooms"]["calendar_integrated_conferencing_available"] is False
        cid = primary["calendar_id"]

        created = await c.http.post(f"/v1/calendars/{cid}/events", json=EVENT, headers=headers)
        assert created.status_code == 202, created.text
        assert created.content == b""
        await eventually(lambda: len(api_tenant.calendar_events("Calendar")) == 1, "the event in Graph")
        (stored,) = api_tenant.calendar_events("Calendar")
        assert stored.props["subject"] == "Algebra I"
        assert stored.props["isOnlineMeeting"] is True
        assert stored.props["onlineMeetingProvider"] == "teamsForBusiness"
        assert stored.props["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/")
        assert stored.props["reminderMinutesBeforeStart"] == 10
        assert stored.props["categories"] == ["Lecture"]
        assert stored.transaction_id  # written by the engine: a deterministic transactionId

        # read back: foreign by default hidden? No: managed events are left out unless asked for
        query = {"from": "2027-03-01", "to": "2027-03-05", "tzid": "Europe/Amsterdam"}
        default = (await c.http.get("/v1/events", params=query, headers=headers)).json()
        assert default["events"] == []
        mine = await c.http.get("/v1/events", params={**query, "include_managed": "true"}, headers=headers)
        (event,) = mine.json()["events"]
        assert event["event_id"] == "lecture-42"
        assert event["managed"] is True
        assert event["summary"] == "Algebra I"
        assert event["start"] == "2027-03-02T08:00:00Z"
        assert event["location"] == {"description": "Hall A"}
        assert event["conferencing"]["join_url"] == stored.props["onlineMeeting"]["joinUrl"]
        assert event["options"]["update"] is True

        # update by the same event_id: the same Graph event changes
        moved = {**EVENT, "summary": "Algebra I (moved)", "start": "2027-03-03T09:00:00",
                 "end": "2027-03-03T10:00:00"}  # fmt: skip
        assert (
            await c.http.post(f"/v1/calendars/{cid}/events", json=moved, headers=headers)
        ).status_code == 202
        await eventually(
            lambda: [e.props["subject"] for e in api_tenant.calendar_events()] == ["Algebra I (moved)"],
            "the update in Graph",
        )
        assert api_tenant.calendar_events()[0].id == stored.id

        # conferencing omitted keeps the meeting; none removes it (Graph cannot: the event is replaced)
        plain = {k: v for k, v in moved.items() if k != "conferencing"}
        assert (
            await c.http.post(f"/v1/calendars/{cid}/events", json=plain, headers=headers)
        ).status_code == 202
        none = {**moved, "conferencing": {"profile_id": "none"}}
        assert (
            await c.http.post(f"/v1/calendars/{cid}/events", json=none, headers=headers)
        ).status_code == 202
        await eventually(
            lambda: [e.props["isOnlineMeeting"] for e in api_tenant.calendar_events()] == [False],
            "one event, without its Teams meeting",
        )
        again = await c.http.get("/v1/events", params={**query, "only_managed": "true"}, headers=headers)
        assert [e["event_id"] for e in again.json()["events"]] == ["lecture-42"]

        deleted = await c.http.request(
            "DELETE", f"/v1/calendars/{cid}/events", json={"event_id": "lecture-42"}, headers=headers
        )
        assert deleted.status_code == 202
        await eventually(lambda: api_tenant.calendar_events() == [], "the event gone from Graph")
        gone = await c.http.request(
            "DELETE", f"/v1/calendars/{cid}/events", json={"event_id": "never-made"}, headers=headers
        )
        assert gone.status_code == 202


async def test_refusals_are_clear_and_write_nothing(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        headers = c.auth("read", "write")
        calendars = await _calendars(c, headers)
        readonly = await c.http.post(
            f"/v1/calendars/{calendars['United States holidays']['calendar_id']}/events",
            json=EVENT, headers=headers,
        )  # fmt: skip
        assert readonly.status_code == 422
        assert readonly.json()["errors"]["calendar_id"][0]["key"] == "errors.calendar_readonly"
        no_teams = await c.http.post(
            f"/v1/calendars/{calendars['Rooms']['calendar_id']}/events", json=EVENT, headers=headers
        )
        assert no_teams.status_code == 422
        assert (
            no_teams.json()["errors"]["conferencing.profile_id"][0]["key"]
            == "errors.conferencing_unavailable"
        )
        unknown = await c.http.post("/v1/calendars/cal_bm9wZQ/events", json=EVENT, headers=headers)
        assert unknown.status_code == 404
        bad = await c.http.post(
            f"/v1/calendars/{calendars['Calendar']['calendar_id']}/events",
            json={**EVENT, "end": "2027-03-02T08:00:00", "tzid": "Mars/Olympus"},
            headers=headers,
        )
        assert bad.status_code == 422
        assert set(bad.json()["errors"]) == {"tzid"}
        mixed = await c.http.post(
            f"/v1/calendars/{calendars['Calendar']['calendar_id']}/events",
            json={**EVENT, "end": "2027-03-03"}, headers=headers,
        )  # fmt: skip
        assert mixed.status_code == 422
        read_only_key = c.auth("read")
        refused = await c.http.post(
            f"/v1/calendars/{calendars['Calendar']['calendar_id']}/events", json=EVENT, headers=read_only_key
        )
        assert refused.status_code == 403
        assert api_tenant.calendar_events() == []


async def test_all_day_and_explicit_conferencing(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        headers = c.auth("read", "write")
        rooms = (await _calendars(c, headers))["Rooms"]
        event = {
            "event_id": "exam-week",
            "summary": "Exam week",
            "start": "2027-06-07",
            "end": "2027-06-12",
            "tzid": "Europe/London",
            "transparency": "transparent",
            "reminders": [],
            "conferencing": {"profile_id": "explicit", "provider_description": "Zoom",
                             "join_url": "https://zoom.example/j/123"},
        }  # fmt: skip
        answer = await c.http.post(
            f"/v1/calendars/{rooms['calendar_id']}/events", json=event, headers=headers
        )
        assert answer.status_code == 202, answer.text
        await eventually(lambda: len(api_tenant.calendar_events("Rooms")) == 1, "the all-day event")
        (stored,) = api_tenant.calendar_events("Rooms")
        assert stored.props["isAllDay"] is True
        assert stored.props["showAs"] == "free"
        assert stored.props["isReminderOn"] is False
        assert "Zoom: https://zoom.example/j/123" in stored.props["body"]["content"]
        read = await c.http.get(
            "/v1/events",
            params={"from": "2027-06-01", "to": "2027-06-30", "only_managed": "true",
                    "calendar_ids[]": rooms["calendar_id"]},
            headers=headers,
        )  # fmt: skip
        (got,) = read.json()["events"]
        assert (got["start"], got["end"]) == ("2027-06-07", "2027-06-12")
        assert got["transparency"] == "transparent"
