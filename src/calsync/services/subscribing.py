"""Keeping one Graph change-notification subscription per synced mailbox (graph-facts §8, service-facts §5).

`upkeep(deployment)` is one round of it, run by `calsync serve` (embedded) or a periodic job (PostgreSQL):

- every (profile, mailbox) the deployment syncs now gets a subscription on `/users/{mailbox}/events`
  (created, updated, deleted) with `{public_url}/graph/notifications` and a lifecycle URL, created when
  missing, removed by Graph, failed before, or expired;
- a subscription past half its lifetime is renewed (PATCH expirationDateTime); one Graph no longer knows
  (404) is created again, and its mailbox reconciled, since notifications may have been lost meanwhile;
- subscriptions of mailboxes no longer synced (left the selection, profile removed) are deleted.

A subscription is only *notice* that a mailbox changed: the run it triggers re-reads the window, so a
lost or late notification costs latency, never correctness (the daily full run is the backstop).

Creating a subscription makes Graph call the notification URL first (the validation handshake), so the
web app must be listening at `public_url` before `upkeep` runs; a failed create is recorded (status
`failed`, with Graph's message) and tried again at the next round.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from calsync.services.deployment import Deployment
from calsync.store.scoped import scope_key, split_scope
from calsync.store.subscriptions import SqlSubscriptions, SubscriptionRecord, client_state_hash
from calsync.sync.engine import off_loop

if TYPE_CHECKING:
    from calsync.graph import GraphClient

log = logging.getLogger("calsync.notifications")

NOTIFICATIONS_PATH = "/graph/notifications"
LIFECYCLE_PATH = "/graph/lifecycle"
CHANGE_TYPES = "created,updated,deleted"
_DIGITS = re.compile(r"\d*")


def table(deployment: Deployment) -> SqlSubscriptions:
    """The subscriptions table of the deployment's database, on the deployment's clock."""
    return SqlSubscriptions(deployment.store.engine, clock=deployment.clock)


def enabled(deployment: Deployment) -> bool:
    s = deployment.settings
    return s.change_notifications and s.public_url is not None


def resource(mailbox: str) -> str:
    return f"/users/{mailbox}/events"


@dataclass
class Upkeep:
    """What one round did; `reconcile` lists the scopes whose notifications may have been lost."""

    created: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reconcile: list[str] = field(default_factory=list)
    next_due: datetime | None = None  # the earliest renewal the round left for later


async def upkeep(deployment: Deployment, scopes: list[str] | None = None) -> Upkeep:
    """One round (see the module docstring). `scopes`: the deployment's scopes when the caller has just
    read them (a scheduler round); else every profile's mailboxes are read now."""
    done = Upkeep()
    if not enabled(deployment):  # turned off: what an earlier configuration subscribed to goes
        done.removed = [r.scope for r in await off_loop(table(deployment).all)]
        if done.removed:
            await remove_all(deployment)
        return done
    if scopes is None:
        from calsync.services.syncing import mailboxes

        scopes = []
        for view in deployment.profiles():
            scopes += [scope_key(view.name, m) for m in await mailboxes(deployment, view.name)]
    wanted = set(scopes)
    store = table(deployment)
    client = await deployment.graph()
    known = {r.scope: r for r in await off_loop(store.all)}
    for scope, record in known.items():
        if scope not in wanted:
            await _remove(client, store, record)
            done.removed.append(scope)
    for scope in dict.fromkeys(scopes):
        record = known.get(scope) or SubscriptionRecord(scope, "", "removed")
        await _keep(deployment, client, store, record, done)
    return done


async def _keep(
    deployment: Deployment,
    client: GraphClient,
    store: SqlSubscriptions,
    record: SubscriptionRecord,
    done: Upkeep,
) -> None:
    """Create, or renew once past half its lifetime, one scope's subscription (`record` is a placeholder
    with status removed and no id when the scope has none yet)."""
    scope, now = record.scope, deployment.clock()
    lifetime = timedelta(minutes=deployment.settings.subscription_lifetime_minutes)
    expires, sub_id = record.expires_at, record.subscription_id
    if sub_id is None or expires is None or expires <= now or record.status in ("removed", "failed"):
        old = record if record.resource else None
        if await create(deployment, client, store, scope, old) is None:
            done.failed.append(scope)
        else:
            done.created.append(scope)
            if sub_id is not None:  # it lapsed or was removed: changes may have gone unheard
                done.reconcile.append(scope)
        _due(done, now + lifetime / 2)
        return
    # Past half its lifetime, or a reauthorization Graph asked for did not go through: renew (PATCH
    # reauthorizes too).
    due = now if record.status == "reauthorization_required" else expires - lifetime / 2
    if now < due:
        _due(done, due)
        return
    renewed = await renew(deployment, client, store, record)
    if renewed is None:
        done.failed.append(scope)
    elif renewed.subscription_id != sub_id:
        done.created.append(scope)
        done.reconcile.append(scope)
    else:
        done.renewed.append(scope)
    _due(done, deployment.clock() + lifetime / 2)


def _due(done: Upkeep, at: datetime) -> None:
    done.next_due = at if done.next_due is None else min(done.next_due, at)


async def create(
    deployment: Deployment,
    client: GraphClient,
    store: SqlSubscriptions,
    scope: str,
    old: SubscriptionRecord | None,
) -> SubscriptionRecord | None:
    """A new subscription for `scope` (the old one, if Graph still has it, is deleted first); None when
    Graph refused, with the reason recorded on the row."""
    from calsync.graph import GraphClientError

    s = deployment.settings
    assert s.public_url is not None
    mailbox = split_scope(scope)[1]
    if old is not None and old.subscription_id is not None and old.status != "removed":
        await _delete_remote(client, old.subscription_id)
    state = secrets.token_urlsafe(32)  # 256 bits; only its hash is kept
    expires = deployment.clock() + timedelta(minutes=s.subscription_lifetime_minutes)
    try:
        made = await client.create_subscription(
            resource=resource(mailbox),
            notification_url=s.public_url + NOTIFICATIONS_PATH,
            lifecycle_notification_url=s.public_url + LIFECYCLE_PATH,
            expiration=expires,
            change_type=CHANGE_TYPES,
            client_state=state,
        )
    except GraphClientError as exc:
        log.warning("calsync.notifications.create_failed", extra={"scope": scope, "error": str(exc)})
        failed = SubscriptionRecord(scope, resource(mailbox), "failed", error=str(exc)[:500])
        if old is not None:
            failed = replace(failed, last_event=old.last_event, last_event_at=old.last_event_at)
        await off_loop(store.put, failed)
        return None
    record = SubscriptionRecord(
        scope=scope,
        resource=resource(mailbox),
        status="active",
        subscription_id=str(made["id"]),
        expires_at=_expiry(made, expires),
        client_state_hash=client_state_hash(state),
        last_event=old.last_event if old else None,
        last_event_at=old.last_event_at if old else None,
    )
    log.info("calsync.notifications.subscribed", extra={"scope": scope})
    return await off_loop(store.put, record)


async def renew(
    deployment: Deployment, client: GraphClient, store: SqlSubscriptions, record: SubscriptionRecord
) -> SubscriptionRecord | None:
    """Move the expiry a full lifetime ahead (which also answers a pending reauthorization); a
    subscription Graph no longer has is created again. None when Graph refused both."""
    from calsync.graph import GraphClientError, NotFound

    assert record.subscription_id is not None
    expires = deployment.clock() + timedelta(minutes=deployment.settings.subscription_lifetime_minutes)
    try:
        made = await client.renew_subscription(record.subscription_id, expires)
    except NotFound:
        return await create(deployment, client, store, record.scope, replace(record, status="removed"))
    except GraphClientError as exc:
        log.warning("calsync.notifications.renew_failed", extra={"scope": record.scope, "error": str(exc)})
        await off_loop(store.put, replace(record, error=str(exc)[:500]))
        return None
    renewed = replace(record, status="active", expires_at=_expiry(made, expires), error=None)
    return await off_loop(store.put, renewed)


async def reauthorize(
    deployment: Deployment, client: GraphClient, store: SqlSubscriptions, record: SubscriptionRecord
) -> SubscriptionRecord | None:
    """Answer reauthorizationRequired: POST /reauthorize, or renew when the expiry is near anyway."""
    from calsync.graph import GraphClientError, NotFound

    assert record.subscription_id is not None
    try:
        await client.reauthorize_subscription(record.subscription_id)
    except NotFound:
        return await create(deployment, client, store, record.scope, replace(record, status="removed"))
    except GraphClientError as exc:
        failed = replace(record, status="reauthorization_required", error=str(exc)[:500])
        await off_loop(store.put, failed)
        return None
    return await off_loop(store.put, replace(record, status="active", error=None))


async def _remove(client: GraphClient, store: SqlSubscriptions, record: SubscriptionRecord) -> None:
    if record.subscription_id is not None and record.status != "removed":
        await _delete_remote(client, record.subscription_id)
    await off_loop(store.delete, record.scope)
    log.info("calsync.notifications.unsubscribed", extra={"scope": record.scope})


async def _delete_remote(client: GraphClient, subscription_id: str) -> None:
    """Delete a subscription in Graph; a failure is only logged (it expires by itself, and its
    notifications are ignored: their clientState is no longer known)."""
    from calsync.graph import GraphClientError

    try:
        await client.delete_subscription(subscription_id)
    except GraphClientError as exc:
        log.warning("calsync.notifications.delete_failed", extra={"error": str(exc)})


async def remove_all(deployment: Deployment) -> int:
    """Delete every subscription calsync holds (notifications turned off); returns how many."""
    store = table(deployment)
    records = await off_loop(store.all)
    if records:
        client = await deployment.graph()
        for record in records:
            await _remove(client, store, record)
    return len(records)


def _expiry(made: dict[str, object], asked: datetime) -> datetime:
    """The expiry Graph answered (it may shorten the lifetime), else the one asked for."""
    raw = made.get("expirationDateTime")
    if isinstance(raw, str):
        try:
            text = raw.replace("Z", "+00:00")
            head, dot, tail = text.partition(".")
            if dot:  # Graph gives 7 fractional digits; datetime takes at most 6
                found = _DIGITS.match(tail)
                digits = found[0] if found else ""
                text = f"{head}.{digits[:6]}{tail[len(digits) :]}" if digits else head + tail
            parsed = datetime.fromisoformat(text)
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return asked
