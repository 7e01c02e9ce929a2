"""The REST API's desired events in SQL (`api_events`): the source the engine reads for API profiles.

A row is what the caller last asked for one (key, calendar, event_id): its body as accepted, or deleted.
Rows are written before the 202 is answered, so an accepted upsert survives a crash; the engine makes
Graph match them. `span_start`/`span_end` only grow (see calsync.store.api_tables).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


EventKey = tuple[str, str, str]
"""(key id, calendar id, event id)."""
Change = Callable[["ApiEventRow | None"], "ApiEventRow | None"]
"""The stored row (or None) -> the row to store (or None to leave it)."""


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
        (stored,) = self.update_many([((row.key_id, row.calendar_id, row.event_id), lambda _: row)])
        assert stored is not None
        return stored

    def update_many(self, changes: Sequence[tuple[EventKey, Change]]) -> list[ApiEventRow | None]:
        """Apply each change, in order, in one write transaction: `change(the stored row or None)` gives
        the new row, or None to leave it as it is. Two changes of one event in a batch build one on the
        other; the span only grows. Returns each event's row afterwards (None: none stored)."""
        out: list[ApiEventRow | None] = []
        with begin_write(self._engine) as conn:
            for (key_id, calendar_id, event_id), change in changes:
                where = _key(key_id, calendar_id, event_id)
                old = conn.execute(sa.select(api_events).where(where)).first()
                before = _row(old) if old is not None else None
                row = change(before)
                if row is None:
                    out.append(before)
                    continue
                values = {
                    "mailbox": row.mailbox, "profile": row.profile, "body": dict(row.body),
                    "deleted": row.deleted, "span_start": row.span_start, "span_end": row.span_end,
                    "updated": row.updated,
                }  # fmt: skip
                if before is None:
                    conn.execute(api_events.insert().values(
                        key_id=key_id, calendar_id=calendar_id, event_id=event_id, **values
                    ))  # fmt: skip
                    out.append(row)
                    continue
                values["span_start"] = min(before.span_start, row.span_start)
                values["span_end"] = max(before.span_end, row.span_end)
                conn.execute(api_events.update().where(where).values(**values))
                out.append(ApiEventRow(key_id, calendar_id, event_id, **values))  # type: ignore[arg-type]
        return out

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
