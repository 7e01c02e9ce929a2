"""`calsync serve` on PostgreSQL: the web process only enqueues; `calsync worker`s run the jobs.

The periodic rounds are Procrastinate periodic tasks run by the workers (deferred once per period across
all of them), so any number of `calsync serve` processes can run without scheduling anything twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from procrastinate import App

from calsync.runtime import jobs
from calsync.runtime.worker import defer_push_on_publish
from calsync.services import Deployment

_TODO = sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")


class QueuedRuntime:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.app: App = jobs.build_app(jobs.conninfo_from_url(deployment.settings.database_url), None,
                                       pool_max_size=4)  # fmt: skip
        defer_push_on_publish(deployment, self.app)  # the API's and webhooks' notifications: workers send

    async def start(self) -> None:
        await self.app.open_async()
        await jobs.ensure_schema(self.app)

    async def stop(self) -> None:
        await self.app.close_async()

    async def reconcile(self, hints: dict[str, set[str] | None]) -> None:
        """Graph said these mailboxes changed: one full-sync job each (a re-read the feed's 304 cannot
        skip), coalesced by its queueing lock with a pending one, so a storm makes one run. The hints
        (which events) stay here: a worker's run re-reads the whole window."""
        await jobs.enqueue(self.app, list(hints), full=True)

    def serving(self) -> None:
        """Nothing to start: the workers' periodic job keeps the subscriptions (calsync.runtime.worker)."""

    async def ready(self) -> list[str]:
        try:
            await jobs.queue_depth(self.app)
        except Exception as exc:  # any connector failure means: do not route work here
            return [f"the job queue does not answer ({type(exc).__name__})"]
        return []

    async def request_run(self, scope: str, full: bool) -> str:
        """A sync job for one scope (the pages' "sync now", the REST API's upserts): "queued", or
        "merged" into the pending job of the same kind (its queueing lock)."""
        result = await jobs.enqueue(self.app, [scope], full=full)
        return "queued" if result.deferred else "merged"

    def queue_depth(self) -> float | None:
        """Jobs waiting, read through the state store's engine (the same database), from a thread."""
        with self.deployment.store.engine.connect() as conn:
            return float(conn.execute(_TODO).scalar_one())
