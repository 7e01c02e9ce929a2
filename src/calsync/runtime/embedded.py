"""The embedded runtime of `calsync serve` on SQLite: the in-process scheduler, wired to the services.

Rounds every `sync_interval_minutes`, a full reconcile daily at `full_sync_at`, at most one running and
one pending run per profile and mailbox (the scheduler's keys are scopes: `profile:mailbox`, or the bare
mailbox for the default profile), the list read again each round (group members come and go). On
shutdown, `stop` sets the runs' `stopping` event, so each run ends at its next chunk boundary (the chunk
in flight finishes and is recorded), then waits for them; leases are released as each run ends.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from calsync import services
from calsync.runtime.clock import Clock
from calsync.runtime.scheduler import Scheduler
from calsync.services import Deployment
from calsync.store.scoped import split_scope


class EmbeddedRuntime:
    def __init__(self, deployment: Deployment, *, clock: Clock | None = None) -> None:
        settings = deployment.settings
        self.deployment = deployment
        self.stopping = asyncio.Event()
        self.scheduler = Scheduler(
            self._run,
            self._mailboxes,
            clock=clock,
            sync_interval=timedelta(minutes=settings.sync_interval_minutes),
            full_sync_at=settings.full_sync_at,
            zone=ZoneInfo(settings.full_sync_zone),
            parallelism=settings.mailbox_parallelism,
        )

    async def _run(self, scope: str, full: bool) -> str:
        profile, mailbox = split_scope(scope)
        report = await services.sync_mailbox(
            self.deployment, mailbox, profile=profile, full=full, stopping=self.stopping
        )
        return report.status

    async def _mailboxes(self) -> list[str]:
        """Every (profile, mailbox) of the deployment as one scheduler key (calsync.store.scope_key)."""
        return await services.scopes(self.deployment)

    def start(self) -> None:
        self.scheduler.start()

    async def request(self, scope: str, full: bool = False) -> str:
        """A "sync now" for one scope (a mailbox or a connection): "queued", "merged" or "refused"."""
        return self.scheduler.request(scope, full).value

    async def stop(self, grace: float | None = None) -> None:
        self.stopping.set()
        await self.scheduler.stop(grace)

    async def ready(self) -> list[str]:
        snap = self.scheduler.snapshot()
        return ["the scheduler is stopping"] if snap.stopping else []

    def queue_depth(self) -> float:
        return float(len(self.scheduler.snapshot().pending))
