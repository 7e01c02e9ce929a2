"""The SQL store's plumbing, shared by its parts: short transactions, aware clock, portable upserts."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from calsync.store import records as rules
from calsync.store.engine import begin_write
from calsync.store.records import Clock, utc_now

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


class SqlBase:
    """Connections, transactions and the clock of the SQL state store (see calsync.store.sqlstore).

    Args:
        engine: from `calsync.store.make_engine`, on a migrated database.
        clock: the current time (aware); leases and `updated_at` columns use it. Workers sharing a
            database must have synchronised clocks (NTP) for leases to mean the same to all of them.
    """

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- plumbing ----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        rules.check_aware("clock()", now)
        return now

    def _read(self) -> AbstractContextManager[Connection]:
        return self._engine.connect()

    def _write(self) -> AbstractContextManager[Connection]:
        return begin_write(self._engine)

    def _insert(self, conn: Connection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT that supports ON CONFLICT on this connection's backend.

        The backend's dialect module is imported here, where its engine has loaded it already: on SQLite,
        importing PostgreSQL's with this module would cost `calsync status` some 30 ms for nothing."""
        if conn.dialect.name == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def _upsert(
        self,
        conn: Connection,
        table: sa.Table,
        rows: Sequence[dict[str, Any]],
        *,
        keys: Sequence[str],
        update: Sequence[str],
    ) -> None:
        """INSERT … ON CONFLICT (keys) DO UPDATE SET the `update` columns from the new row."""
        stmt = self._insert(conn, table)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={name: excluded[name] for name in update}
        )
        if len(rows) == 1:
            conn.execute(stmt, rows[0])
        else:
            conn.execute(stmt, list(rows))
