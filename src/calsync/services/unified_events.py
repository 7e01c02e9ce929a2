"""Upsert and delete of the unified API: durably recorded, then written by the sync engine.

`upsert` checks what can be checked at once (the calendar exists, is served, is writable, offers Teams
when asked), stores the event in `api_events` (before answering: an accepted event survives a crash) and
asks the runtime for a run of the key's profile in that mailbox. The run (calsync.services.api_sync)
writes it with the engine's guarantees: ownership tag, deterministic transactionId, intent before effect.
So a retried POST, a crash mid-write or a throttled Graph never makes a second event, and many upserts
into one calendar coalesce into few runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from calsync.services.unified_calendars import CalendarInfo
from calsync.services.unified_ids import UnknownId, scope_profile, split_calendar_id
from calsync.services.unified_models import Conferencing, UpsertEvent, from_stored, resolve_times, stored_body
from calsync.store.apievents import ApiEventRow, ApiEventStore, Change, EventKey
from calsync.sync.engine import off_loop

RequestRun = Callable[[str], Awaitable[None]]
"""Ask the runtime for a run of a scope (`profile:mailbox`, calsync.store.scope_key)."""


class EventRefused(Exception):
    """The request is valid but cannot be done: `field`, a stable `key` and the reason."""

    def __init__(self, field: str, key: str, message: str) -> None:
        super().__init__(message)
        self.field, self.key = field, key


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an accepted upsert or delete left: the engine profile and mailbox that will write it."""

    profile: str
    mailbox: str
    event_id: str


def target(cid: str) -> tuple[str, str]:
    """(mailbox, Graph calendar id) of an API calendar id; UnknownId for one this API did not make."""
    return split_calendar_id(cid)


def check_writable(info: CalendarInfo, event: UpsertEvent | None) -> None:
    if not info.can_edit:
        raise EventRefused(
            "calendar_id", "errors.calendar_readonly",
            f"the calendar {info.name!r} is read-only (calendar_readonly is true): "
            "events cannot be written to it",
        )  # fmt: skip
    wants_teams = (
        event is not None and event.conferencing is not None and event.conferencing.profile_id == "default"
    )
    if wants_teams and not info.teams:
        raise EventRefused(
            "conferencing.profile_id", "errors.conferencing_unavailable",
            f"the calendar {info.name!r} offers no Teams meetings "
            "(calendar_integrated_conferencing_available is false): "
            "use explicit conferencing with your own join_url, or none",
        )  # fmt: skip


def _effective(previous: ApiEventRow | None, event: UpsertEvent) -> tuple[int, Conferencing | None]:
    """The generation and conferencing the event has now: omitted conferencing keeps the stored one; a
    Teams meeting removed moves to the next generation (the event is replaced, see source_key)."""
    if previous is None:
        return 0, event.conferencing
    _, generation, before = from_stored(dict(previous.body))
    now = event.conferencing if event.conferencing is not None else before
    had_teams = before is not None and before.profile_id == "default" and not previous.deleted
    if had_teams and (now is None or now.profile_id != "default"):
        generation += 1
    return generation, now


class EventWriter:
    """Writes the API's requests to `api_events`, many at a time: concurrent requests wait together for
    one write transaction (group commit) instead of each taking SQLite's (or a PostgreSQL row's) write
    lock in turn. A request is answered only after its transaction committed, so a 202 is as durable as
    before; a failed transaction fails every request in it (they are answered 503 and may be retried)."""

    def __init__(self, store: ApiEventStore, batch: int = 500) -> None:
        self.store = store
        self._batch = batch
        self._pending: list[tuple[EventKey, Change, asyncio.Future[ApiEventRow | None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def change(self, key: EventKey, change: Change) -> ApiEventRow | None:
        future: asyncio.Future[ApiEventRow | None] = asyncio.get_running_loop().create_future()
        self._pending.append((key, change, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._batch], self._pending[self._batch :]
            try:
                rows = await off_loop(self.store.update_many, [(k, c) for k, c, _ in batch])
            except Exception as exc:  # the transaction failed: so did every request in it
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), row in zip(batch, rows, strict=True):
                if not future.done():
                    future.set_result(row)


async def record_upsert(writer: EventWriter, key_id: str, info: CalendarInfo, event: UpsertEvent) -> Accepted:
    """Store the event as the caller's latest wish for (key, calendar, event_id)."""
    cid = info.calendar_id
    profile = scope_profile(key_id, cid)
    times = resolve_times(event)

    def make(previous: ApiEventRow | None) -> ApiEventRow:
        generation, conferencing = _effective(previous, event)
        return ApiEventRow(
            key_id, cid, event.event_id, info.mailbox, profile, stored_body(event, generation, conferencing),
            False, times.start.astimezone(UTC), times.end.astimezone(UTC), datetime.now(UTC),
        )  # fmt: skip

    await writer.change((key_id, cid, event.event_id), make)
    return Accepted(profile, info.mailbox, event.event_id)


async def record_delete(writer: EventWriter, key_id: str, cid: str, event_id: str) -> Accepted | None:
    """Mark the event deleted (the row stays: the engine's window still covers where its copy stands);
    None when this key never wrote it there (nothing to do)."""
    when = datetime.now(UTC)

    def mark(previous: ApiEventRow | None) -> ApiEventRow | None:
        return None if previous is None else replace(previous, deleted=True, updated=when)

    row = await writer.change((key_id, cid, event_id), mark)
    return Accepted(row.profile, row.mailbox, event_id) if row is not None else None


__all__ = [
    "Accepted",
    "EventRefused",
    "EventWriter",
    "RequestRun",
    "UnknownId",
    "check_writable",
    "record_delete",
    "record_upsert",
    "target",
]
