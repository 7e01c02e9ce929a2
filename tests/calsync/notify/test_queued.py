"""Notifications on PostgreSQL: `calsync serve` only defers, so a storm for one mailbox must leave one
pending full-sync job (its queueing lock), and the workers' periodic job keeps the subscriptions and
defers a reconcile of every mailbox whose subscription had lapsed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import URL

from calsync import services
from calsync.runtime import jobs
from calsync.runtime.jobs.tasks import SUBSCRIPTIONS_TASK, SYNC_TASK
from calsync.runtime.queued import QueuedRuntime
from calsync.settings import load_settings
from tests.calsync.runtime.conftest import sql, wait_for

pytestmark = pytest.mark.postgres


async def sync_jobs(conninfo: str) -> list[tuple[object, ...]]:
    query = "SELECT args->>'mailbox', (args->>'full')::bool, status::text FROM procrastinate_jobs"
    return await sql(conninfo, query + " WHERE task_name = %s ORDER BY id", SYNC_TASK)


async def test_a_storm_on_postgresql_leaves_one_pending_full_sync_per_mailbox(
    tmp_path: Path, pg_schema_factory: Callable[[], URL]
) -> None:
    url = pg_schema_factory().render_as_string(hide_password=False)
    config = tmp_path / "calsync.toml"
    config.write_text(
        f'tenant_id = "t"\nclient_id = "c"\nmailboxes = ["a@x.org", "b@x.org"]\ndatabase_url = "{url}"\n'
        'public_url = "https://calsync.example.org"\nchange_notifications = true\n'
    )
    settings = load_settings(config, env={"CALSYNC_CLIENT_SECRET": "s"})
    async with services.open_deployment(settings) as deployment:
        runtime = QueuedRuntime(deployment)
        await runtime.start()
        try:
            storm = [{"a@x.org": {f"e{i}"}} for i in range(20)] + [{"p:b@x.org": None}] * 5
            await asyncio.gather(*(runtime.reconcile(h) for h in storm))
            conninfo = jobs.conninfo_from_url(url)
            assert await sync_jobs(conninfo) == [("a@x.org", True, "todo"), ("p:b@x.org", True, "todo")]
        finally:
            await runtime.stop()


async def test_the_periodic_subscription_job_defers_a_reconcile_of_lapsed_mailboxes(
    pg_schema_factory: Callable[[], URL],
) -> None:
    conninfo = jobs.conninfo_from_url(pg_schema_factory().render_as_string(hide_password=False))
    passes: list[int] = []

    async def sync_mailbox(mailbox: str, full: bool) -> str:
        return "ok"

    async def mailboxes() -> list[str]:
        return []

    async def subscriptions() -> list[str]:
        passes.append(1)
        return ["a@x.org"]

    app = jobs.build_app(conninfo, jobs.JobHandlers(sync_mailbox, mailboxes, subscriptions))
    assert any(p.task.name == SUBSCRIPTIONS_TASK for p in app.periodic_registry.periodic_tasks.values())
    async with app.open_async():
        await jobs.ensure_schema(app)
        await app.configure_task(SUBSCRIPTIONS_TASK).defer_async(timestamp=0)
        worker = asyncio.create_task(
            jobs.run_worker(app, concurrency=1, name="t", poll_interval_s=0.05, install_signal_handlers=False)
        )
        try:

            async def reconciled() -> bool:
                return bool(await sync_jobs(conninfo))

            await wait_for(reconciled, what="the reconcile of the lapsed mailbox")
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
    assert passes  # the deferred pass (the periodic one may also have fired meanwhile)
    assert {job[:2] for job in await sync_jobs(conninfo)} == {("a@x.org", True)}
