"""`calsync worker` on the local PostgreSQL against graphemu over TLS (issue 8): two worker processes race
for the same mailboxes, enqueued again and again while they run. Never two runs of one mailbox at once
(the runs recorded in the state database do not overlap), every mailbox converges with no event created
twice, both workers take jobs, and both exit 0 on SIGTERM. Waits are bounded loops, never timing asserts.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL

from calsync.adapters.eventmap import TAG_ID
from calsync.runtime import jobs
from calsync.store import make_engine
from tests.calsync.emulated import BIN, Emulator, calsync_env, emulator_process

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MAILBOXES = tuple(f"user{i:02d}@workers.example" for i in range(12))
EVENTS = 45


def feed() -> str:
    start = datetime.now(UTC).date() + timedelta(days=1)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync tests//workers//EN"]
    for i in range(EVENTS):
        day = start + timedelta(days=i)
        lines += ["BEGIN:VEVENT", f"UID:w{i:03d}@workers.test", "DTSTAMP:20260101T000000Z",
                  f"DTSTART:{day:%Y%m%d}T090000Z", f"DTEND:{day:%Y%m%d}T100000Z",
                  f"SUMMARY:Class {i:03d}", "END:VEVENT"]  # fmt: skip
    return "\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with emulator_process(tmp_path, MAILBOXES) as emu:
        yield emu


def calsync(workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    with (workdir / "calsync.log").open("ab") as log:
        return subprocess.Popen(
            [str(BIN / "calsync"), *args], env=calsync_env(workdir), stdout=log, stderr=subprocess.STDOUT
        )


def wait_for(what: str, check: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_two_workers_never_run_one_mailbox_twice_at_once(
    emulator: Emulator, tmp_path: Path, pg_schema_factory: Callable[[], URL]
) -> None:
    url = pg_schema_factory().render_as_string(hide_password=False)
    (tmp_path / "timetable.ics").write_text(feed())
    emulator.write_config(
        tmp_path, MAILBOXES, f'ics_file = "{tmp_path / "timetable.ics"}"\ndatabase_url = "{url}"\n'
    )
    emulator.control.put("/_emu/faults", json={"latency_ms": 20}).raise_for_status()
    upgrade = calsync(tmp_path, "db", "upgrade")
    assert upgrade.wait(60) == 0, (tmp_path / "calsync.log").read_text()

    async def enqueue_rounds() -> int:
        app = jobs.build_app(jobs.conninfo_from_url(url), None, pool_max_size=2)
        deferred = 0
        async with app.open_async():
            for round_no in range(4):
                result = await jobs.enqueue(app, list(MAILBOXES), full=round_no % 2 == 1)
                deferred += result.deferred
                await asyncio.sleep(0.3)
        return deferred

    workers = [calsync(tmp_path, "worker", "--concurrency", "4", "--name", f"w{n}") for n in range(2)]
    engine = make_engine(url)
    try:
        deferred = asyncio.run(enqueue_rounds())
        assert deferred > len(MAILBOXES)  # more jobs than mailboxes: runs of one mailbox had to queue

        def drained() -> bool:
            with engine.connect() as conn:
                busy = conn.execute(
                    sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
                ).scalar_one()
            return busy == 0

        wait_for("the queue to drain", drained)
        for worker in workers:
            assert worker.poll() is None, (tmp_path / "calsync.log").read_text()[-3000:]
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT mailbox, started, finished, status FROM runs")).all()
            jobs_by_worker = conn.execute(
                sa.text(
                    "SELECT count(DISTINCT worker_id), count(*) FILTER (WHERE status = 'succeeded') "
                    "FROM procrastinate_jobs WHERE task_name = 'calsync.sync_mailbox'"
                )
            ).one()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(60) for worker in workers]
        engine.dispose()
    assert codes == [0, 0], (tmp_path / "calsync.log").read_text()[-3000:]
    assert {r.status for r in runs} <= {"ok"}
    by_mailbox: dict[str, list[tuple[datetime, datetime]]] = {}
    for r in runs:
        by_mailbox.setdefault(r.mailbox, []).append((r.started, r.finished))
    assert set(by_mailbox) == set(MAILBOXES)
    for mailbox, spans in by_mailbox.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"two runs of {mailbox} overlapped"
    assert sum(len(s) for s in by_mailbox.values()) > len(MAILBOXES)  # mailboxes ran more than once
    assert jobs_by_worker[0] == 2  # both workers took jobs
    for mailbox in MAILBOXES:
        events = emulator.managed(mailbox)
        assert sorted(e["props"]["subject"] for e in events) == [f"Class {i:03d}" for i in range(EVENTS)]
        keys = [e["extended"][TAG_ID] for e in events]
        assert len(keys) == len(set(keys))


def test_serve_on_postgresql_only_enqueues_and_reports_the_queue(
    emulator: Emulator, tmp_path: Path, pg_schema_factory: Callable[[], URL]
) -> None:
    """With PostgreSQL, `calsync serve` runs no sync itself: jobs wait for workers, and its /metrics
    shows how many; /readyz checks the job queue too; SIGTERM ends it with 0."""
    url = pg_schema_factory().render_as_string(hide_password=False)
    (tmp_path / "timetable.ics").write_text(feed())
    emulator.write_config(
        tmp_path, MAILBOXES, f'ics_file = "{tmp_path / "timetable.ics"}"\ndatabase_url = "{url}"\n'
    )
    assert calsync(tmp_path, "db", "upgrade").wait(60) == 0

    async def enqueue() -> int:
        app = jobs.build_app(jobs.conninfo_from_url(url), None, pool_max_size=2)
        async with app.open_async():
            return (await jobs.enqueue(app, list(MAILBOXES), full=False)).deferred

    assert asyncio.run(enqueue()) == len(MAILBOXES)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = calsync(tmp_path, "serve", "--port", str(port))
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            except httpx.TransportError:
                assert serve.poll() is None, (tmp_path / "calsync.log").read_text()[-3000:]
                return False

        wait_for("serve to be ready", answers)
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        depth = [
            s.value
            for family in text_string_to_metric_families(scrape)
            for s in family.samples
            if s.name == "calsync_queue_depth"
        ]
        assert depth == [len(MAILBOXES)]
        assert all(emulator.managed(m) == [] for m in MAILBOXES)  # nothing synced without a worker
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(60)
    assert code == 0, (tmp_path / "calsync.log").read_text()[-3000:]
