"""Runs of the REST API's profiles: the stored `api_events` of one key and calendar, synced by the engine.

An API profile (calsync.services.unified_ids.scope_profile) is run exactly like a configured one, through
`calsync.services.syncing` (the mailbox's lease, the engine, its report and metrics), with two differences:

- its source is the `api_events` table, read at the start of the run (the latest version of every event;
  many upserts between two runs cost one run), and its target is the calendar named by the rows;
- it runs with the safety rails forced: the rails stop a run whose source suddenly shrinks, because a
  broken feed looks like that; here each removal is an explicit DELETE by its caller.

The window covers every time any of the profile's events ever had (the rows' spans), so the copy of an
event moved and then deleted before a run is still found and removed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from calsync.domain import Window
from calsync.services.deployment import Deployment, ProfileView
from calsync.services.unified_ids import split_calendar_id
from calsync.services.unified_models import desired_event, from_stored
from calsync.store.apievents import ApiEventRow, ApiEventStore
from calsync.sync.engine import SourceSnapshot, off_loop
from calsync.sync.ports import RunReport


def _window(rows: list[ApiEventRow]) -> Window:
    start = min(r.span_start for r in rows).astimezone(UTC)
    end = max(r.span_end for r in rows).astimezone(UTC)
    day = timedelta(days=1)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0) - day
    end = end.replace(hour=0, minute=0, second=0, microsecond=0) + 2 * day
    return Window(start, end)


def _view(deployment: Deployment, profile: str, graph_calendar: str) -> ProfileView:
    from calsync.store import ScopedStore

    settings = deployment.settings.model_copy(
        update={"profile": profile, "profiles": [], "calendar_id": graph_calendar, "calendar_name": None}
    )
    return ProfileView(deployment, settings, ScopedStore(deployment.store, profile))


def _snapshot(mailbox: str, rows: list[ApiEventRow]) -> SourceSnapshot:
    events = []
    for row in rows:
        if not row.deleted:
            event, generation, conferencing = from_stored(dict(row.body))
            events.append(desired_event(mailbox, event, generation, conferencing))
    return SourceSnapshot("ok", tuple(events))


async def sync_api_scope(
    deployment: Deployment, profile: str, mailbox: str, *, stopping: asyncio.Event | None = None
) -> RunReport:
    """One run of an API profile in one mailbox (the runtime's unit of work, like `sync_mailbox`)."""
    from calsync.services.syncing import run_one

    rows = await off_loop(ApiEventStore(deployment.store.engine).scope_rows, profile, mailbox)
    if not rows:
        now = datetime.now(UTC)
        return RunReport(mailbox, now, now, message="no API events for this profile and mailbox")
    _, graph_calendar = split_calendar_id(rows[0].calendar_id)
    view = _view(deployment, profile, graph_calendar)

    async def load(_: str, __: Window) -> SourceSnapshot:
        latest = await off_loop(ApiEventStore(deployment.store.engine).scope_rows, profile, mailbox)
        return _snapshot(mailbox, latest)

    outcome = await run_one(
        view, await view.engine(), load, mailbox, _window(rows), dry_run=False, force=True, stopping=stopping
    )
    return outcome.report
