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
    from calsync.services.deployment import Deployment, ProfileView
    from calsync.sync.ports import Quarantined, RunReport


@dataclass(frozen=True)
class MailboxStatus:
    mailbox: str
    last_run: RunReport
    last_success: datetime | None
    consecutive_failures: int
    quarantined: list[Quarantined]
    history: list[RunReport]  # newest first; only when asked for one mailbox or `since`
    profile: str = "default"


def status(
    deployment: Deployment,
    *,
    mailboxes: list[str] | None = None,
    since: datetime | None = None,
    history: int = 0,
    profile: str | None = None,
) -> list[MailboxStatus]:
    """Every mailbox with runs (or the named ones) of every profile (or one), by profile then name;
    `history` runs each (those since `since`)."""
    return [
        s
        for view in deployment.profiles(profile)
        for s in _profile_status(view, mailboxes=mailboxes, since=since, history=history)
    ]


def _profile_status(
    view: ProfileView, *, mailboxes: list[str] | None, since: datetime | None, history: int
) -> list[MailboxStatus]:
    from calsync.store import RunHealth  # SQLAlchemy: loaded when a status is read, not with calsync.services

    store = view.store
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
                profile=view.name,
            )
        )
    return out
