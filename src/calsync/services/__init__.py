"""calsync's use cases, each once: the CLI, the web app, the scheduler and the workers call these.

- `open_deployment(settings)` -> `Deployment`: settings, state store, Graph client (lazily), per process.
- `sync_mailboxes` / `sync_mailbox` / `mailboxes` (calsync.services.syncing): sync or plan.
- `purge_mailbox`, `release` (calsync.services.maintenance).
- `status` (calsync.services.status): last run, last success, consecutive failures, history, quarantine.

How the synchronous state store is used from asyncio: every store call made on the event loop goes through
`calsync.sync.engine.off_loop` (`asyncio.to_thread`), so a transaction waiting on SQLite's writer lock or
a PostgreSQL row lock never stalls the other mailboxes' Graph traffic. Reads for the CLI's `status` and
`release`, which run no event loop of their own, call the store directly. See docs/deploy.md.
"""

from __future__ import annotations

from calsync.services.deployment import Deployment, open_deployment
from calsync.services.leases import MailboxBusy
from calsync.services.maintenance import NothingToRelease, PurgeResult, purge_mailbox, release
from calsync.services.sourcing import mailbox_name
from calsync.services.status import MailboxStatus, status
from calsync.services.syncing import (
    MailboxOutcome,
    Progress,
    SyncResult,
    mailboxes,
    sync_mailbox,
    sync_mailboxes,
)

__all__ = [
    "Deployment",
    "MailboxBusy",
    "MailboxOutcome",
    "MailboxStatus",
    "NothingToRelease",
    "Progress",
    "PurgeResult",
    "SyncResult",
    "mailbox_name",
    "mailboxes",
    "open_deployment",
    "purge_mailbox",
    "release",
    "status",
    "sync_mailbox",
    "sync_mailboxes",
]
