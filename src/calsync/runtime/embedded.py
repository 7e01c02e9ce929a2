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
from calsync.services.unified_ids import is_api_profile
from calsync.store.scoped import split_scope


class EmbeddedRuntime:
    def __init__(self, deployment: Deployment, *, clock: Clock | None = None) -> None:
        settings = deployment.settings
        self.deployment = deployment
        self.stopping = asyncio.Event()
        self._api_attempts: dict[str, int] = {}
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
        if is_api_profile(profile):
            self._again_if_unfinished(scope, report.status)
        return report.status

    def _again_if_unfinished(self, scope: str, status: str) -> None:
        """An API profile's run that did not finish (Graph throttled or failed some writes) is asked for
        again after 2, 4, 8 ... up to 300 s: the caller got its 202 and is not going to ask again, and
        the next round may be many minutes away."""
        if status in ("ok", "not_applicable") or self.stopping.is_set():
            self._api_attempts.pop(scope, None)
            return
        attempt = self._api_attempts.get(scope, 0) + 1
        self._api_attempts[scope] = attempt
        delay = min(300.0, 2.0**attempt)
        asyncio.get_running_loop().call_later(delay, self.scheduler.request, scope)

    async def _mailboxes(self) -> list[str]:
        """Every (profile, mailbox) of the deployment as one scheduler key (calsync.store.scope_key)."""
        return await services.scopes(self.deployment)

    def start(self) -> None:
        self.scheduler.start()

    async def request(self, scope: str) -> None:
        """A run of one scope soon (the REST API's upserts): coalesced with one pending or running."""
        self.scheduler.request(scope)

    async def stop(self, grace: float | None = None) -> None:
        self.stopping.set()
        await self.scheduler.stop(grace)

    async def ready(self) -> list[str]:
        snap = self.scheduler.snapshot()
        return ["the scheduler is stopping"] if snap.stopping else []

    def queue_depth(self) -> float:
        return float(len(self.scheduler.snapshot().pending))
