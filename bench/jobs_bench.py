"""How the job runtime does with 10,000 mailboxes: enqueue time, and Procrastinate's job-fetch latency.

    .venv/bin/python bench/jobs_bench.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                         [--mailboxes 10000] [--fetches 200] [--finished 100000]
                                         [--no-baselines] [--json]

Each phase works in its own fresh PostgreSQL schema (search_path through libpq `options`, procrastinate's
schema applied by `ensure_schema`), dropped at the end. The URL defaults to CALSYNC_TEST_POSTGRES_URL.

Enqueue (`calsync.runtime.jobs.enqueue`, chunks of 1,000):
- fresh: N mailboxes, none pending: N deferred;
- again: the same N, all pending: N coalesced (one lookup query, no insert);
- half: N/2 pending and N/2 new;
baselines (the alternatives `enqueue` was chosen over), each on an empty queue or all pending as noted:
- one `defer_async` per mailbox (one round trip per job), empty queue;
- chunked `batch_defer` without the pending lookup, all pending: every chunk conflicts and is bisected.

Fetch: with N jobs queued (distinct mailboxes, as a fan-out leaves them), a registered worker calls
`JobManager.fetch_job` (`procrastinate_fetch_job_v2`: the NOT EXISTS over same-lock rows, ORDER BY
priority, id, FOR UPDATE SKIP LOCKED; procrastinate#1242) `--fetches` times, one at a time, each
timed; jobs fetched stay `doing`. Then again after adding `--finished` succeeded rows (what a day of
fan-outs leaves before the purge). Prints median, p95 and max per phase, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from procrastinate import App
from sqlalchemy.engine import make_url

from calsync.runtime.jobs import build_app, conninfo_from_url, enqueue, ensure_schema, queue_depth
from calsync.runtime.jobs.enqueue import _defer
from calsync.runtime.jobs.tasks import sync_job

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADD_FINISHED = """
INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, status, attempts)
SELECT 'default', 'calsync.sync_mailbox', 'mbx:done' || i, 'mbx:done' || i,
       jsonb_build_object('mailbox', 'done' || i, 'full', false), 'succeeded', 1
  FROM generate_series(1, %s) AS i
"""


@asynccontextmanager
async def fresh_app(url: str) -> AsyncIterator[App]:
    """An open defer-only app on a new schema with procrastinate's tables; the schema is dropped after."""
    base = conninfo_from_url(url)
    schema = f"calsync_bench_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(base, autocommit=True) as admin:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            app = build_app(conninfo_from_url(scoped.render_as_string(hide_password=False)), None)
            async with app.open_async():
                await ensure_schema(app)
                yield app
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def timed(coro: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = await coro
    return result, round(time.perf_counter() - start, 4)


async def enqueue_phases(url: str, n: int, baselines: bool) -> dict[str, Any]:
    names = [f"user{i:05}@bench.example" for i in range(n)]
    out: dict[str, Any] = {}
    async with fresh_app(url) as app:
        result, out["fresh_s"] = await timed(enqueue(app, names, full=False))
        assert result.deferred == n, result
        result, out["again_s"] = await timed(enqueue(app, names, full=False))
        assert result.coalesced == n, result
        half = names[n // 2 :] + [f"new{i:05}@bench.example" for i in range(n // 2)]
        result, out["half_s"] = await timed(enqueue(app, half, full=False))
        assert (result.deferred, result.coalesced) == (n // 2, n - n // 2), result
        if baselines:
            jobs = [sync_job(m, full=False) for m in names]
            start = time.perf_counter()
            for i in range(0, n, 1000):
                assert await _defer(app.job_manager, jobs[i : i + 1000]) == 0
            out["bisect_all_pending_s"] = round(time.perf_counter() - start, 4)
    if baselines:
        async with fresh_app(url) as app:
            start = time.perf_counter()
            for job in (sync_job(m, full=False) for m in names):
                await app.job_manager.defer_job_async(job)
            out["one_by_one_s"] = round(time.perf_counter() - start, 4)
    return out


async def fetch_latencies(app: App, worker_id: int, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        latencies.append(time.perf_counter() - start)
        assert job is not None
    return latencies


def summary_ms(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


async def fetch_phases(url: str, n: int, fetches: int, finished: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with fresh_app(url) as app:
        await enqueue(app, [f"user{i:05}@bench.example" for i in range(n)], full=False)
        async with app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            await conn.execute("ANALYZE procrastinate_jobs")
        worker = await app.job_manager.register_worker()
        out["queued"] = await queue_depth(app)
        out["fetch"] = summary_ms(await fetch_latencies(app, worker, fetches))
        if finished:
            async with app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
                await conn.execute(ADD_FINISHED, (finished,))
                await conn.execute("ANALYZE procrastinate_jobs")
            out["finished_rows"] = finished
            out["fetch_with_finished"] = summary_ms(await fetch_latencies(app, worker, fetches))
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "bench": "jobs",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "load_1min": round(os.getloadavg()[0], 2),
        "mailboxes": args.mailboxes,
        "enqueue": await enqueue_phases(args.url, args.mailboxes, not args.no_baselines),
        "fetch": await fetch_phases(args.url, args.mailboxes, args.fetches, args.finished),
    }


ENQUEUE_ROWS = [
    ("fresh_s", "enqueue N new"),
    ("again_s", "enqueue N, all pending"),
    ("half_s", "enqueue N, half pending"),
    ("one_by_one_s", "baseline: defer one by one"),
    ("bisect_all_pending_s", "baseline: chunks, no lookup, all pending"),
]


def print_table(result: dict[str, Any]) -> None:
    enq, fetch, n = result["enqueue"], result["fetch"], result["mailboxes"]
    print(f"{result['date']}  {result['machine']}  load {result['load_1min']}  N={n}")
    for key, label in ENQUEUE_ROWS:
        if key in enq:
            print(f"  {label:<42} {enq[key]:8.3f} s  ({enq[key] / n * 1e6:7.1f} µs per mailbox)")
    rows = [("fetch", f"fetch_job, {fetch['queued']} queued")]
    if "fetch_with_finished" in fetch:
        rows.append(("fetch_with_finished", f"  + {fetch['finished_rows']} finished rows"))
    for key, label in rows:
        f = fetch[key]
        print(f"  {label:<42} median {f['median_ms']} ms  p95 {f['p95_ms']} ms  max {f['max_ms']} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("CALSYNC_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--fetches", type=int, default=200)
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if not args.json:
        print_table(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
