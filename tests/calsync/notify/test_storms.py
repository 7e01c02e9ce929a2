"""Storms and lifecycle events from graphemu, delivered over real HTTP to calsync's web app: batched,
duplicated and reordered notifications make one repair per mailbox and lose no change; lifecycle events
are answered (reauthorize, recreate and reconcile, reconcile); forged notifications are ignored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from calsync.services import subscribing
from tests.calsync.notify.harness import ADA, BOB, Service, notified_service, synced, until, world_edit
from tests.calsync.tenants import Tenant

pytestmark = pytest.mark.slow


async def subjects(svc: Service, mailbox: str) -> dict[str, str]:
    return {e["id"]: e["props"]["subject"] for e in await svc.managed(mailbox)}


async def sub_id(svc: Service, mailbox: str) -> str:
    return next(s["id"] for s in await svc.subscriptions() if s["resource"] == f"/users/{mailbox}/events")


async def test_a_batched_duplicated_reordered_storm_makes_one_repair_per_mailbox(
    tmp_path: Path, tenant: Tenant
) -> None:
    world = tenant[0]
    async with notified_service(tmp_path / "svc", tenant, [ADA, BOB]) as svc:
        await synced(svc)
        await svc.limits(notificationBatch=True, notificationDuplicateRate=1.0, notificationReorder=True)
        want = {m: await subjects(svc, m) for m in (ADA, BOB)}
        seq, before = await svc.last_seq(), dict(svc.runtime.notified)

        def storm() -> None:  # every managed event edited, some twice, before any notification leaves
            for _ in range(2):
                for mailbox, events in want.items():
                    for event_id in events:
                        world_edit(world, mailbox, event_id, "Changed in Outlook")

        await asyncio.to_thread(storm)
        await svc.idle()

        async def repaired() -> bool:
            return all([await subjects(svc, m) == want[m] for m in (ADA, BOB)])

        await until(repaired, "the repair of every edit")
        await svc.idle()
        assert svc.runtime.notified["repaired"] == before.get("repaired", 0) + 2  # one per mailbox
        assert (
            await svc.writes(seq) == 4
        )  # each edited event put right once; the repairs' echoes repair nothing
        assert svc.hooks.received.echoes >= 8  # every notification came twice


async def test_forged_notifications_are_ignored_and_the_handshake_is_answered(
    tmp_path: Path, tenant: Tenant
) -> None:
    async with notified_service(tmp_path / "svc", tenant, [ADA, BOB]) as svc:
        await synced(svc)
        event_id = next(iter(await subjects(svc, ADA)))
        async with httpx.AsyncClient(base_url=svc.url) as web:
            for path in ("/graph/notifications", "/graph/lifecycle"):
                token = "Validation: Testing client application reachability for subscription Request-Id: 1"
                answer = await web.post(path, params={"validationToken": token}, content=b"")
                assert (answer.status_code, answer.text) == (200, token)
                assert answer.headers["content-type"].startswith("text/plain")
            forged = {
                "subscriptionId": await sub_id(svc, ADA),
                "clientState": "guessed",
                "changeType": "deleted",
                "resource": f"Users/x/Events/{event_id}",
                "resourceData": {"id": event_id},
            }
            unknown = {**forged, "subscriptionId": "00000000-0000-0000-0000-000000000000"}
            lifecycle = {**forged, "lifecycleEvent": "subscriptionRemoved"}
            assert (
                await web.post("/graph/notifications", json={"value": [forged, unknown]})
            ).status_code == 202
            assert (await web.post("/graph/lifecycle", json={"value": [lifecycle]})).status_code == 202
            assert (await web.post("/graph/notifications", content=b"not json")).status_code == 400
            assert (await web.post("/graph/notifications", json={"value": []})).status_code == 400
            huge = b'{"value": [' + b" " * (8 * 1024 * 1024) + b"]}"
            assert (await web.post("/graph/notifications", content=huge)).status_code == 413
        await svc.idle()
        assert svc.hooks.received.ignored == 3
        assert svc.hooks.received.scopes == {}
        assert sum(svc.runtime.notified.values()) == 0
        assert len(await svc.subscriptions()) == 2  # nothing recreated on a forged subscriptionRemoved


async def control_lifecycle(svc: Service, mailbox: str, event: str) -> None:
    answer = await svc.emu.post(
        f"/_emu/subscriptions/{await sub_id(svc, mailbox)}/lifecycle", json={"event": event}
    )
    assert answer.json() == {"sent": True}


async def test_lifecycle_events_are_answered_and_lost_changes_are_reconciled(
    tmp_path: Path, tenant: Tenant
) -> None:
    world = tenant[0]
    async with notified_service(tmp_path / "svc", tenant, [ADA, BOB]) as svc:
        await synced(svc)
        store = subscribing.table(svc.deployment)
        seq = await svc.last_seq()

        # reauthorizationRequired: calsync reauthorizes the subscription
        await control_lifecycle(svc, ADA, "reauthorizationRequired")
        await svc.idle()
        log = (await svc.emu.get("/_emu/requests", params={"since": seq})).json()["value"]
        assert [e["status"] for e in log if e["path"].endswith("/reauthorize")] == [204]
        record = store.get(ADA)
        assert record is not None
        assert (record.status, record.last_event) == ("active", "reauthorizationRequired")

        # subscriptionRemoved: a change made while nobody listened is found by the reconcile
        old = await sub_id(svc, BOB)
        want = await subjects(svc, BOB)
        await control_lifecycle(svc, BOB, "subscriptionRemoved")
        await asyncio.to_thread(world_edit, world, BOB, next(iter(want)), "Edited unheard")
        await svc.idle()
        await until(lambda: _equal(svc, BOB, want), "the reconcile after subscriptionRemoved")
        assert await sub_id(svc, BOB) != old  # a new subscription
        record = store.get(BOB)
        assert record is not None
        assert (record.status, record.last_event) == ("active", "subscriptionRemoved")

        # missed: a notification that never came (the listener is bypassed) is made up for
        want = await subjects(svc, ADA)
        notifier = world.extra["notifier"]
        world.listeners.remove(notifier.on_change)
        try:
            await asyncio.to_thread(world_edit, world, ADA, next(iter(want)), "Edited, notification lost")
        finally:
            world.listeners.append(notifier.on_change)
        await control_lifecycle(svc, ADA, "missed")
        await svc.idle()
        await until(lambda: _equal(svc, ADA, want), "the reconcile after missed")


async def _equal(svc: Service, mailbox: str, want: dict[str, str]) -> bool:
    return await subjects(svc, mailbox) == want
