"""Channels through the REST API, end to end: a client app subscribes a real loopback receiver, writes an
event through the API, and another subscriber is told (signed, verified with `standardwebhooks`); the
writer's own channel is not, unless it asked. A key sees and deletes only its own channels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from calsync.services.unified_ids import profile_id
from tests.calsync.api.conftest import MAILBOX, ApiTenant, api_client, eventually
from tests.calsync.push.receiver import Receiver, running_receiver

EVENT = {
    "event_id": "lecture-1",
    "summary": "Algebra",
    "start": "2027-03-02T09:00:00Z",
    "end": "2027-03-02T10:00:00Z",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def push_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSYNC_TOKEN_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("CALSYNC_PUSH_ALLOW_PRIVATE_CALLBACKS", "true")
    monkeypatch.setenv("CALSYNC_PUSH_ALLOW_HTTP_CALLBACKS", "true")


def changes(receiver: Receiver, path: str) -> list[dict[str, object]]:
    return [r.verified for r in receiver.delivered(path) if r.verified["type"] == "calendar.changed"]


async def test_a_subscriber_is_told_of_another_clients_write_and_the_writer_is_not(
    api_tenant: ApiTenant, folder: Path, receiver: Receiver, push_env: None
) -> None:
    async with api_client(api_tenant, folder) as c:
        writer, watcher = c.auth("read", "write"), c.auth("read")
        made = await c.http.post(
            "/v1/channels", json={"callback_url": receiver.url("/ok/writer")}, headers=writer
        )
        assert made.status_code == 200, made.text
        channel = made.json()["channel"]
        assert channel["secret"].startswith("whsec_")
        assert channel["status"] == "active"
        receiver.secrets["/ok/writer"] = channel["secret"]
        echo = await c.http.post(
            "/v1/channels",
            json={"callback_url": receiver.url("/ok/echo"), "filters": {"include_own_writes": True}},
            headers=writer,
        )
        receiver.secrets["/ok/echo"] = echo.json()["channel"]["secret"]
        other = await c.http.post(
            "/v1/channels",
            json={"callback_url": receiver.url("/ok/watcher"), "filters": {"only_managed": True},
                  "cronofy_signature": True},
            headers=watcher,
        )  # fmt: skip
        receiver.secrets["/ok/watcher"] = other.json()["channel"]["secret"]

        listed = (await c.http.get("/v1/channels", headers=writer)).json()["channels"]
        assert {ch["channel_id"] for ch in listed} == {
            channel["channel_id"],
            echo.json()["channel"]["channel_id"],
        }
        assert all("secret" not in ch for ch in listed)
        refused = await c.http.delete(f"/v1/channels/{channel['channel_id']}", headers=watcher)
        assert refused.status_code == 404  # not the watcher's

        calendars = (await c.http.get("/v1/calendars", headers=writer)).json()["calendars"]
        cid = next(cal["calendar_id"] for cal in calendars if cal["calendar_primary"])
        upsert = await c.http.post(f"/v1/calendars/{cid}/events", json=EVENT, headers=writer)
        assert upsert.status_code == 202, upsert.text
        await eventually(lambda: bool(changes(receiver, "/ok/watcher")), "the watcher's notification")
        await eventually(lambda: bool(changes(receiver, "/ok/echo")), "the echo channel's notification")
        (note,) = changes(receiver, "/ok/watcher")
        data = note["data"]
        assert isinstance(data, dict)
        assert data["calendar_ids"] == [cid]
        assert data["profile_id"] == profile_id(MAILBOX)
        assert "changes_since" in data
        watcher_got = receiver.delivered("/ok/watcher")[-1]
        assert "cronofy-hmac-sha256" in watcher_got.headers
        assert changes(receiver, "/ok/writer") == []  # its own write: not echoed

        gone = await c.http.delete(f"/v1/channels/{channel['channel_id']}", headers=writer)
        assert gone.status_code == 202
        assert len((await c.http.get("/v1/channels", headers=writer)).json()["channels"]) == 1


async def test_channel_requests_are_checked(api_tenant: ApiTenant, folder: Path, push_env: None) -> None:
    async with api_client(api_tenant, folder) as c:
        headers = c.auth("read")
        cases = [
            ({"callback_url": "https://169.254.169.254/latest/meta-data"}, "callback_url"),
            ({"callback_url": "ftp://example.com/x"}, "callback_url"),
            (
                {"callback_url": "https://example.com/x", "filters": {"event_types": ["calendar.moved"]}},
                "filters",
            ),
            ({}, "callback_url"),
        ]
        for body, field in cases:
            answer = await c.http.post("/v1/channels", json=body, headers=headers)
            assert answer.status_code == 422, answer.text
            assert field in answer.json()["errors"]
        assert (
            await c.http.post("/v1/channels", json={"callback_url": "https://x.example/"})
        ).status_code == 401
        document = (await c.http.get("/openapi.json")).json()
        assert {"/v1/channels", "/v1/channels/{channel_id}"} <= set(document["paths"])
        assert document["paths"]["/v1/channels"]["post"]["operationId"] == "createChannel"
