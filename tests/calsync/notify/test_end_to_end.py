"""Graph change notifications end to end: graphemu (TLS) delivers over real HTTP to calsync's web app on
loopback, which asks its scheduler for one run per mailbox; a user's edit is put right, calsync's own
writes do not start a repair loop, and storms (batched, duplicated, reordered) make one run per mailbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.calsync.notify.harness import ADA, BOB, Service, notified_service, synced, until
from tests.calsync.tenants import Tenant

pytestmark = pytest.mark.slow


async def subject_of(svc: Service, mailbox: str, event_id: str) -> str:
    return next(e["props"]["subject"] for e in await svc.managed(mailbox) if e["id"] == event_id)


async def test_a_users_edit_is_put_right_by_one_run_and_the_repair_does_not_echo(
    tmp_path: Path, tenant: Tenant
) -> None:
    async with notified_service(tmp_path / "svc", tenant, [ADA, BOB]) as svc:
        await synced(svc)
        subs = {s["resource"]: s for s in await svc.subscriptions()}
        assert set(subs) == {f"/users/{ADA}/events", f"/users/{BOB}/events"}
        assert all(s["lifecycleNotificationUrl"] == svc.url + "/graph/lifecycle" for s in subs.values())
        event = (await svc.managed(ADA))[0]
        original = event["props"]["subject"]
        seq = await svc.last_seq()
        before = dict(svc.runtime.notified)

        await svc.user_edit(ADA, event["id"], "Moved by a user")

        async def repaired() -> bool:
            return await subject_of(svc, ADA, event["id"]) == original

        await until(repaired, "the repair of the user's edit")
        await svc.idle()
        # one repair for the user's edit; the repair's own notification is an echo and repairs nothing
        assert svc.runtime.notified["repaired"] == before.get("repaired", 0) + 1
        assert svc.hooks.received.changes >= 1
        # the user's PATCH and calsync's one repair: no loop of writes
        assert await svc.writes(seq) == 2
