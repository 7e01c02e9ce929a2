"""What the administration pages show and do, as use cases: overview, a mailbox, runs, the plan, the
audit log and the one-time bootstrap token. The pages (calsync.web.admin) only render these.

All reads come from the state store (no Graph call) except `plan`, which reads the source and the
mailbox like `calsync plan`. Blocking (SQL): call from a worker thread (calsync.sync.engine.off_loop).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from calsync.services.naming import mailbox_name
from calsync.services.status import MailboxStatus, status

if TYPE_CHECKING:
    from calsync.services.deployment import Deployment
    from calsync.store.sqladmin import AdminStore, AuditEntry
    from calsync.sync.ports import Mapping, RunReport

__all__ = [
    "BOOTSTRAP_HOURS",
    "MailboxDetail",
    "Overview",
    "PlanStep",
    "audit_log",
    "mailbox_detail",
    "new_bootstrap_token",
    "overview",
    "plan",
    "recent_runs",
    "record_action",
    "use_bootstrap_token",
]

BOOTSTRAP_HOURS = 24
BOOTSTRAP_PREFIX = "csb_"


@dataclass(frozen=True)
class MailboxRow:
    """One mailbox of one profile on the overview."""

    profile: str
    mailbox: str
    status: str
    last_run: datetime | None
    last_success: datetime | None
    lag_seconds: float | None  # since the last success; None: never succeeded
    consecutive_failures: int
    quarantined: int
    error_code: str | None


@dataclass(frozen=True)
class Overview:
    rows: list[MailboxRow]
    failures_by_code: list[tuple[str, int]]  # failing last runs and quarantined items, by code, most first
    counts: dict[str, int] = field(default_factory=dict)  # last runs by status


@dataclass(frozen=True)
class MailboxDetail:
    profile: str
    mailbox: str
    status: MailboxStatus | None  # None: no run yet
    mappings: list[Mapping]


@dataclass(frozen=True)
class PlanStep:
    """One action a sync would take now (or the reason it would stop)."""

    action: str  # create, update, delete, stop
    source_key: str
    subject: str
    start: str
    detail: str


def _admin(deployment: Deployment) -> AdminStore:
    from calsync.store.sqladmin import AdminStore

    return AdminStore(deployment.store.engine)


def overview(deployment: Deployment) -> Overview:
    """Every mailbox with runs, of every profile, with its lag; failures counted by code."""
    now = deployment.clock()
    rows: list[MailboxRow] = []
    codes: Counter[str] = Counter()
    for s in status(deployment):
        lag = (now - s.last_success).total_seconds() if s.last_success else None
        rows.append(
            MailboxRow(s.profile, s.mailbox, s.last_run.status, s.last_run.finished or s.last_run.started,
                       s.last_success, lag, s.consecutive_failures, len(s.quarantined), s.last_run.error_code)
        )  # fmt: skip
        if s.last_run.status in ("failed", "partial") and s.last_run.error_code:
            codes[s.last_run.error_code] += 1
        codes.update(q.code for q in s.quarantined)
    counts = Counter(r.status for r in rows)
    return Overview(rows, codes.most_common(), dict(counts))


def mailbox_detail(
    deployment: Deployment, mailbox: str, *, profile: str | None = None, history: int = 30
) -> MailboxDetail:
    """A mailbox's runs (newest first), quarantine and mappings (with Graph ids) for one profile."""
    view = deployment.profile(profile)
    name = mailbox_name(mailbox)
    found = status(deployment, mailboxes=[name], history=history, profile=view.name)
    mappings = sorted(view.store.mappings(name).values(), key=lambda m: str(m.source_key))
    return MailboxDetail(view.name, name, found[0] if found else None, mappings)


async def plan(deployment: Deployment, mailbox: str, *, profile: str | None = None) -> list[PlanStep]:
    """What a sync of the mailbox would do now (a dry run: the source and the mailbox are read, nothing
    is written), like `calsync plan -m`."""
    from calsync.services.syncing import sync_mailboxes
    from calsync.sync.ports import Create, Delete, Update

    result = await sync_mailboxes(deployment, [mailbox], profile=profile, dry_run=True)
    steps: list[PlanStep] = []
    for outcome in result.outcomes:
        for a in outcome.actions:
            if isinstance(a, Create | Update):
                steps.append(PlanStep(type(a).__name__.lower(), str(a.desired.source_key), a.desired.subject,
                                      a.desired.start.isoformat(timespec="minutes"), ""))  # fmt: skip
            elif isinstance(a, Delete):
                steps.append(PlanStep("delete", str(a.source_key), "", "", a.reason))
        if outcome.report.error_code:
            steps.append(
                PlanStep("stop", "", "", "", f"{outcome.report.error_code}: {outcome.report.message}")
            )
    return steps


def recent_runs(deployment: Deployment, limit: int = 100) -> list[tuple[str, str, RunReport]]:
    """(profile, mailbox, run) of the latest runs across the deployment, newest first."""
    from calsync.store import split_scope

    return [(*split_scope(r.mailbox), r) for r in _admin(deployment).recent_runs(limit=limit)]


def record_action(
    deployment: Deployment,
    *,
    actor: str,
    actor_key: str,
    action: str,
    target: str | None,
    outcome: str,
    detail: str | None = None,
) -> None:
    """Append to the audit log (every administrator action and admin sign-in)."""
    from calsync.store.sqladmin import AuditEntry

    _admin(deployment).record(
        AuditEntry(deployment.clock(), actor, actor_key, action, target, outcome, detail)
    )


def audit_log(
    deployment: Deployment, *, limit: int = 200, before_id: int | None = None
) -> list[tuple[int, AuditEntry]]:
    """The newest audit entries first."""
    return _admin(deployment).entries(limit=limit, before_id=before_id)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_bootstrap_token(deployment: Deployment, *, hours: int = BOOTSTRAP_HOURS) -> str:
    """A one-time token for the first administrator's sign-in; only its SHA-256 is stored, and any
    earlier unused token stops working. Shown once, by `calsync admin bootstrap`."""
    token = BOOTSTRAP_PREFIX + secrets.token_urlsafe(32)
    now = deployment.clock()
    _admin(deployment).put_bootstrap(_hash(token), now=now, expires=now + timedelta(hours=hours))
    return token


def use_bootstrap_token(deployment: Deployment, token: str) -> bool:
    """True once for a valid, unused, unexpired token (and never again)."""
    token = token.strip()
    if not token.startswith(BOOTSTRAP_PREFIX) or len(token) > 200:
        return False
    return _admin(deployment).consume_bootstrap(_hash(token), now=deployment.clock())
