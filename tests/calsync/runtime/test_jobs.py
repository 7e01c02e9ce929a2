"""The scale-out runtime on a real PostgreSQL: locks, coalescing, retries, periodic fan-out, shutdown.

Worker processes are real subprocesses (jobs_worker.py) that record each run's interval in PostgreSQL;
assertions read those records, never elapsed time. Waits only bound how long a test may take.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from collections.abc import Awaitable, Callable

import croniter
import pytest
from hypothesis import given
from hypothesis import strategies as st
from procrastinate import App
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager
from psycopg.conninfo import conninfo_to_dict

from calsync.runtime.jobs import (
    Backoff,
    EnqueueResult,
    JobHandlers,
    JobsError,
    ScheduleError,
    TransientRunError,
    build_app,
    conninfo_from_url,
    cron_every,
    daily_cron,
    enqueue,
    ensure_schema,
    live_workers,
    purge_finished_jobs,
    queue_depth,
    recover_stalled,
    run_worker,
    share_of_budget,
    watch_budget,
)
from calsync.runtime.jobs.tasks import FAN_OUT_TASK, SYNC_TASK, sync_job
from tests.calsync.runtime.conftest import Workers, sql, wait_for

postgres = pytest.mark.postgres


# --- pure parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [(1, "* * * * * *"), (15, "* * * * * */15"), (60, "* * * * *"), (900, "*/15 * * * *"),
     (3600, "0 * * * *"), (21600, "0 */6 * * *"), (86400, "0 0 * * *")],
)  # fmt: skip
def test_cron_every_names_the_interval(seconds: int, cron: str) -> None:
    assert cron_every(seconds) == cron


@given(
    st.sampled_from([1, 2, 3, 5, 10, 30, 120, 300, 600, 900, 1200, 1800, 7200, 10800, 28800, 43200, 86400]),
    st.integers(0, 2**31),
)
def test_cron_every_fires_exactly_every_interval(seconds: int, start: int) -> None:
    ticks = croniter.croniter(cron_every(seconds), start)
    first = ticks.get_next(float)
    assert [ticks.get_next(float) - first for _ in range(3)] == [seconds, 2 * seconds, 3 * seconds]


@pytest.mark.parametrize("seconds", [0, -5, 7, 45, 90, 5400, 172800])
def test_cron_every_refuses_intervals_cron_cannot_keep(seconds: int) -> None:
    with pytest.raises(ScheduleError):
        cron_every(seconds)


def test_daily_cron_is_utc_hour_and_minute() -> None:
    assert daily_cron("03:00") == "0 3 * * *"
    assert daily_cron("23:59") == "59 23 * * *"
    for bad in ["3:00", "24:00", "12:60", "noon", "03:00:00"]:
        with pytest.raises(ScheduleError):
            daily_cron(bad)


def test_backoff_retries_only_transient_errors_a_bounded_number_of_times() -> None:
    backoff = Backoff(max_attempts=3, base_s=2, factor=3, cap_s=5)
    job = sync_job("m", full=False)
    blip = TransientRunError("429")
    assert backoff.get_retry_decision(exception=blip, job=job) is not None
    assert backoff.get_retry_decision(exception=blip, job=job.evolve(attempts=1)) is not None
    assert backoff.get_retry_decision(exception=blip, job=job.evolve(attempts=2)) is None  # 3 attempts made
    assert backoff.get_retry_decision(exception=ValueError("bug"), job=job) is None
    assert [backoff.delay_s(n) for n in (1, 2, 3)] == [2, 5, 5]  # 2, 6 capped at 5, 18 capped at 5


def test_share_of_budget_splits_among_live_workers() -> None:
    assert share_of_budget(100.0, 4) == 25.0
    assert share_of_budget(100.0, 0) == 100.0  # not registered yet: the whole budget, not a division by 0


def test_conninfo_keeps_libpq_options_and_password() -> None:
    url = "postgresql+psycopg://svc:p%40ss%20w@db.example:6432/calsync?options=-csearch_path%3Dx&sslmode=require"
    assert conninfo_to_dict(conninfo_from_url(url)) == {
        "host": "db.example", "port": "6432", "user": "svc", "password": "p@ss w", "dbname": "calsync",
        "options": "-csearch_path=x", "sslmode": "require",
    }  # fmt: skip


def test_conninfo_refuses_other_databases_without_echoing_the_url() -> None:
    with pytest.raises(JobsError) as caught:
        conninfo_from_url("mysql://root:hunter2@db/x")
    assert "hunter2" not in str(caught.value)


# --- PostgreSQL, in process ------------------------------------------------------------------------


async def jobs_of(conninfo: str, task: str = SYNC_TASK) -> list[tuple[object, ...]]:
    """(mailbox, full, status, attempts) of every job of `task`, in id order."""
    return await sql(conninfo, "SELECT args->>'mailbox', (args->>'full')::bool, status::text, attempts "
                               "FROM procrastinate_jobs WHERE task_name = %s ORDER BY id", task)  # fmt: skip


@postgres
async def test_queueing_lock_coalesces_pending_syncs(app: App, conninfo: str) -> None:
    results = [await enqueue(app, ["m1"], full=False) for _ in range(5)]
    assert sum(r.deferred for r in results) == 1
    assert sum(r.coalesced for r in results) == 4
    # A full sync is a different request: it waits alongside, and is coalesced only with another full one.
    assert await enqueue(app, ["m1", "m1", "m2"], full=True) == EnqueueResult(deferred=2, coalesced=1)
    assert await queue_depth(app) == 3


@postgres
async def test_concurrent_enqueues_defer_each_mailbox_once(conninfo: str, app: App) -> None:
    """Two callers racing past the pending check meet in the unique index; the loser's chunk is split
    until only the conflicting mailboxes are left, and those are counted as coalesced."""
    other = build_app(conninfo, None, pool_max_size=2)
    async with other.open_async():
        first, second = await asyncio.gather(
            enqueue(app, [f"m{i}" for i in range(0, 300)], full=False, chunk_size=64),
            enqueue(other, [f"m{i}" for i in range(200, 500)], full=False, chunk_size=64),
        )
    assert first.deferred + second.deferred == 500
    assert first.coalesced + second.coalesced == 100
    assert await queue_depth(app) == 500


@postgres
async def test_ensure_schema_is_idempotent_when_processes_race(pg_schema_factory) -> None:  # type: ignore[no-untyped-def]
    conninfo = conninfo_from_url(pg_schema_factory().render_as_string(hide_password=False))
    apps = [build_app(conninfo, None, pool_max_size=1) for _ in range(3)]
    async with apps[0].open_async(), apps[1].open_async(), apps[2].open_async():
        applied = await asyncio.gather(*(ensure_schema(a) for a in apps))
        assert sorted(applied) == [False, False, True]
        assert await ensure_schema(apps[0]) is False
        assert await queue_depth(apps[0]) == 0


async def run_until(app: App, done: Callable[[], Awaitable[bool]], *, what: str) -> None:
    """Run a worker on `app` in this process until `done()`, then stop it as a cancelled task."""
    worker = asyncio.create_task(
        run_worker(app, concurrency=2, name="inproc", poll_interval_s=0.05, install_signal_handlers=False)
    )
    try:
        await wait_for(done, what=what)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


def recording_handlers(behaviour: Callable[[str, bool, int], Awaitable[str]]) -> JobHandlers:
    """Handlers whose sync calls `behaviour(mailbox, full, attempt number)`."""
    calls: dict[str, int] = defaultdict(int)

    async def sync_mailbox(mailbox: str, full: bool) -> str:
        calls[mailbox] += 1
        return await behaviour(mailbox, full, calls[mailbox])

    async def mailboxes() -> list[str]:
        return []

    return JobHandlers(sync_mailbox, mailboxes)


@postgres
async def test_transient_failures_are_retried_with_backoff(conninfo: str, app: App) -> None:
    async def flaky(mailbox: str, full: bool, attempt: int) -> str:
        if attempt <= 2:
            raise TransientRunError("Graph answered 503")
        return "ok"

    runner = build_app(conninfo, recording_handlers(flaky), retry=Backoff(max_attempts=3, base_s=0.05))
    async with runner.open_async():
        await enqueue(app, ["m1"], full=False)

        async def finished() -> bool:
            return (await jobs_of(conninfo))[0][2] in {"succeeded", "failed"}

        await run_until(runner, finished, what="the flaky job to finish")
    assert await jobs_of(conninfo) == [("m1", False, "succeeded", 3)]


@postgres
async def test_other_failures_are_not_retried(conninfo: str, app: App) -> None:
    async def broken(mailbox: str, full: bool, attempt: int) -> str:
        raise LookupError("a bug, not a blip")

    runner = build_app(conninfo, recording_handlers(broken), retry=Backoff(max_attempts=3, base_s=0.05))
    async with runner.open_async():
        await enqueue(app, ["m1"], full=False)

        async def finished() -> bool:
            return (await jobs_of(conninfo))[0][2] != "todo" and await queue_depth(app) == 0

        await run_until(runner, finished, what="the broken job to fail")
    assert await jobs_of(conninfo) == [("m1", False, "failed", 1)]


async def start_job(app: App, manager: JobManager, mailbox: str) -> Job:
    """Defer a sync of `mailbox` and take it as a registered worker would (status doing)."""
    await enqueue(app, [mailbox], full=False)
    job = await manager.fetch_job(queues=None, worker_id=await manager.register_worker())
    assert job is not None
    return job


@postgres
async def test_procrastinate_cannot_retry_a_job_whose_queueing_lock_is_pending_again(
    conninfo: str, app: App
) -> None:
    """Why CoalescingJobManager exists: procrastinate 3.10 retries in place, and the unique index on
    pending queueing locks refuses, leaving the job `doing` with its mailbox's lock held. If this test
    starts failing, procrastinate handles the case and the workaround can go."""
    plain = JobManager(app.connector)
    running = await start_job(app, plain, "m1")
    assert await enqueue(app, ["m1"], full=False) == EnqueueResult(deferred=1, coalesced=0)
    with pytest.raises(UniqueViolation):
        await plain.retry_job(running)
    assert [row[2] for row in await jobs_of(conninfo)] == ["doing", "todo"]


@postgres
async def test_a_retry_meeting_a_pending_sync_hands_over_to_it(conninfo: str, app: App) -> None:
    async def fails_once_while_a_webhook_arrives(mailbox: str, full: bool, attempt: int) -> str:
        if attempt == 1:
            assert await enqueue(app, [mailbox], full=False) == EnqueueResult(1, 0)
            raise TransientRunError("throttled")
        return "ok"

    runner = build_app(conninfo, recording_handlers(fails_once_while_a_webhook_arrives),
                       retry=Backoff(max_attempts=3, base_s=0.05))  # fmt: skip
    async with runner.open_async():
        await enqueue(app, ["m1"], full=False)

        async def settled() -> bool:
            return [row[2] for row in await jobs_of(conninfo)] == ["failed", "succeeded"]

        await run_until(runner, settled, what="the pending job to take over from the failed one")


@postgres
async def test_stalled_jobs_of_dead_workers_are_requeued(conninfo: str, app: App) -> None:
    await start_job(app, app.job_manager, "m1")
    await start_job(app, app.job_manager, "m2")
    assert await enqueue(app, ["m2"], full=False) == EnqueueResult(1, 0)  # m2 also has a pending sync
    assert await recover_stalled(app, stalled_after_s=30) == 0  # heartbeats are fresh
    await sql(conninfo, "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")
    assert await recover_stalled(app, stalled_after_s=30) == 2
    assert [row[:3] for row in await jobs_of(conninfo)] == [
        ("m1", False, "todo"),  # requeued: its lock is free again
        ("m2", False, "failed"),  # could not requeue next to the pending one, which takes over
        ("m2", False, "todo"),
    ]


@postgres
async def test_live_workers_counts_fresh_heartbeats(conninfo: str, app: App) -> None:
    manager = app.job_manager
    stale = await manager.register_worker()
    await manager.register_worker()
    await sql(conninfo, "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 min' "
                        "WHERE id = %s", stale)  # fmt: skip
    assert await live_workers(app, within_s=30) == 1
    assert await live_workers(app, within_s=600) == 2

    shares: list[float] = []

    async def two_rounds(seconds: float) -> None:
        if len(shares) == 2:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await watch_budget(app, 50.0, shares.append, within_s=600, sleep=two_rounds)
    assert shares == [25.0, 25.0]


@postgres
async def test_purge_deletes_finished_jobs_only(conninfo: str, app: App) -> None:
    done = await start_job(app, app.job_manager, "m1")
    await app.job_manager.finish_job(done, status=Status.SUCCEEDED, delete_job=False)
    await enqueue(app, ["m2"], full=False)
    await purge_finished_jobs(app, older_than_hours=1)
    assert len(await jobs_of(conninfo)) == 2  # finished too recently
    await purge_finished_jobs(app, older_than_hours=0)
    assert [row[0] for row in await jobs_of(conninfo)] == ["m2"]


async def test_a_defer_only_app_refuses_to_run_a_worker() -> None:
    with pytest.raises(JobsError):
        await run_worker(build_app("host=nowhere", None), concurrency=1)


# --- PostgreSQL, worker processes --------------------------------------------------------------------


async def runs(conninfo: str) -> list[tuple[object, ...]]:
    """(mailbox, full, pid, started, ended) of every run the worker processes recorded."""
    return await sql(conninfo, "SELECT mailbox, full_sync, pid, started, ended FROM job_runs ORDER BY id")


@postgres
async def test_two_worker_processes_never_run_a_mailbox_twice_at_once(
    conninfo: str, app: App, workers: Workers
) -> None:
    mailboxes = [f"m{i:02}" for i in range(40)]
    # An incremental and a full sync wait for every mailbox, next to each other in the queue: only the
    # per-mailbox lock keeps two workers (or two slots of one) from running both at once.
    before = [await enqueue(app, [m], full=full) for m in mailboxes for full in (False, True, False)]
    assert sum(r.deferred for r in before) == 80
    assert sum(r.coalesced for r in before) == 40
    procs = [workers.start("--sleep-ms", "60", "--concurrency", "4") for _ in range(2)]
    during = [await enqueue(app, mailboxes, full=round_ % 2 == 1) for round_ in range(4)]
    assert all(r.deferred + r.coalesced == 40 for r in during)
    expected = 80 + sum(r.deferred for r in during)

    async def all_ran() -> bool:
        return len([r for r in await runs(conninfo) if r[4] is not None]) == expected

    await wait_for(all_ran, timeout_s=20, what=f"{expected} runs\n{workers.output()}")
    assert [await workers.stop(p) for p in procs] == [0, 0], workers.output()

    recorded = await runs(conninfo)
    assert len(recorded) == expected  # each deferred job ran exactly once
    assert {r[0] for r in recorded} == set(mailboxes)
    assert len({r[2] for r in recorded}) == 2  # both processes took jobs
    by_mailbox: dict[object, list[tuple[object, ...]]] = defaultdict(list)
    for run in recorded:
        by_mailbox[run[0]].append(run)
    for mailbox, its_runs in by_mailbox.items():
        its_runs.sort(key=lambda r: r[3])  # type: ignore[arg-type,return-value]
        for earlier, later in itertools.pairwise(its_runs):
            assert later[3] >= earlier[4], f"{mailbox}: {earlier} overlaps {later}"  # type: ignore[operator]
    assert {row[2] for row in await jobs_of(conninfo)} == {"succeeded"}


@postgres
async def test_periodic_fan_out_is_deferred_once_per_period_by_two_workers(
    conninfo: str, app: App, workers: Workers
) -> None:
    procs = [workers.start("--interval", "1", "--mailboxes", "p1,p2", "--sleep-ms", "10") for _ in range(2)]

    async def both_live() -> bool:
        return await live_workers(app) == 2

    await wait_for(both_live, what=f"two live workers\n{workers.output()}")
    [(since,)] = await sql(conninfo, "SELECT extract(epoch FROM now())::bigint")

    async def fan_outs() -> list[int]:
        query = "SELECT (args->>'timestamp')::bigint FROM procrastinate_jobs WHERE task_name = %s"
        rows = await sql(conninfo, query + " AND NOT (args->>'full')::bool", FAN_OUT_TASK)
        return [int(row[0]) for row in rows]  # type: ignore[call-overload]

    async def three_periods_with_both_running() -> bool:
        return len({t for t in await fan_outs() if t > since}) >= 3  # type: ignore[operator]

    await wait_for(three_periods_with_both_running, what=f"three fan-outs\n{workers.output()}")
    assert [await workers.stop(p) for p in procs] == [0, 0], workers.output()
    stamps = await fan_outs()
    assert len(stamps) == len(set(stamps)), f"a period was deferred twice: {sorted(stamps)}"
    assert {r[0] for r in await runs(conninfo)} == {"p1", "p2"}  # the fan-outs enqueued the syncs


@postgres
async def test_sigterm_lets_the_running_sync_finish_and_exits_0(
    conninfo: str, app: App, workers: Workers
) -> None:
    await enqueue(app, ["slow"], full=False)
    proc = workers.start("--sleep-ms", "800", "--concurrency", "1")

    async def started() -> bool:
        return len(await runs(conninfo)) == 1

    await wait_for(started, what=f"the slow sync to start\n{workers.output()}")
    assert await workers.stop(proc) == 0, workers.output()
    [(mailbox, _, pid, _, ended)] = await runs(conninfo)
    assert (mailbox, pid, ended is not None) == ("slow", proc.pid, True)
    assert await jobs_of(conninfo) == [("slow", False, "succeeded", 1)]
    assert await live_workers(app) == 0  # it unregistered on the way out
