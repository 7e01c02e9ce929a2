"""`calsync serve` as a real process on SQLite against graphemu over TLS (issue 8).

The in-process scheduler runs a round at start; `/healthz`, `/readyz` and `/metrics` answer; SIGTERM in
the middle of a run lets the chunk in flight finish, records the run as stopped, releases the leases and
exits 0; SIGKILL in the middle of a run leaves a lease that the restarted process takes over at once. After
each restart the calendars converge: every feed event exactly once, no event created twice.
No timing is asserted: waits are bounded loops on observable state (graphemu's request log, the database).
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from calsync.adapters.eventmap import TAG_ID
from tests.calsync.emulated import BIN, Emulator, calsync_env, emulator_process

pytestmark = pytest.mark.slow

GROUPS = {
    name: tuple(f"{n}-{name}@serve.example" for n in ("ada", "bob", "cy")) for name in ("m", "t", "k", "p")
}
EVERYONE = tuple(m for group in GROUPS.values() for m in group)
EVENTS = 120  # per mailbox: two chunks of writes each, so a signal can land between chunks


def feed(count: int) -> str:
    start = datetime.now(UTC).date() + timedelta(days=1)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync tests//serve//EN"]
    for i in range(count):
        day = start + timedelta(days=i % 60)
        lines += ["BEGIN:VEVENT", f"UID:s{i:03d}@serve.test", "DTSTAMP:20260101T000000Z",
                  f"DTSTART:{day:%Y%m%d}T{8 + i % 8:02d}0000Z", f"DTEND:{day:%Y%m%d}T{9 + i % 8:02d}0000Z",
                  f"SUMMARY:Session {i:03d}", "END:VEVENT"]  # fmt: skip
    return "\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def emulator(workdir: Path) -> Iterator[Emulator]:
    with emulator_process(workdir, EVERYONE) as emu:
        (workdir / "timetable.ics").write_text(feed(EVENTS))
        yield emu


def setup(emulator: Emulator, workdir: Path, group: str) -> tuple[Path, tuple[str, ...]]:
    """A folder with its own calsync.toml and database for one test's own mailboxes."""
    folder = workdir / group
    folder.mkdir()
    mailboxes = GROUPS[group]
    emulator.write_config(
        folder, mailboxes, f'ics_file = "{workdir / "timetable.ics"}"\nlease_seconds = 30\n'
    )
    emulator.control.put("/_emu/faults", json={"latency_ms": 0}).raise_for_status()
    return folder, mailboxes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    with (workdir / "serve.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [str(BIN / "calsync"), "--log-format", "json", "serve", "--port", str(port)],
            env=calsync_env(workdir),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )


def wait_for(
    what: str, check: Callable[[], bool], process: subprocess.Popen[bytes], seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert process.poll() is None or what == "exit", f"calsync serve exited while waiting for {what}"
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def converged(emulator: Emulator, mailboxes: tuple[str, ...]) -> bool:
    return all(len(emulator.managed(m)) == EVENTS for m in mailboxes)


def creates_seen(emulator: Emulator, since: int = 0) -> int:
    """Event creates graphemu answered (calsync sends them inside $batch calls of 20)."""
    log = emulator.control.get("/_emu/requests", params={"since": since}).json()["value"]
    return sum(1 for e in log if e["method"] == "POST" and e["in_batch"] and e["status"] == 201)


def last_seq(emulator: Emulator) -> int:
    log = emulator.control.get("/_emu/requests").json()["value"]
    return int(log[-1]["seq"]) if log else 0


def assert_no_duplicates(emulator: Emulator, mailboxes: tuple[str, ...]) -> None:
    for mailbox in mailboxes:
        events = emulator.managed(mailbox)
        subjects = sorted(e["props"]["subject"] for e in events)
        assert subjects == sorted(f"Session {i:03d}" for i in range(EVENTS)), mailbox
        keys = [e["extended"][TAG_ID] for e in events]
        assert len(keys) == len(set(keys)), f"{mailbox}: a key has two events"


def sql(workdir: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(workdir / "state.db") as conn:
        return list(conn.execute(query))


def test_serve_syncs_answers_probes_and_counts_in_metrics(emulator: Emulator, workdir: Path) -> None:
    workdir, mailboxes = setup(emulator, workdir, "m")
    seq = last_seq(emulator)
    port = free_port()
    process = start_serve(workdir, port)
    try:
        wait_for("the first round", lambda: converged(emulator, mailboxes), process)
        wait_for(
            "the runs recorded", lambda: len(sql(workdir, "SELECT 1 FROM runs")) >= len(mailboxes), process
        )
        health = get(port, "/healthz")
        assert health is not None
        assert health.json() == {"status": "ok"}
        ready = get(port, "/readyz")
        assert ready is not None
        assert (ready.status_code, ready.json()["status"]) == (200, "ready")
        scrape = get(port, "/metrics")
        assert scrape is not None
        assert scrape.status_code == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(scrape.text)
            for s in family.samples
        }
        assert samples[("calsync_runs_total", (("status", "ok"),))] == len(mailboxes)
        assert samples[("calsync_actions_total", (("kind", "created"),))] == len(mailboxes) * EVENTS
        batches = samples[("calsync_graph_requests_total", (("method", "$BATCH"), ("status", "200")))]
        assert batches == len(mailboxes) * -(-EVENTS // 20)  # a $batch of 20 creates at most
        assert creates_seen(emulator, seq) == len(mailboxes) * EVENTS
        assert samples[("calsync_graph_requests_total", (("method", "POST"), ("status", "201")))] == (
            len(mailboxes) * EVENTS
        )
        lags = [v for (name, labels), v in samples.items() if name == "calsync_mailbox_lag_seconds"]
        assert len(lags) == len(mailboxes)
        assert all(v >= 0 for v in lags)
        assert ("calsync_queue_depth", ()) in samples
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, (workdir / "serve.log").read_text()[-3000:]
    assert_no_duplicates(emulator, mailboxes)
    assert sql(workdir, "SELECT count(*) FROM leases") == [(0,)]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_during_a_run_loses_nothing_and_duplicates_nothing(
    emulator: Emulator, workdir: Path, how: signal.Signals
) -> None:
    workdir, mailboxes = setup(emulator, workdir, "t" if how == signal.SIGTERM else "k")
    emulator.control.put("/_emu/faults", json={"latency_ms": 150}).raise_for_status()
    seq = last_seq(emulator)
    port = free_port()
    process = start_serve(workdir, port)
    try:
        wait_for("the first writes", lambda: creates_seen(emulator, seq) >= 20, process)
        process.send_signal(how)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    if how == signal.SIGTERM:
        assert code == 0, (workdir / "serve.log").read_text()[-3000:]
        assert sql(workdir, "SELECT count(*) FROM leases") == [(0,)]  # released on the way out
        stopped = sql(workdir, "SELECT status, error_code FROM runs WHERE status != 'ok'")
        assert stopped
        assert set(stopped) == {("stopped", "ShuttingDown")}
    else:
        assert code == -signal.SIGKILL
        assert sql(workdir, "SELECT count(*) FROM leases")[0][0] > 0  # a dead process's leases stay behind
    emulator.control.put("/_emu/faults", json={"latency_ms": 0}).raise_for_status()
    again = start_serve(workdir, port)
    try:  # the restart's first round takes over the dead process's leases at once and converges
        wait_for("convergence after the restart", lambda: converged(emulator, mailboxes), again)
        assert_no_duplicates(emulator, mailboxes)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(60) == 0
    assert_no_duplicates(emulator, mailboxes)


def test_a_port_in_use_is_a_configuration_error(emulator: Emulator, workdir: Path) -> None:
    """The port is bound before anything starts: one in use exits 3 naming the keys, with no traceback."""
    folder, _ = setup(emulator, workdir, "p")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.run(
            [str(BIN / "calsync"), "serve", "--port", str(port)],
            env=calsync_env(folder),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert process.returncode == 3, process.stderr
    assert "listen_port" in process.stderr
    assert "Traceback" not in process.stderr
    assert not (folder / "state.db").exists()  # refused before the database was even opened
