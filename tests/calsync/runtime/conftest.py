"""Fixtures for the job runtime's tests: a fresh PostgreSQL schema per test, apps on it, worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from procrastinate import App
from sqlalchemy.engine import URL

import calsync
from calsync.runtime.jobs import build_app, conninfo_from_url, ensure_schema

WORKER_SCRIPT = Path(__file__).with_name("jobs_worker.py")
RUNS_TABLE = """
CREATE TABLE job_runs (
    id serial PRIMARY KEY, mailbox text NOT NULL, full_sync boolean NOT NULL, pid integer NOT NULL,
    started timestamptz NOT NULL, ended timestamptz
)
"""


@pytest.fixture
def conninfo(pg_schema_factory: Callable[[], URL]) -> str:
    """A libpq conninfo on a fresh schema (search_path), where procrastinate's tables will go."""
    return conninfo_from_url(pg_schema_factory().render_as_string(hide_password=False))


@pytest.fixture
async def app(conninfo: str) -> AsyncIterator[App]:
    """An open, defer-only app (like `calsync serve`'s) on a schema with procrastinate's tables and
    the `job_runs` table the worker processes record into."""
    deferrer = build_app(conninfo, None, pool_max_size=4)
    async with deferrer.open_async():
        await ensure_schema(deferrer)
        await sql(conninfo, RUNS_TABLE)
        yield deferrer


async def sql(conninfo: str, query: str, *params: object) -> list[tuple[object, ...]]:
    """Run one statement on its own connection; the rows it returns, if any."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cursor = await conn.execute(query, params or None)  # type: ignore[arg-type]
        return list(await cursor.fetchall()) if cursor.description else []


async def wait_for(check: Callable[[], object], *, timeout_s: float = 15.0, what: str) -> None:
    """Poll an async check until it returns true; fail with `what` after `timeout_s` (a bound on the
    test's run time, never an assertion about how fast things are)."""
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[misc]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


class Workers:
    """Worker subprocesses running jobs_worker.py; whatever is still running at teardown is killed."""

    def __init__(self, conninfo: str, logs: Path) -> None:
        self.conninfo, self.logs = conninfo, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(Path(calsync.__file__).parents[1])}
        log = (self.logs / f"worker{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), self.conninfo, *args], env=env, stdout=log, stderr=log
        )
        log.close()
        self.procs.append(proc)
        return proc

    async def stop(self, proc: subprocess.Popen[bytes], *, timeout_s: float = 15.0) -> int:
        """SIGTERM, then the exit code (the process must stop on its own within `timeout_s`)."""
        proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(proc.wait, timeout_s)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker*.log")))

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(conninfo: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(conninfo, tmp_path)
    yield pool
    pool.kill_all()
