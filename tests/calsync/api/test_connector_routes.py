"""The connector routes of /v1 (calendars create/update/delete, occurrences, free/busy, meeting times)
through httpx's ASGI transport, against graphemu over TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calsync.api.conftest import MAILBOX, ApiClient, ApiTenant, api_client


async def profile_of(c: ApiClient) -> str:
    answer = await c.http.get("/v1/profiles", headers=c.auth("read"))
    pid: str = answer.json()["profiles"][0]["profile_id"]
    return pid


async def create_in_graph(c: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    graph = await c.deployment.graph()
    return await graph.create_event(MAILBOX, body)


def errors_of(response: Any) -> dict[str, str]:
    return {field: items[0]["key"] for field, items in response.json()["errors"].items()}


async def test_calendar_create_update_delete(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        pid, write = await profile_of(c), c.auth("write")
        body = {"profile_id": pid, "name": "Exams", "color": "lightBlue"}
        made = await c.http.post("/v1/calendars", json=body, headers=write)
        assert made.status_code == 201, made.text
        calendar = made.json()["calendar"]
        assert (calendar["calendar_name"], calendar["profile_id"]) == ("Exams", pid)
        assert (calendar["calendar_primary"], calendar["calendar_readonly"]) == (False, False)
        assert calendar["calendar_integrated_conferencing_available"] is True
        listed = (await c.http.get("/v1/calendars", headers=c.auth("read"))).json()["calendars"]
        assert calendar["calendar_id"] in {x["calendar_id"] for x in listed}

        taken = await c.http.post("/v1/calendars", json={"profile_id": pid, "name": "exams"}, headers=write)
        assert (taken.status_code, errors_of(taken)) == (422, {"name": "errors.taken"})
        read_only = await c.http.post("/v1/calendars", json={"profile_id": pid, "name": "X"},
                                      headers=c.auth("read"))  # fmt: skip
        assert read_only.status_code == 403
        unknown = await c.http.post("/v1/calendars", json={"profile_id": "pro_bm9ib2R5", "name": "X"},
                                    headers=write)  # fmt: skip
        assert (unknown.status_code, errors_of(unknown)) == (404, {"profile_id": "errors.not_found"})
        extra = await c.http.post("/v1/calendars", json={"profile_id": pid, "name": "X", "colour": "red"},
                                  headers=write)  # fmt: skip
        assert extra.status_code == 422

        cid = calendar["calendar_id"]
        renamed = await c.http.patch(f"/v1/calendars/{cid}", json={"name": "Finals"}, headers=write)
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["calendar"]["calendar_name"] == "Finals"
        empty = await c.http.patch(f"/v1/calendars/{cid}", json={}, headers=write)
        assert empty.status_code == 422
        assert "nothing to change" in empty.text

        gone = await c.http.delete(f"/v1/calendars/{cid}", headers=write)
        assert gone.status_code == 202, gone.text
        listed = (await c.http.get("/v1/calendars", headers=c.auth("read"))).json()["calendars"]
        assert cid not in {x["calendar_id"] for x in listed}
        again = await c.http.delete(f"/v1/calendars/{cid}", headers=write)
        assert again.status_code == 404
        primary = next(x for x in listed if x["calendar_primary"])
        refused = await c.http.delete(f"/v1/calendars/{primary['calendar_id']}", headers=write)
        assert (refused.status_code, errors_of(refused)) == (422, {"calendar_id": "errors.invalid"})


async def test_occurrences_of_a_series(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        series = await create_in_graph(c, {
            "subject": "Tutorial",
            "start": {"dateTime": "2026-11-03T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-03T10:00:00", "timeZone": "UTC"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
                "range": {"type": "numbered", "startDate": "2026-11-03", "numberOfOccurrences": 4},
            },
        })  # fmt: skip
        calendars = (await c.http.get("/v1/calendars", headers=c.auth("read"))).json()["calendars"]
        cid = next(x["calendar_id"] for x in calendars if x["calendar_primary"])
        url = f"/v1/calendars/{cid}/events/{series['iCalUId']}/occurrences"
        window = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "tzid": "Europe/Berlin"}
        answer = await c.http.get(url, params=window, headers=c.auth("read"))
        assert answer.status_code == 200, answer.text
        found = answer.json()["occurrences"]
        assert [o["start"] for o in found] == [
            "2026-11-03T10:00:00+01:00", "2026-11-10T10:00:00+01:00",
            "2026-11-17T10:00:00+01:00", "2026-11-24T10:00:00+01:00",
        ]  # fmt: skip
        assert {o["summary"] for o in found} == {"Tutorial"}
        limited = await c.http.get(url, params=window | {"limit": "2"}, headers=c.auth("read"))
        assert len(limited.json()["occurrences"]) == 2
        missing = await c.http.get(f"/v1/calendars/{cid}/events/nope/occurrences", params=window,
                                   headers=c.auth("read"))  # fmt: skip
        assert (missing.status_code, errors_of(missing)) == (404, {"event_uid": "errors.not_found"})
        zone = await c.http.get(url, params=window | {"tzid": "Mars/Olympus"}, headers=c.auth("read"))
        assert (zone.status_code, errors_of(zone)) == (422, {"tzid": "errors.invalid"})
        naive = await c.http.get(url, params=window | {"from": "2026-11-01T00:00:00"}, headers=c.auth("read"))
        assert naive.status_code == 422


async def test_free_busy(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        await create_in_graph(c, {
            "subject": "Exam board", "showAs": "busy",
            "start": {"dateTime": "2026-11-04T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-04T11:00:00", "timeZone": "UTC"},
        })  # fmt: skip
        pid = await profile_of(c)
        query = {
            "profile_id": pid,
            "emails": [MAILBOX, "ghost@uni.example"],
            "interval_minutes": 60,
            "from": "2026-11-04T09:00:00Z",
            "to": "2026-11-04T12:00:00Z",
            "tzid": "America/New_York",
        }
        answer = await c.http.post("/v1/free_busy", json=query, headers=c.auth("read"))
        assert answer.status_code == 200, answer.text
        mine, ghost = answer.json()["schedules"]
        assert (mine["email"], mine["free_busy_view"]) == (MAILBOX, "020")
        assert mine["busy"] == [
            {"start": "2026-11-04T05:00:00-05:00", "end": "2026-11-04T06:00:00-05:00", "status": "busy",
             "private": False, "summary": "Exam board", "location": ""}
        ]  # fmt: skip
        assert ghost["error"]["code"] == "ErrorMailRecipientNotFound"
        too_long = await c.http.post("/v1/free_busy", json=query | {"to": "2027-02-01T00:00:00Z"},
                                     headers=c.auth("read"))  # fmt: skip
        assert (too_long.status_code, errors_of(too_long)) == (422, {"to": "errors.invalid"})
        assert (await c.http.post("/v1/free_busy", json=query, headers=c.auth("write"))).status_code == 403
        slots = await c.http.post(
            "/v1/free_busy", json=query | {"interval_minutes": 2}, headers=c.auth("read")
        )
        assert slots.status_code == 422


async def test_meeting_times_need_a_delegated_profile(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        pid = await profile_of(c)
        query = {"profile_id": pid, "attendees": [MAILBOX], "from": "2026-11-04T09:00:00Z",
                 "to": "2026-11-04T12:00:00Z", "duration_minutes": 60}  # fmt: skip
        answer = await c.http.post("/v1/meeting_times", json=query, headers=c.auth("read"))
        assert (answer.status_code, errors_of(answer)) == (422, {"profile_id": "errors.delegated_only"})
        assert "signed-in user" in answer.text
        long = await c.http.post(
            "/v1/meeting_times", json=query | {"duration_minutes": 600}, headers=c.auth("read")
        )
        assert (long.status_code, errors_of(long)) == (422, {"duration_minutes": "errors.invalid"})


async def test_the_routes_are_in_the_openapi_document(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        document = (await c.http.get("/openapi.json")).json()
        paths = document["paths"]
        assert {"post"} <= set(paths["/v1/calendars"])
        assert {"patch", "delete"} <= set(paths["/v1/calendars/{calendar_id}"])
        assert "get" in paths["/v1/calendars/{calendar_id}/events/{event_uid}/occurrences"]
        assert "post" in paths["/v1/free_busy"]
        assert "post" in paths["/v1/meeting_times"]
        assert {"FreeBusyQuery", "MeetingTimesAnswer", "CreateCalendar"} <= set(
            document["components"]["schemas"]
        )
