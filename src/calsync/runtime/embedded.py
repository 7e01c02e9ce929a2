"""The embedded runtime of `calsync serve` on SQLite: the in-process scheduler, wired to the services.

Rounds every `sync_interval_minutes`, a full reconcile daily at `full_sync_at`, at most one running and
one pending run per profile and mailbox (the scheduler's keys are scopes: `profile:mailbox`, or the bare
mailbox for the default profile), the list read again each round (group members come and go). On
shutdown, `stop` sets the runs' `stopping` event, so each run ends at its next chunk boundary (the chunk
in flight finishes and is recorded), then waits for them; leases are released as each run ends.

Graph change notifications (calsync.web.graphhooks) ask for runs through `reconcile`, with the ids of the
events they named: the scheduler coalesces them with whatever is running or waiting for the mailbox, and
when the run starts, calsync.services.notifications.reconcile decides between a repair and nothing (the
notifications were echoes of calsync's own writes). A run a round or a user also asked for is made
anyway. The subscription upkeep loop (calsync.runtime.upkeep) starts once the web app listens.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

from calsync import services
from calsync.runtime.clock import Clock, SystemClock
from calsync.runtime.pushloop import PushLoop
from calsync.runtime.scheduler import Scheduler
from calsync.runtime.upkeep import UpkeepLoop
from calsync.services import Deployment, notifications, push, subscribing
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
        self.upkeep = UpkeepLoop(self._upkeep_pass, self.reconcile, clock or SystemClock())
        self.notified: Counter[str] = Counter()  # runs notifications asked for: "repaired" or "in_step"
        self._scopes: list[str] | None = None  # the last round's, for the subscription upkeep
        self._hints: notifications.Hints = {}  # what notifications named, per scope, until its run
        self._notified_only: set[str] = set()  # scopes whose waiting run only notifications asked for
        # Push deliveries (calsync.services.push): woken at once by every publish of this process.
        self.push = PushLoop(push.deliverer(deployment), clock=clock)
        deployment.outbox_listeners.append(self.push.wake)

    async def _run(self, scope: str, full: bool) -> str:
        profile, mailbox = split_scope(scope)
        notified = scope in self._hints
        named = self._hints.pop(scope, None)
        only = scope in self._notified_only
        self._notified_only.discard(scope)
        if full or not notified:
            report = await services.sync_mailbox(
                self.deployment, mailbox, profile=profile, full=full, stopping=self.stopping
            )
            if is_api_profile(profile):
                self._again_if_unfinished(scope, report.status)
            return report.status
        found, repaired = await notifications.reconcile(
            self.deployment, scope, named=named, incremental=not only, stopping=self.stopping
        )
        self.notified["repaired" if repaired else "in_step"] += 1
        return found.status if found is not None else "ok"

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
        self._scopes = await services.scopes(self.deployment)
        self._notified_only.difference_update(self._scopes)  # the round wants their runs too
        return self._scopes

    async def reconcile(self, hints: notifications.Hints) -> None:
        """Graph said these mailboxes changed (or that notifications were lost): a run of each, merged
        with any run waiting for it; `_run` decides what it does."""
        waiting = self.scheduler.snapshot().pending
        for scope in hints:
            if scope not in waiting and scope not in self._hints:
                self._notified_only.add(scope)
        notifications.merge_hints(self._hints, hints)
        for scope in hints:
            self.scheduler.request(scope)

    async def _upkeep_pass(self) -> subscribing.Upkeep:
        return await subscribing.upkeep(self.deployment, self._scopes)

    def serving(self) -> None:
        """The web app listens now: Graph can complete the validation handshake of new subscriptions.
        The loop runs even with notifications off: it deletes what an earlier configuration made."""
        self.upkeep.start()

    def start(self) -> None:
        self.scheduler.start()
        self.push.start()

    async def stop(self, grace: float | None = None) -> None:
        self.stopping.set()
        await self.upkeep.stop()
        await self.scheduler.stop(grace)
        await self.push.stop()  # after the runs: their last notifications are in the outbox already

    async def ready(self) -> list[str]:
        snap = self.scheduler.snapshot()
        return ["the scheduler is stopping"] if snap.stopping else []

    def queue_depth(self) -> float:
        return float(len(self.scheduler.snapshot().pending))

    async def request_run(self, scope: str, full: bool) -> str:
        """A run of one scope (a (profile, mailbox), an API profile's or a connection's) as soon as a slot
        is free (the pages' "sync now", the REST API's upserts): "queued", "merged" into the one already
        waiting, or "refused" while stopping."""
        return self.scheduler.request(scope, full=full).value
