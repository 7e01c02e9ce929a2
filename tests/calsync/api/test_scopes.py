"""An API key cannot read or write outside its scope: read vs write vs admin, and one key's events are
never another's to change or delete (each key writes under ownership tags of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.calsync.api.conftest import MAILBOX, ApiClient, ApiTenant, api_client, eventually

EVENT = {"event_id": "shared-id", "summary": "Key A's", "start": "2027-05-03T09:00:00Z",
         "end": "2027-05-03T10:00:00Z"}  # fmt: skip
QUERY = {"from": "2027-05-01", "to": "2027-05-10", "include_managed": "true"}


async def _primary(c: ApiClient, headers: dict[str, str]) -> str:
    listed = (await c.http.get("/v1/calendars", headers=headers)).json()["calendars"]
    return next(cal["calendar_id"] for cal in listed if cal["calendar_primary"])


@pytest.mark.parametrize(
    ("scopes", "reads", "writes"),
    [(("read",), True, False), (("write",), False, True), (("admin",), True, True),
     (("read", "write"), True, True)],
)  # fmt: skip
async def test_each_scope_allows_what_it_names(
    api_tenant: ApiTenant, folder: Path, scopes: tuple[str, ...], reads: bool, writes: bool
) -> None:
    async with api_client(api_tenant, folder) as c:
        cid = await _primary(c, c.auth("read"))
        headers = c.auth(*scopes)
        for path in ("/v1/profiles", "/v1/calendars", "/v1/events"):
            answer = await c.http.get(path, headers=headers)
            assert answer.status_code == (200 if reads else 403), (path, answer.text)
        upsert = await c.http.post(f"/v1/calendars/{cid}/events", json=EVENT, headers=headers)
        delete = await c.http.request(
            "DELETE", f"/v1/calendars/{cid}/events", json={"event_id": "x"}, headers=headers
        )
        assert upsert.status_code == (202 if writes else 403)
        assert delete.status_code == (202 if writes else 403)
        if not writes:
            assert upsert.json()["errors"]["scope"][0]["key"] == "errors.forbidden"


async def test_keys_never_touch_each_others_events(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        a, b = c.auth("read", "write"), c.auth("read", "write")
        cid = await _primary(c, a)
        url = f"/v1/calendars/{cid}/events"
        assert (await c.http.post(url, json=EVENT, headers=a)).status_code == 202
        await eventually(lambda: len(api_tenant.calendar_events()) == 1, "key A's event")

        # B deletes "its" shared-id: it has none, so A's stays
        assert (
            await c.http.request("DELETE", url, json={"event_id": "shared-id"}, headers=b)
        ).status_code == 202
        # B upserts the same event_id: a second, separate event of B's
        b_event = {**EVENT, "summary": "Key B's"}
        assert (await c.http.post(url, json=b_event, headers=b)).status_code == 202
        await eventually(lambda: len(api_tenant.calendar_events()) == 2, "key B's own event")
        assert sorted(e.props["subject"] for e in api_tenant.calendar_events()) == ["Key A's", "Key B's"]

        # each sees its own event as managed, with its event_id; the other's is foreign to it
        seen_by_a = (await c.http.get("/v1/events", params=QUERY, headers=a)).json()["events"]
        own = [e for e in seen_by_a if e.get("event_id") == "shared-id"]
        assert [e["summary"] for e in own] == ["Key A's"]
        other = next(e for e in seen_by_a if e["summary"] == "Key B's")
        assert other["managed"] is False
        assert "event_id" not in other
        assert other["options"]["delete"] is False

        # A deletes its event: B's stays
        assert (
            await c.http.request("DELETE", url, json={"event_id": "shared-id"}, headers=a)
        ).status_code == 202
        await eventually(
            lambda: [e.props["subject"] for e in api_tenant.calendar_events()] == ["Key B's"], "only B's left"
        )


async def test_a_key_sees_no_mailbox_the_deployment_does_not_serve(
    api_tenant: ApiTenant, folder: Path
) -> None:
    from calsync.services.unified_ids import calendar_id
    from graphemu.world import User

    world = api_tenant.world  # a second user with a mailbox, not named in calsync.toml
    tenant_id = world.find_user(MAILBOX).tenant_id
    stranger = world.add_user(User("0000-stranger", tenant_id, "eve@uni.example", "Eve", "eve@uni.example"))
    graph_id = api_tenant.world.default_calendar(stranger.id).id
    async with api_client(api_tenant, folder) as c:
        headers = c.auth("admin")
        listed = (await c.http.get("/v1/calendars", headers=headers)).json()["calendars"]
        assert all(cal["profile_name"] != "eve@uni.example" for cal in listed)
        forged = calendar_id("eve@uni.example", graph_id)
        answer = await c.http.post(f"/v1/calendars/{forged}/events", json=EVENT, headers=headers)
        assert answer.status_code == 404
        read = await c.http.get("/v1/events", params={**QUERY, "calendar_ids[]": forged}, headers=headers)
        assert read.status_code == 404
        assert api_tenant.world.events.get(stranger.id, {}) == {}
