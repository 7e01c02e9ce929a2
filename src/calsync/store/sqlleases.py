"""Mailbox leases in SQL: one owner per mailbox, taken over after expiry, renewed only by its holder.

Each method is one conditional statement (or an UPDATE then an INSERT … ON CONFLICT DO NOTHING), so
concurrent callers on other connections or hosts never both win (tests/calsync/store: contract tests on
SQLite and PostgreSQL, including a race between two connections).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from calsync.store import records as rules
from calsync.store import schema
from calsync.store.sqlbase import SqlBase


class SqlLeases(SqlBase):
    def acquire_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Take the mailbox's lease, renew it if `owner` holds it, or take it over if it has expired.

        A lease is valid while now < expires_at. Atomic on both backends: the UPDATE only matches an
        expired lease or the owner's own (on PostgreSQL a concurrent UPDATE waits for the row lock and
        re-checks the condition), and the INSERT of a new lease does nothing if another worker inserted
        first (ON CONFLICT DO NOTHING), so exactly one of several concurrent callers gets True.
        """
        rules.check_lease(mailbox, owner, ttl_seconds)
        now = self._now()
        until = now + timedelta(seconds=ttl_seconds)
        with self._write() as conn:
            # RETURNING, not rowcount: drivers need not report a row count for INSERT (psycopg gives -1).
            taken = conn.execute(
                sa.update(schema.leases)
                .where(
                    schema.leases.c.mailbox == mailbox,
                    sa.or_(schema.leases.c.expires_at <= now, schema.leases.c.owner == owner),
                )
                .values(owner=owner, expires_at=until)
                .returning(schema.leases.c.mailbox)
            ).first()
            if taken is not None:
                return True
            inserted = conn.execute(
                self._insert(conn, schema.leases)
                .values(mailbox=mailbox, owner=owner, expires_at=until)
                .on_conflict_do_nothing(index_elements=["mailbox"])
                .returning(schema.leases.c.mailbox)
            ).first()
            return inserted is not None

    def renew_lease(self, mailbox: str, owner: str, ttl_seconds: float) -> bool:
        """Extend the lease only while `owner` holds it: one conditional UPDATE, so a takeover committed
        by another process (which rewrote `owner`) makes this return False, whatever this process thinks."""
        rules.check_lease(mailbox, owner, ttl_seconds)
        until = self._now() + timedelta(seconds=ttl_seconds)
        with self._write() as conn:
            renewed = conn.execute(
                sa.update(schema.leases)
                .where(schema.leases.c.mailbox == mailbox, schema.leases.c.owner == owner)
                .values(expires_at=until)
                .returning(schema.leases.c.mailbox)
            ).first()
        return renewed is not None

    def release_lease(self, mailbox: str, owner: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                sa.delete(schema.leases).where(
                    schema.leases.c.mailbox == mailbox, schema.leases.c.owner == owner
                )
            )
            return result.rowcount == 1

    def lease_owner(self, mailbox: str) -> str | None:
        query = sa.select(schema.leases.c.owner).where(
            schema.leases.c.mailbox == mailbox, schema.leases.c.expires_at > self._now()
        )
        with self._read() as conn:
            return conn.execute(query).scalar_one_or_none()
