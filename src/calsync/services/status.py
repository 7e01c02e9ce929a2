"""What each mailbox's sync looks like: last run, last success, consecutive failures, history, quarantine.

Read from the state store only (no Graph call, no credential), so status works while Graph or the
credential is broken, which is when it is needed most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from calsync.services.naming import mailbox_name

if TYPE_CHECKING:
    from calsync.services.deployment import Deployment
    from calsync.sync.ports import Quarantined, RunReport


@dataclass(frozen=True)
class MailboxStatus:
    mailbox: str
    last_run: RunReport
    last_success: datetime | None
    consecutive_failures: int
    quarantined: list[Quarantined]
    history: list[RunReport]  # newest first; only when asked for one mailbox or `since`


def status(
    deployment: Deployment,
    *,
    mailboxes: list[str] | None = None,
    since: datetime | None = None,
    history: int = 0,
) -> list[MailboxStatus]:
    """Every mailbox with runs (or the named ones), by name; `history` runs each (those since `since`)."""
    from calsync.store import RunHealth  # SQLAlchemy: loaded when a status is read, not with calsync.services

    store = deployment.store
    wanted = {mailbox_name(m) for m in mailboxes} if mailboxes else None
    last = {r.mailbox: r for r in store.last_runs() if wanted is None or r.mailbox in wanted}
    health = store.run_health()
    out = []
    for mailbox in sorted(last):
        runs = store.runs(mailbox, limit=history) if history else []
        if since is not None:
            runs = [r for r in runs if r.started >= since]
        h = health.get(mailbox, RunHealth(mailbox, None, 0))
        out.append(
            MailboxStatus(
                mailbox=mailbox,
                last_run=last[mailbox],
                last_success=h.last_success,
                consecutive_failures=h.failures_since,
                quarantined=list(store.quarantined(mailbox).values()),
                history=runs,
            )
        )
    return out


def unknown_mailboxes(deployment: Deployment, mailboxes: list[str]) -> list[str]:
    """The named mailboxes that have no run at all (a typo, or never synced)."""
    known = {r.mailbox for r in deployment.store.last_runs()}
    return sorted({mailbox_name(m) for m in mailboxes} - known)
