"""The administrators' audit log and bootstrap tokens over SQL (tables `admin_audit`, `admin_bootstrap`).

Kept apart from `SqlStateStore`: these rows are about people acting on the deployment, not about sync
state, and the sync engine never reads them. Each method commits on return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from calsync.store.engine import begin_write
from calsync.store.records import clean_text
from calsync.store.schema import admin_audit, admin_bootstrap, runs
from calsync.sync.ports import RunReport

__all__ = ["AdminStore", "AuditEntry"]

MAX_DETAIL = 2000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One administrator action: who (display name, stable key), what, on what, when, how it ended."""

    at: datetime
    actor: str
    actor_key: str
    action: str
    target: str | None
    outcome: str  # "ok", "refused" or "failed"
    detail: str | None = None


class AdminStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, entry: AuditEntry) -> None:
        """Append `entry` (texts cleaned of control characters: the log is shown on a page)."""
        detail = clean_text(entry.detail)
        with begin_write(self.engine) as conn:
            conn.execute(
                admin_audit.insert().values(
                    at=entry.at,
                    actor=clean_text(entry.actor),
                    actor_key=clean_text(entry.actor_key),
                    action=clean_text(entry.action),
                    target=clean_text(entry.target),
                    outcome=entry.outcome,
                    detail=detail[:MAX_DETAIL] if detail else None,
                )
            )

    def entries(self, *, limit: int = 200, before_id: int | None = None) -> list[tuple[int, AuditEntry]]:
        """The newest entries first, with their ids (page on with `before_id`)."""
        query = sa.select(admin_audit).order_by(admin_audit.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(admin_audit.c.id < before_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            (int(r["id"]), AuditEntry(r["at"], r["actor"], r["actor_key"], r["action"], r["target"],
                                      r["outcome"], r["detail"]))
            for r in rows
        ]  # fmt: skip

    def recent_runs(self, *, limit: int = 100) -> list[RunReport]:
        """The latest runs of every mailbox and profile (mailbox = its scope key), newest first."""
        query = sa.select(runs).order_by(runs.c.started.desc(), runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        counts = ("created", "updated", "deleted", "adopted", "unchanged", "failed", "quarantined")
        return [
            RunReport(
                mailbox=r["mailbox"], started=r["started"], finished=r["finished"], status=r["status"],
                error_code=r["error_code"], message=r["message"], problems=list(r["problems"]),
                **{name: r[name] for name in counts},
            )
            for r in rows
        ]  # fmt: skip

    def put_bootstrap(self, token_hash: str, *, now: datetime, expires: datetime) -> None:
        """Keep a new bootstrap token's hash; any earlier unused token stops working."""
        with begin_write(self.engine) as conn:
            conn.execute(admin_bootstrap.delete().where(admin_bootstrap.c.used_at.is_(None)))
            conn.execute(
                admin_bootstrap.insert().values(token_hash=token_hash, created_at=now, expires_at=expires)
            )

    def consume_bootstrap(self, token_hash: str, *, now: datetime) -> bool:
        """Mark the token used if it is known, unused and not expired; True when this call used it (one
        UPDATE, so two requests racing with the same token cannot both succeed)."""
        with begin_write(self.engine) as conn:
            result = conn.execute(
                admin_bootstrap.update()
                .where(
                    admin_bootstrap.c.token_hash == token_hash,
                    admin_bootstrap.c.used_at.is_(None),
                    admin_bootstrap.c.expires_at > now,
                )
                .values(used_at=now)
            )
        return result.rowcount == 1
