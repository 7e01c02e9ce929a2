"""Who delivers: the embedded loop of `calsync serve` on SQLite (woken by a publish), deliverers in
several processes on PostgreSQL sharing the outbox through SKIP LOCKED, and the Procrastinate task."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy.engine import URL

from calsync.runtime import jobs
from calsync.runtime.pushloop import PushLoop
from calsync.runtime.worker import defer_push_on_publish, handlers
from calsync.services import open_deployment, push
from tests.calsync.push.conftest import Env, push_settings
from tests.calsync.push.receiver import Receiver
from tests.calsync.push.test_delivery import changed, subscribe


async def test_the_embedded_loop_delivers_as_soon_as_a_notification_is_published(
    env: Env, receiver: Receiver
) -> None:
    await subscribe(env, receiver, "/ok/loop")
    loop = PushLoop(push.deliverer(env.deployment))  # the system clock: this loop waits on real I/O
    env.deployment.outbox_listeners.append(loop.wake)
    loop.start()
    try:
        await asyncio.sleep(0)
        for n in range(1, 4):
            await changed(env)
            await asyncio.to_thread(receiver.wait_for, n, "/ok/loop")
    finally:
        await loop.stop()
    assert len(receiver.requests) == 3


@pytest.mark.postgres
async def test_two_deliverers_on_postgresql_send_each_row_once(
    pg_schema_factory: Callable[[], URL], receiver: Receiver
) -> None:
    """Two processes' deliverers (each its own engine and connection pool) drain one outbox of 300
    notifications at the same time: FOR UPDATE SKIP LOCKED gives each row to one of them."""
    settings = push_settings(pg_schema_factory())
    async with open_deployment(settings) as one, open_deployment(settings) as two:
        made = await push.create_channel(one, owner="k", callback_url=receiver.url("/ok/shared"))
        receiver.secrets["/ok/shared"] = made.secret
        for _ in range(300):
            await push.publish_calendar_changed(
                one, profile_id="p", calendar_ids=[], changes_since=one.clock()
            )
        first, second = push.deliverer(one, batch=10), push.deliverer(two, batch=10)
        try:
            a, b = await asyncio.gather(first.drain(), second.drain())
        finally:
            await first.aclose()
            await second.aclose()
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 300
    assert set(ids.values()) == {1}
    assert a.delivered + b.delivered == 300
    assert a.delivered > 0
    assert b.delivered > 0


@pytest.mark.postgres
async def test_the_delivery_job_is_deferred_on_publish_and_run_by_a_worker(
    pg_schema_factory: Callable[[], URL], receiver: Receiver
) -> None:
    url = pg_schema_factory()
    settings = push_settings(url)
    async with open_deployment(settings) as deployment:
        made = await push.create_channel(deployment, owner="k", callback_url=receiver.url("/ok/job"))
        receiver.secrets["/ok/job"] = made.secret
        deliverer = push.deliverer(deployment)
        app = jobs.build_app(jobs.conninfo_from_url(settings.database_url), handlers(deployment, deliverer))
        defer_push_on_publish(deployment, app)
        async with app.open_async():
            await jobs.ensure_schema(app)
            await push.publish_calendar_changed(
                deployment, profile_id="p", calendar_ids=[], changes_since=deployment.clock()
            )
            await push.publish_calendar_changed(
                deployment, profile_id="p", calendar_ids=[], changes_since=deployment.clock()
            )
            await asyncio.sleep(0)  # the listeners' defers run
            for _ in range(100):
                depth = await jobs.queue_depth(app)
                if depth:
                    break
                await asyncio.sleep(0.02)
            assert depth == 1  # two publishes, one waiting delivery job (coalesced)
            await app.run_worker_async(wait=False, install_signal_handlers=False, concurrency=2)
        await deliverer.aclose()
    assert len(receiver.delivered("/ok/job")) == 2
