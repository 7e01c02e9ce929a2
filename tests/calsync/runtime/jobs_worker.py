"""A `calsync worker` stand-in for test_jobs.py, run as a subprocess (a real process, real signals).

    python jobs_worker.py CONNINFO [--mailboxes a,b] [--sleep-ms 80] [--concurrency 4] [--interval 900]

Its sync handler records each run in the table `job_runs` of the connection's schema: the mailbox,
whether it was full, this process's pid, and start and end times from PostgreSQL's clock (one clock
for every process, so intervals compare across workers). `--mailboxes` is what the periodic fan-out
resolves (empty by default, so the start-up fan-out defers nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os

import psycopg

from calsync.runtime.jobs import JobHandlers, build_app, run_worker

_START = (
    "INSERT INTO job_runs (mailbox, full_sync, pid, started)"
    " VALUES (%s, %s, %s, clock_timestamp()) RETURNING id"
)
_END = "UPDATE job_runs SET ended = clock_timestamp() WHERE id = %s"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("conninfo")
    parser.add_argument("--mailboxes", default="")
    parser.add_argument("--sleep-ms", type=int, default=80)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--interval", type=int, default=900)
    args = parser.parse_args()
    mailboxes = [m for m in args.mailboxes.split(",") if m]
    pid = os.getpid()

    async with await psycopg.AsyncConnection.connect(args.conninfo, autocommit=True) as conn:

        async def sync_mailbox(mailbox: str, full: bool) -> str:
            cursor = await conn.execute(_START, (mailbox, full, pid))
            row = await cursor.fetchone()
            assert row is not None
            await asyncio.sleep(args.sleep_ms / 1000)
            await conn.execute(_END, (row[0],))
            return "ok"

        async def resolve() -> list[str]:
            return mailboxes

        app = build_app(args.conninfo, JobHandlers(sync_mailbox, resolve), sync_interval_s=args.interval)
        async with app.open_async():
            await run_worker(app, concurrency=args.concurrency, name=f"test-{pid}", poll_interval_s=0.2)


if __name__ == "__main__":
    asyncio.run(main())
