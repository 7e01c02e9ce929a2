"""Sync runs tell subscribers (calsync.services.push.on_run), against graphemu over TLS: a run that
wrote -> calendar.changed; a mailbox's first good run -> profile.initial_sync_completed, once; a run
with nothing to do -> nothing; a failed run -> sync.failed. Delivered to a real loopback receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from calsync import services
from calsync.certs import create_certificate
from calsync.services import push
from calsync.services.unified_ids import profile_id
from calsync.settings import load_settings
from tests.calsync.push.receiver import Receiver, running_receiver
from tests.calsync.services.conftest import MAILBOX, Tenant
from tests.calsync.services.test_sync_service import FEED


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def test_runs_publish_what_changed_the_first_sync_and_failures(
    tmp_path: Path, tenant: Tenant, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALSYNC_TOKEN_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("CALSYNC_PUSH_ALLOW_PRIVATE_CALLBACKS", "true")
    monkeypatch.setenv("CALSYNC_PUSH_ALLOW_HTTP_CALLBACKS", "true")
    feed = tmp_path / "feed.ics"
    feed.write_text(FEED)
    settings = load_settings(tenant.config(tmp_path, feed))
    async with services.open_deployment(settings) as deployment:
        made = await push.create_channel(deployment, owner="ops", callback_url=receiver.url("/ok/ops"))
        receiver.secrets["/ok/ops"] = made.secret
        store = push.push_store(deployment)

        def types() -> list[str]:
            return [d.event_type for d in reversed(store.deliveries())]

        first = await services.sync_mailbox(deployment, MAILBOX)
        assert (first.status, first.created) == ("ok", 1)
        assert types() == ["calendar.changed", "profile.initial_sync_completed"]
        second = await services.sync_mailbox(deployment, MAILBOX)
        assert (second.status, second.created, second.updated) == ("ok", 0, 0)
        assert len(types()) == 2  # nothing changed: nothing to tell, and the first sync is told once
        feed.write_text(FEED.replace("SUMMARY:A", "SUMMARY:B"))
        third = await services.sync_mailbox(deployment, MAILBOX)
        assert third.updated == 1
        assert types()[2:] == ["calendar.changed"]
    stranger = create_certificate(tmp_path / "unknown")  # a certificate the app registration never had
    settings = load_settings(tenant.config(tmp_path, feed, cert=stranger))
    async with services.open_deployment(settings) as deployment:
        failed = await services.sync_mailbox(deployment, MAILBOX)
        assert (failed.status, failed.error_code) == ("failed", "auth_refused")
        store = push.push_store(deployment)
        assert [d.event_type for d in store.deliveries(limit=1)] == ["sync.failed"]
        deliverer = push.deliverer(deployment)
        await deliverer.drain()
        await deliverer.aclose()
    # Delivered concurrently, so they may arrive in any order; each once.
    got = sorted(
        (r.verified for r in receiver.delivered("/ok/ops")), key=lambda g: (g["type"], g["timestamp"])
    )
    assert [g["type"] for g in got] == ["calendar.changed", "calendar.changed",
                                        "profile.initial_sync_completed", "sync.failed"]  # fmt: skip
    assert {g["data"]["profile_id"] for g in got} == {profile_id(MAILBOX)}
    first_change, second_change = sorted(g["data"]["changes_since"] for g in got[:2])
    assert first_change <= second_change
    assert got[0]["data"]["calendar_ids"] == []  # the default calendar: its id is not read by the run
    assert got[3]["data"]["error_code"] == "auth_refused"
