"""Publishing: a notification becomes outbox rows, one per matching channel, durable on return.

`publish` writes the rows in one transaction (calsync.store.sqlpush.SqlPushStore.enqueue) and only
then tells the deployment's outbox listeners, which wake a deliverer: the embedded delivery loop of
`calsync serve`, or a deferred delivery job on PostgreSQL. If the process dies after `publish`
returned, the rows are still there and the next deliverer sends them.

The sync runs publish through `on_run` (a run hook of calsync.services.deployment): a run that changed
something -> `calendar.changed`; a failed run -> `sync.failed`; a mailbox's first successful run ->
`profile.initial_sync_completed`, once (a milestone row written in the same transaction).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from calsync import metrics
from calsync.services.push import events
from calsync.services.push.events import Filters, Notice
from calsync.store.sqlpush import ChannelRecord, NewRow, SqlPushStore
from calsync.sync.engine import off_loop

if TYPE_CHECKING:
    from calsync.services.deployment import Deployment
    from calsync.sync.ports import RunReport

log = logging.getLogger("calsync.push")

INITIAL_SYNC = "initial_sync"  # milestone kind


def push_store(deployment: Deployment) -> SqlPushStore:
    return SqlPushStore(deployment.store.engine)


def profile_id_for(mailbox: str) -> str:
    """The API's profile id of a mailbox (a connected Microsoft 365 account; calsync.services.unified_ids)."""
    from calsync.services.unified_ids import profile_id

    return profile_id(mailbox)


def api_key_of(profile: str) -> str | None:
    """The API key whose events an API profile (`api.<key id>.<calendar digest>`) writes; None for a
    configured profile. Its runs are that key's own writes: not echoed to its channels."""
    from calsync.services.unified_ids import API_PROFILE_PREFIX, is_api_profile

    if not is_api_profile(profile):
        return None
    return profile.removeprefix(API_PROFILE_PREFIX).rsplit(".", 1)[0]


def webhook_id() -> str:
    """A notification's id: "msg_" + 128 random bits, url-safe (no '.', as the spec requires)."""
    return "msg_" + secrets.token_urlsafe(16)


def enqueue(
    store: SqlPushStore, notice: Notice, now: datetime, *, milestone: tuple[str, str] | None = None
) -> int:
    """Write the notice's rows (blocking; see `publish`). Returns how many channels get it."""

    def row_for(channel: ChannelRecord) -> NewRow | None:
        if not events.matches(Filters.from_json(channel.filters), channel.owner, notice):
            return None
        return events.body(notice, channel.id, now), webhook_id()

    return store.enqueue(notice.event_type, now, row_for, milestone=milestone)


async def publish_notice(
    deployment: Deployment, notice: Notice, *, milestone: tuple[str, str] | None = None
) -> int:
    rows = await off_loop(enqueue, push_store(deployment), notice, deployment.clock(), milestone=milestone)
    metrics.record_push_published(notice.event_type, rows)
    if rows:
        for wake in deployment.outbox_listeners:
            wake()
    return rows


async def publish(
    deployment: Deployment,
    event_type: str,
    data: dict[str, Any],
    *,
    profile_id: str,
    calendar_ids: Sequence[str] = (),
    origin: str | None = None,
    managed: bool = True,
) -> int:
    """Notify every matching channel of `event_type` with `data` (profile_id is added); durable when it
    returns. `origin` is the API key whose write caused it (not echoed to that key's channels unless
    they ask); `managed` says whether the change concerns events calsync manages (`only_managed`)."""
    if event_type not in events.EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    notice = Notice(event_type, {**data, "profile_id": profile_id}, tuple(calendar_ids), managed, origin)
    return await publish_notice(deployment, notice)


async def publish_calendar_changed(
    deployment: Deployment,
    *,
    profile_id: str,
    calendar_ids: Sequence[str],
    changes_since: datetime,
    origin: str | None = None,
    managed: bool = True,
) -> int:
    """`calendar.changed` (for the API's writes, `origin` = the key's id; Graph notifications: managed
    False when a person's edit touched events calsync does not manage)."""
    data = events.calendar_changed(profile_id, calendar_ids, changes_since)
    return await publish(deployment, events.CALENDAR_CHANGED, data, profile_id=profile_id,
                         calendar_ids=calendar_ids, origin=origin, managed=managed)  # fmt: skip


async def publish_profile_disconnected(
    deployment: Deployment, *, profile_id: str, relink_url: str | None
) -> int:
    """`profile.disconnected` {profile_id, relink_url}: for the delegated connections' hook."""
    return await publish(
        deployment, events.PROFILE_DISCONNECTED, {"relink_url": relink_url}, profile_id=profile_id
    )


async def on_run(deployment: Deployment, profile: str, report: RunReport) -> None:
    """The run hook: what a finished (real) run tells subscribers. Never raises: a run that did its
    work is not failed by a notification that could not be written (it is logged and counted)."""
    mailbox = report.mailbox
    profile_id = profile_id_for(mailbox)
    try:
        if report.status == "failed":
            data = {"mailbox": mailbox, "error_code": report.error_code}
            await publish(deployment, events.SYNC_FAILED, data, profile_id=profile_id)
            return
        if report.status not in ("ok", "partial"):
            return
        origin = api_key_of(profile)
        if report.created or report.updated or report.deleted:
            calendar_ids = await _calendar_ids(deployment, profile, mailbox)
            data = events.calendar_changed(profile_id, calendar_ids, report.started, mailbox=mailbox)
            await publish(deployment, events.CALENDAR_CHANGED, data, profile_id=profile_id,
                          calendar_ids=calendar_ids, origin=origin)  # fmt: skip
        if report.status == "ok" and origin is None:
            from calsync.store import scope_key

            notice = Notice(events.INITIAL_SYNC_COMPLETED, {"profile_id": profile_id, "mailbox": mailbox})
            await publish_notice(deployment, notice, milestone=(INITIAL_SYNC, scope_key(profile, mailbox)))
    except Exception as exc:  # the database is down: the run is recorded or failed on its own
        metrics.record_failure("push_publish_failed")
        log.error("could not publish the run's notifications (%s)", type(exc).__name__, exc_info=exc)


async def _calendar_ids(deployment: Deployment, profile: str, mailbox: str) -> list[str]:
    """The API calendar id of the calendar the profile writes to in this mailbox, when known without a
    Graph call: its calendar_id (an API profile's is always set), or its own named calendar's id as the
    run found it; [] otherwise (the mailbox's default calendar, whose id the run never reads)."""
    from calsync.services.unified_ids import calendar_id

    if api_key_of(profile) is not None:
        graph_ids = await _api_calendar(deployment, profile, mailbox)
        return [calendar_id(mailbox, g) for g in graph_ids]
    view = deployment.profile(profile)
    if view.settings.calendar_id:
        return [calendar_id(mailbox, view.settings.calendar_id)]
    if view.settings.calendar_name is None:
        return []
    named = await view.named_calendar()
    found = named.known(mailbox) if named is not None else None
    return [calendar_id(mailbox, found)] if found else []


async def _api_calendar(deployment: Deployment, profile: str, mailbox: str) -> list[str]:
    """The Graph calendar an API profile writes to (from its stored events, as its run read them)."""
    from calsync.services.unified_ids import split_calendar_id
    from calsync.store.apievents import ApiEventStore

    rows = await off_loop(ApiEventStore(deployment.store.engine).scope_rows, profile, mailbox)
    return [split_calendar_id(rows[0].calendar_id)[1]] if rows else []
