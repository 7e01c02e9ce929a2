"""The subscription upkeep against graphemu (TLS) on calsync's moved clock: renewal at half the lifetime
and not before, a lapsed subscription created again (and its mailbox reconciled), and the subscription
of a mailbox no longer synced deleted.

graphemu's clock stays: moving it hours ahead would make every client assertion calsync signs (on the
machine's clock) "outside its valid time range", as Entra says of a skewed machine. graphemu accepts the
later expiries as long as they stay within its maximum lifetime (10,080 minutes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.services import subscribing
from tests.calsync.notify.harness import ADA, BOB, notified_service, until
from tests.calsync.tenants import Tenant

pytestmark = pytest.mark.slow

LIFETIME = timedelta(minutes=600)


def advance(offset: list[timedelta], by: timedelta) -> None:
    """Move calsync's deployment clock forward."""
    offset[0] += by


async def test_renewal_at_half_the_lifetime_recreation_after_a_lapse_and_removal(
    tmp_path: Path, tenant: Tenant
) -> None:
    extra = f"subscription_lifetime_minutes = {LIFETIME.total_seconds() / 60:.0f}\n"
    async with notified_service(tmp_path / "svc", tenant, [ADA, BOB], extra) as svc:

        async def subscribed() -> bool:
            return len(await svc.subscriptions()) == 2 and await svc.nothing_pending()

        await until(subscribed, "the subscriptions")
        offset = [timedelta(0)]
        svc.deployment.clock = lambda: datetime.now(UTC) + offset[0]
        store = subscribing.table(svc.deployment)
        first = {r.scope: r for r in store.all()}
        assert all(r.expires_at is not None for r in first.values())

        done = await subscribing.upkeep(svc.deployment)
        assert (done.created, done.renewed, done.failed) == ([], [], [])
        assert done.next_due is not None

        advance(offset, LIFETIME / 2 - timedelta(minutes=5))
        assert (await subscribing.upkeep(svc.deployment)).renewed == []

        advance(offset, timedelta(minutes=10))  # past half the lifetime
        done = await subscribing.upkeep(svc.deployment)
        assert sorted(done.renewed) == [ADA, BOB]
        for record in store.all():
            assert record.expires_at is not None
            assert record.expires_at > first[record.scope].expires_at + LIFETIME / 2 - timedelta(minutes=1)
        renewed = {r.subscription_id: r.expires_at for r in store.all()}
        for sub in await svc.subscriptions():  # Graph holds the new expiry
            expiry = datetime.fromisoformat(sub["expirationDateTime"][:26] + "+00:00")
            assert abs(expiry - renewed[sub["id"]]) < timedelta(seconds=1)

        advance(offset, LIFETIME + timedelta(minutes=1))  # nobody renewed: Graph dropped them
        for sub in await svc.subscriptions():  # and Graph dropped them
            tenant[0].extra["subscriptions"].remove(sub["id"])
        done = await subscribing.upkeep(svc.deployment)
        assert sorted(done.created) == sorted(done.reconcile) == [ADA, BOB]
        assert len(await svc.subscriptions()) == 2

        done = await subscribing.upkeep(svc.deployment, [ADA])  # BOB left the selection
        assert done.removed == [BOB]
        assert [s["resource"] for s in await svc.subscriptions()] == [f"/users/{ADA}/events"]
        assert [r.scope for r in store.all()] == [ADA]
