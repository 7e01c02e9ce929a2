"""What a person (their status page) and an administrator (`calsync status`) see of connections.

Read from the state store only, like calsync.services.status: a status page must load while Graph or the
identity platform is down, which is when people look at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from calsync.services.connections import Person, connection_store, owned, plain_words
from calsync.services.deployment import Deployment

if TYPE_CHECKING:
    from calsync.store.connections import ConnectionRecord
    from calsync.sync.ports import RunReport


@dataclass(frozen=True)
class ConnectionStatusView:
    """One connection as its status page shows it."""

    connection: ConnectionRecord
    last_run: RunReport | None
    last_success: datetime | None
    next_sync: datetime | None  # None when it is not synced (pending, paused, disconnected)
    events: int  # calsync's events in the calendar, as last written
    quarantined: int
    last_error: str  # in plain words; "" when the last run went well
    reason: str  # why it is paused or disconnected, in plain words

    @property
    def relink_needed(self) -> bool:
        return self.connection.status == "disconnected" and self.connection.reason != "user"


def personal_status(deployment: Deployment, person: Person, connection_id: str) -> ConnectionStatusView:
    """The person's own connection (UnknownConnection for anyone else's)."""
    return describe(deployment, owned(connection_store(deployment, keys=False), person, connection_id))


def describe(deployment: Deployment, record: ConnectionRecord) -> ConnectionStatusView:
    from calsync.store import RunHealth

    store = deployment.profile(record.profile).store
    runs = store.runs(record.mailbox, limit=1)
    last = runs[0] if runs else None
    health = store.run_health().get(record.mailbox, RunHealth(record.mailbox, None, 0))
    interval = timedelta(minutes=deployment.settings.sync_interval_minutes)
    next_sync = None
    if record.status == "connected":
        base = last.started if last is not None else record.status_at
        next_sync = max(base + interval, deployment.clock()) if last is not None else deployment.clock()
    error = ""
    if last is not None and last.status not in ("ok", "skipped", "not_applicable"):
        error = _run_words(last)
    return ConnectionStatusView(
        connection=record,
        last_run=last,
        last_success=health.last_success,
        next_sync=next_sync,
        events=sum(1 for m in store.mappings(record.mailbox).values() if m.remote_id),
        quarantined=len(store.quarantined(record.mailbox)),
        last_error=error,
        reason=plain_words(record.reason) if record.status in ("paused", "disconnected") else "",
    )


_RUN_WORDS = {
    "Disconnected": None,  # the message already says it in words
    "SourceUnavailable": "Your timetable could not be read; calsync will try again.",
    "unavailable": "Your calendar could not be reached; calsync will try again.",
    "Busy": "A sync was already running; the next one follows.",
}


def _run_words(report: RunReport) -> str:
    code = report.error_code or ""
    words = _RUN_WORDS.get(code)
    if words is None and report.message:
        return report.message
    if words:
        return words
    if report.status == "partial":
        return f"{report.failed} events could not be written; calsync will try again."
    return plain_words(code) if code else "The last sync did not finish."


def overview(deployment: Deployment) -> list[ConnectionStatusView]:
    """Every connection, for administrators (`calsync status`); none on a database not migrated to
    connections yet (status reads without migrating)."""
    import sqlalchemy as sa

    if not sa.inspect(deployment.store.engine).has_table("connections"):
        return []
    return [describe(deployment, r) for r in connection_store(deployment, keys=False).all()]
