"""The REST API's desired events in SQL (`api_events`): the source the engine reads for API profiles.

A row is what the caller last asked for one (key, calendar, event_id): its body as accepted, or deleted.
Rows are written before the 202 is answered, so an accepted upsert survives a crash; the engine makes
Graph match them. `span_start`/`span_end` only grow (see calsync.store.api_tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from calsync.store.api_tables import api_events
from calsync.store.engine import begin_write


@dataclass(frozen=True, slots=True)
class ApiEventRow:
    key_id: str
    calendar_id: str
    event_id: str
    mailbox: str
    profile: str
    body: Mapping[str, Any]
    deleted: bool
    span_start: datetime
    span_end: datetime
    updated: datetime


def _row(r: sa.Row[tuple[object, ...]]) -> ApiEventRow:
    m = r._mapping
    return ApiEventRow(
        m["key_id"], m["calendar_id"], m["event_id"], m["mailbox"], m["profile"], m["body"],
        bool(m["deleted"]), m["span_start"], m["span_end"], m["updated"],
    )  # fmt: skip


def _key(key_id: str, calendar_id: str, event_id: str) -> sa.ColumnElement[bool]:
    c = api_events.c
    return sa.and_(c.key_id == key_id, c.calendar_id == calendar_id, c.event_id == event_id)


class ApiEventStore:
    """The `api_events` table over the state database's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, key_id: str, calendar_id: str, event_id: str) -> ApiEventRow | None:
        with self._engine.connect() as conn:
            r = conn.execute(sa.select(api_events).where(_key(key_id, calendar_id, event_id))).first()
        return _row(r) if r is not None else None

    def put(self, row: ApiEventRow) -> ApiEventRow:
        """Insert or replace the row; its span grows to cover the stored one. Returns the stored row."""
        with begin_write(self._engine) as conn:
            where = _key(row.key_id, row.calendar_id, row.event_id)
            old = conn.execute(sa.select(api_events).where(where)).first()
            values = {
                "mailbox": row.mailbox, "profile": row.profile, "body": dict(row.body),
                "deleted": row.deleted, "span_start": row.span_start, "span_end": row.span_end,
                "updated": row.updated,
            }  # fmt: skip
            if old is None:
                conn.execute(api_events.insert().values(
                    key_id=row.key_id, calendar_id=row.calendar_id, event_id=row.event_id, **values
                ))  # fmt: skip
                return row
            before = _row(old)
            values["span_start"] = min(before.span_start, row.span_start)
            values["span_end"] = max(before.span_end, row.span_end)
            conn.execute(api_events.update().where(where).values(**values))
            return ApiEventRow(row.key_id, row.calendar_id, row.event_id, **values)  # type: ignore[arg-type]

    def mark_deleted(
        self, key_id: str, calendar_id: str, event_id: str, when: datetime
    ) -> ApiEventRow | None:
        """Mark the row deleted (kept: the engine's window still covers where its copy stands)."""
        with begin_write(self._engine) as conn:
            where = _key(key_id, calendar_id, event_id)
            old = conn.execute(sa.select(api_events).where(where)).first()
            if old is None:
                return None
            conn.execute(api_events.update().where(where).values(deleted=True, updated=when))
        row = _row(old)
        return ApiEventRow(row.key_id, row.calendar_id, row.event_id, row.mailbox, row.profile, row.body,
                           True, row.span_start, row.span_end, when)  # fmt: skip

    def scope_rows(self, profile: str, mailbox: str) -> list[ApiEventRow]:
        c = api_events.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_events).where(c.profile == profile, c.mailbox == mailbox).order_by(c.event_id)
            )
            return [_row(r) for r in rows]

    def scopes(self) -> list[tuple[str, str]]:
        """Every (profile, mailbox) with API events: the periodic rounds reconcile them too."""
        c = api_events.c
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(c.profile, c.mailbox).distinct().order_by(c.profile, c.mailbox))
            return [(str(p), str(m)) for p, m in rows]

    def calendar_rows(self, key_id: str, calendar_id: str) -> list[ApiEventRow]:
        c = api_events.c
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(api_events).where(c.key_id == key_id, c.calendar_id == calendar_id))
            return [_row(r) for r in rows]
