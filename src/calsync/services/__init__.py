"""calsync's use cases, each once: the CLI, the web app, the scheduler and the workers call these.

- `open_deployment(settings)` -> `Deployment`: settings, state store, Graph client (lazily), per process.
- `sync_mailboxes` / `sync_mailbox` / `mailboxes` (calsync.services.syncing): sync or plan.
- `purge_mailbox`, `release` (calsync.services.maintenance).
- offboarding (calsync.services.offboarding): each round of `sync_mailboxes` and `scopes` marks the
  mailboxes that left a profile's selection and offboards them after the grace period; `offboard` by hand.
- `status` (calsync.services.status): last run, last success, consecutive failures, history, quarantine.

How the synchronous state store is used from asyncio: every store call made on the event loop goes through
`calsync.sync.engine.off_loop` (`asyncio.to_thread`), so a transaction waiting on SQLite's writer lock or
a PostgreSQL row lock never stalls the other mailboxes' Graph traffic. Reads for the CLI's `status` and
`release`, which run no event loop of their own, call the store directly. See docs/deploy.md.

Most names are imported from their modules on first use (PEP 562 `__getattr__` below): `calsync status`
needs only the deployment and the status reader, and should not pay for importing the sources
(icalendar), the Graph client (httpx, msal) and the sync use cases it does not run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calsync import lazy
from calsync.services.naming import mailbox_name

# `status` names both a module and its function. Importing a module for the first time rebinds its
# package's attribute to the module, so it is imported here, before anything else can, to keep
# `calsync.services.status` the function. It is cheap: it imports calsync.store when a status is read.
from calsync.services.status import MailboxStatus, status

if TYPE_CHECKING:
    from calsync.services.deployment import Deployment, open_deployment
    from calsync.services.leases import MailboxBusy
    from calsync.services.maintenance import NothingToRelease, PurgeResult, purge_mailbox, release
    from calsync.services.syncing import (
        MailboxOutcome,
        Progress,
        SyncResult,
        mailboxes,
        scopes,
        sync_mailbox,
        sync_mailboxes,
    )

_HOMES = {
    "Deployment": "deployment",
    "open_deployment": "deployment",
    "MailboxBusy": "leases",
    "NothingToRelease": "maintenance",
    "PurgeResult": "maintenance",
    "purge_mailbox": "maintenance",
    "release": "maintenance",
    "MailboxOutcome": "syncing",
    "Progress": "syncing",
    "SyncResult": "syncing",
    "mailboxes": "syncing",
    "scopes": "syncing",
    "sync_mailbox": "syncing",
    "sync_mailboxes": "syncing",
}

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
    "scopes",
    "status",
    "sync_mailbox",
    "sync_mailboxes",
]


__getattr__ = lazy.exports(__name__, _HOMES)  # the names above, imported on first use
