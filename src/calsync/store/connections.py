"""Connections (delegated permissions): people who connected their own calendar, in SQL.

A connection is keyed by an unguessable id (it appears in the person's page URLs, and is always checked
against their session too) and unique per (tenant, msal home_account_id). Its msal token cache is
stored sealed by a `TokenVault` bound to the connection id (calsync.store.vault): this module never sees
a token in clear unless asked to open one, and `save_cache` replaces the sealed cache in one statement,
so the old refresh token is gone with the same commit that stores the new one (OA-13).

Statuses: pending (signed in, not yet confirmed), connected (synced each round), paused (kept, not
synced), disconnected (tokens deleted or refused; a relink brings it back). Each change of status is
recorded in `connection_events` for subscribers (notifications), in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SqlConnection
from sqlalchemy.engine import Engine

from calsync.store.engine import begin_write
from calsync.store.push_tables import channels
from calsync.store.records import Clock, utc_now
from calsync.store.schema import connect_flows, connection_events, connections

if TYPE_CHECKING:  # cryptography: loaded by whoever opens tokens, not by `calsync status`
    from calsync.store.vault import TokenVault

__all__ = ["ConnectionEvent", "ConnectionRecord", "ConnectionStatus", "ConnectionStore", "PendingFlow"]

ConnectionStatus = Literal["pending", "connected", "paused", "disconnected"]


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One person's connection, without its tokens."""

    id: str
    tenant_id: str
    home_account_id: str
    mailbox: str
    profile: str
    status: ConnectionStatus
    reason: str | None
    status_at: datetime
    created_at: datetime
    updated_at: datetime
    preferences: Mapping[str, Any] = field(default_factory=dict)
    has_tokens: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    id: int
    connection_id: str
    kind: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class PendingFlow:
    """A sign-in under way, as `take_flow` gives it back once (opened)."""

    flow: str
    relink: str | None
    created_at: datetime


def new_connection_id() -> str:
    """192 random bits, url-safe: a connection id cannot be guessed from another."""
    return secrets.token_urlsafe(24)


class ConnectionStore:
    """Connections, sign-ins under way and connection events, on the state store's database."""

    def __init__(self, engine: Engine, vault: TokenVault | None = None, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self.vault = vault
        self._clock = clock

    def _need_vault(self) -> TokenVault:
        if self.vault is None:
            raise RuntimeError("this connection store was opened without the token keys")
        return self.vault

    # -- connections --------------------------------------------------------------------------------

    def get(self, connection_id: str) -> ConnectionRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(connections).where(connections.c.id == connection_id)).first()
        return _record(row) if row is not None else None

    def by_account(self, tenant_id: str, home_account_id: str) -> ConnectionRecord | None:
        query = sa.select(connections).where(
            connections.c.tenant_id == tenant_id, connections.c.home_account_id == home_account_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row is not None else None

    def by_mailbox(self, mailbox: str) -> list[ConnectionRecord]:
        query = sa.select(connections).where(sa.func.lower(connections.c.mailbox) == mailbox.lower())
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def all(self, *statuses: ConnectionStatus) -> list[ConnectionRecord]:
        """Every connection (or those in `statuses`), by mailbox."""
        query = sa.select(connections).order_by(connections.c.mailbox, connections.c.id)
        if statuses:
            query = query.where(connections.c.status.in_(statuses))
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def upsert_signed_in(
        self,
        *,
        tenant_id: str,
        home_account_id: str,
        mailbox: str,
        profile: str,
        cache: str,
        status: ConnectionStatus,
    ) -> ConnectionRecord:
        """Store a sign-in: a new connection, or the same person's existing one with the new tokens (a
        relink: its id, preferences and history are kept). The cache is sealed before it is written."""
        vault, now = self._need_vault(), self._clock()
        with begin_write(self._engine) as conn:
            row = conn.execute(
                sa.select(connections.c.id).where(
                    connections.c.tenant_id == tenant_id, connections.c.home_account_id == home_account_id
                )
            ).first()
            cid = row.id if row is not None else new_connection_id()
            values = {
                "mailbox": mailbox,
                "profile": profile,
                "status": status,
                "reason": None,
                "status_at": now,
                "token_cache": vault.seal(cid, cache),
                "updated_at": now,
            }
            if row is None:
                conn.execute(
                    connections.insert().values(
                        id=cid, tenant_id=tenant_id, home_account_id=home_account_id,
                        preferences={}, created_at=now, **values,
                    )
                )  # fmt: skip
            else:
                conn.execute(connections.update().where(connections.c.id == cid).values(**values))
            _event(conn, cid, "relinked" if row is not None else "signed_in", None, now)
        record = self.get(cid)
        assert record is not None
        return record

    def set_status(
        self,
        connection_id: str,
        status: ConnectionStatus,
        reason: str | None = None,
        *,
        drop_tokens: bool = False,
    ) -> bool:
        """Change a connection's status (and record it); `drop_tokens` deletes its token cache in the
        same statement. False when there is no such connection."""
        now = self._clock()
        values: dict[str, Any] = {"status": status, "reason": reason, "status_at": now, "updated_at": now}
        if drop_tokens:
            values["token_cache"] = None
        with begin_write(self._engine) as conn:
            done = conn.execute(
                connections.update().where(connections.c.id == connection_id).values(**values)
            ).rowcount
            if done:
                _event(conn, connection_id, status, reason, now)
        return bool(done)

    def set_preferences(self, connection_id: str, preferences: Mapping[str, Any]) -> bool:
        now = self._clock()
        with begin_write(self._engine) as conn:
            done = conn.execute(
                connections.update()
                .where(connections.c.id == connection_id)
                .values(preferences=dict(preferences), updated_at=now)
            ).rowcount
        return bool(done)

    def delete(self, connection_id: str) -> None:
        """Forget a connection entirely (its events stay recorded for subscribers)."""
        with begin_write(self._engine) as conn:
            conn.execute(connections.delete().where(connections.c.id == connection_id))

    # -- tokens -------------------------------------------------------------------------------------

    def open_cache(self, connection_id: str) -> str | None:
        """The connection's msal cache in clear (None when it has none). Raises VaultError when no
        configured key opens it: never treat that as "no tokens"."""
        with self._engine.connect() as conn:
            sealed = conn.execute(
                sa.select(connections.c.token_cache).where(connections.c.id == connection_id)
            ).scalar()
        return None if sealed is None else self._need_vault().open(connection_id, sealed)

    def save_cache(self, connection_id: str, cache: str) -> None:
        """Replace the sealed cache (the new refresh token replaces the old one in one commit)."""
        sealed = self._need_vault().seal(connection_id, cache)
        with begin_write(self._engine) as conn:
            conn.execute(
                connections.update()
                .where(connections.c.id == connection_id, connections.c.token_cache.is_not(None))
                .values(token_cache=sealed, updated_at=self._clock())
            )

    def rotate(self) -> tuple[int, int, list[str]]:
        """Re-encrypt every sealed value (token caches, sign-ins under way, push channels' secrets) under
        the primary key: (rotated, already current, ids that no key opens). Row by row, each in its own
        short transaction, so a long rotation blocks nobody and a failure leaves every row readable (old
        keys stay configured until it is done)."""
        vault = self._need_vault()
        rotated = current = 0
        failed: list[str] = []
        for table, key_col, value_col in (
            (connections, connections.c.id, connections.c.token_cache),
            (connect_flows, connect_flows.c.state_digest, connect_flows.c.flow),
            (channels, channels.c.id, channels.c.secret),  # push channels' secrets share the key ring
        ):
            with self._engine.connect() as conn:
                rows = conn.execute(sa.select(key_col, value_col).where(value_col.is_not(None))).all()
            for key, sealed in rows:
                if vault.is_primary(sealed):
                    current += 1
                    continue
                try:
                    fresh = vault.rotate(sealed)
                except Exception:
                    failed.append(str(key))
                    continue
                with begin_write(self._engine) as conn:
                    conn.execute(
                        table.update().where(key_col == key, value_col == sealed).values({value_col: fresh})
                    )
                rotated += 1
        return rotated, current, failed

    # -- sign-ins under way ------------------------------------------------------------------------

    def put_flow(self, state_digest: str, session_digest: str, flow: str, relink: str | None) -> None:
        vault, now = self._need_vault(), self._clock()
        with begin_write(self._engine) as conn:
            conn.execute(
                connect_flows.insert().values(
                    state_digest=state_digest, session_digest=session_digest,
                    flow=vault.seal(state_digest, flow), relink=relink, created_at=now,
                )
            )  # fmt: skip

    def take_flow(self, state_digest: str, session_digest: str) -> PendingFlow | None:
        """The sign-in begun with this state by this session, deleted as it is read (single use). A
        state presented by another session is not given and not deleted (that session may still use
        it); None when nothing matches."""
        vault = self._need_vault()
        with begin_write(self._engine) as conn:
            row = conn.execute(
                sa.select(connect_flows).where(
                    connect_flows.c.state_digest == state_digest,
                    connect_flows.c.session_digest == session_digest,
                )
            ).first()
            if row is None:
                return None
            gone = conn.execute(
                connect_flows.delete().where(connect_flows.c.state_digest == state_digest)
            ).rowcount
        if not gone:  # a concurrent callback took it first
            return None
        return PendingFlow(vault.open(state_digest, row.flow), row.relink, row.created_at)

    def drop_flows_before(self, before: datetime) -> int:
        with begin_write(self._engine) as conn:
            return int(
                conn.execute(connect_flows.delete().where(connect_flows.c.created_at < before)).rowcount
            )

    # -- events -------------------------------------------------------------------------------------

    def events(self, connection_id: str | None = None, *, since_id: int = 0) -> list[ConnectionEvent]:
        query = sa.select(connection_events).where(connection_events.c.id > since_id)
        if connection_id is not None:
            query = query.where(connection_events.c.connection_id == connection_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(connection_events.c.id)).all()
        return [ConnectionEvent(r.id, r.connection_id, r.kind, r.reason, r.at) for r in rows]

    def raw_rows(self) -> Iterator[tuple[str, str | None]]:
        """(id, sealed cache) of every connection: for tests and `calsync keys` checks."""
        with self._engine.connect() as conn:
            for row in conn.execute(sa.select(connections.c.id, connections.c.token_cache)):
                yield row.id, row.token_cache


def _event(conn: SqlConnection, cid: str, kind: str, reason: str | None, at: datetime) -> None:
    conn.execute(connection_events.insert().values(connection_id=cid, kind=kind, reason=reason, at=at))


def _record(row: Any) -> ConnectionRecord:
    return ConnectionRecord(
        id=row.id,
        tenant_id=row.tenant_id,
        home_account_id=row.home_account_id,
        mailbox=row.mailbox,
        profile=row.profile,
        status=row.status,
        reason=row.reason,
        status_at=row.status_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        preferences=dict(row.preferences or {}),
        has_tokens=row.token_cache is not None,
    )
