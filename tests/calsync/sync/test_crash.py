"""CF-02 / CF-03: `calsync sync` killed with SIGKILL, as a real process against graphemu in its own process.

Setup (once per module): `graphemu serve` over TLS on a free port, seeded with a tenant of three
mailboxes and an app whose certificate calsync signs in with; a calsync.toml pointing at it, an iCalendar
FILE source (about 200 events, some all-day, in Europe/Berlin, applied to each of the three mailboxes)
and a SQLite database (WAL).

Each round changes the feed (new subjects, moved, removed and added events: the first round creates
everything), then runs `calsync sync` and kills it with SIGKILL; round r uses KINDS[r % 5], with its
parameter drawn from the campaign's seeded RNG:
- a named crash point (calsync.sync.crashpoints, CALSYNC_CRASH_AT="<point>:<n>", the process kills
  itself at the n-th hit): just after a chunk's intents (creates, tombstones) are committed (`intent`),
  before a chunk of writes is sent (`apply`), after the answers of the chunk's `$batch` calls arrived but
  before any is committed (`applied`), after a chunk's results are committed, before the next chunk
  (`record`);
- `random` (CF-03): the test kills the process as soon as graphemu has seen k of its requests, wherever
  it is then (a `$batch` in flight, a commit, the next listing), while graphemu injects 10% 429/503
  and loses 10% of the answers to applied writes (commit-then-drop, CF-01).
Then, before anything else runs: `PRAGMA integrity_check` is ok and calsync has no two live events of
its own (transactionId) for one key ("no event created twice"). The sync is rerun at once (the dead
process's leases must not block it) to completion (exit 0), and graphemu's control API must show, per
mailbox, exactly one managed event per feed event with the feed's subject, and none other; a further
sync sends no write.

Rounds: CALSYNC_CRASH_ROUNDS (default 5: about 25 s with the second test; nightly: 200); the campaign's
seed: CALSYNC_CRASH_SEED.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.adapters.eventmap import TAG_ID
from tests.calsync.emulated import Emulator, emulator_process

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
DOMAIN = "uni.example"
MAILBOXES = tuple(f"{name}@{DOMAIN}" for name in ("ada", "bob", "cy"))
EVENTS = 200
ROUNDS = int(os.environ.get("CALSYNC_CRASH_ROUNDS", "5"))
SEED = int(os.environ.get("CALSYNC_CRASH_SEED", "20260901"))
RUN_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="module")
def emulator(workdir: Path) -> Iterator[Emulator]:
    with emulator_process(workdir, MAILBOXES) as emu:
        emu.write_config(workdir, MAILBOXES, f'ics_file = "{workdir / "timetable.ics"}"\n')
        yield emu


# -- the feed --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    uid: str
    subject: str
    day: date
    hour: int  # None-like -1: all day
    location: str


def feed_versions(rng: random.Random, rounds: int, today: date) -> list[list[Item]]:
    """Version 0: EVENTS items (every 20th all-day); each later version edits, moves, drops and adds."""
    items = {
        f"u{i:03d}": Item(
            f"u{i:03d}",
            f"Lecture {i:03d}",
            today + timedelta(days=1 + i % 90),
            -1 if i % 20 == 0 else 8 + (i % 5) * 2,
            f"HS {i % 7}",
        )
        for i in range(EVENTS)
    }
    versions = [sorted(items.values(), key=lambda x: x.uid)]
    next_uid = EVENTS
    for version in range(1, rounds):
        for uid in sorted(items):
            roll = rng.random()
            item = items[uid]
            if roll < 0.08:
                items[uid] = Item(
                    uid, f"{item.subject.split(' v')[0]} v{version}", item.day, item.hour, item.location
                )
            elif roll < 0.12:
                items[uid] = Item(uid, item.subject, item.day + timedelta(days=1), item.hour, item.location)
            elif roll < 0.15:
                items[uid] = Item(uid, item.subject, item.day, item.hour, "Aula")
            elif roll < 0.19:
                del items[uid]
        for _ in range(8):
            uid = f"u{next_uid:03d}"
            items[uid] = Item(
                uid, f"Lecture {next_uid:03d}", today + timedelta(days=rng.randint(1, 90)), 14, "HS 9"
            )
            next_uid += 1
        versions.append(sorted(items.values(), key=lambda x: x.uid))
    return versions


def ics(items: list[Item]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync tests//crash//EN"]
    for item in items:
        day = item.day.strftime("%Y%m%d")
        if item.hour < 0:
            when = [f"DTSTART;VALUE=DATE:{day}", f"DTEND;VALUE=DATE:{(item.day + timedelta(days=1)):%Y%m%d}"]
        else:
            when = [
                f"DTSTART;TZID=Europe/Berlin:{day}T{item.hour:02d}0000",
                f"DTEND;TZID=Europe/Berlin:{day}T{item.hour + 1:02d}3000",
            ]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{item.uid}@crash.test",
            "DTSTAMP:20260101T000000Z",
            *when,
            f"SUMMARY:{item.subject}",
            f"LOCATION:{item.location}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


# -- running calsync -------------------------------------------------------------------------------


def calsync(workdir: Path, *args: str, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env["CALSYNC_CONFIG"] = str(workdir / "calsync.toml")
    if crash_at is not None:
        env["CALSYNC_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [str(BIN / "calsync"), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir
    )


def sync_to_completion(workdir: Path) -> list[dict[str, Any]]:
    process = calsync(workdir, "sync", "--json")
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 0, (process.returncode, out.decode(), err.decode())
    return list(json.loads(out))


def last_seq(control: httpx.Client) -> int:
    log = control.get("/_emu/requests").json()["value"]
    return int(log[-1]["seq"]) if log else 0


def writes_since(control: httpx.Client, seq: int) -> list[dict[str, Any]]:
    log = control.get("/_emu/requests", params={"since": seq}).json()["value"]
    return [e for e in log if e["method"] in ("POST", "PATCH", "DELETE") or "$batch" in e["path"]]


def managed(control: httpx.Client, mailbox: str) -> list[dict[str, Any]]:
    events = control.get(f"/_emu/events/{mailbox}").json()["value"]
    return [e for e in events if (e.get("extended") or {}).get(TAG_ID)]


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def sqlite_rows(database: Path, query: str) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute(query).fetchone()[0])


def check_no_double_create(control: httpx.Client) -> None:
    for mailbox in MAILBOXES:
        made: dict[str, list[str]] = {}
        for event in managed(control, mailbox):
            if event["transactionId"]:
                made.setdefault(event["extended"][TAG_ID], []).append(event["id"])
        twice = {k: v for k, v in made.items() if len(v) > 1}
        assert not twice, f"calsync created events twice in {mailbox}: {twice}"


def check_calendars(control: httpx.Client, items: list[Item]) -> None:
    """Exactly one managed event per feed item (the feed's subject), nothing else, in every mailbox."""
    expected = sorted(item.subject for item in items)
    for mailbox in MAILBOXES:
        events = managed(control, mailbox)
        keys = [e["extended"][TAG_ID] for e in events]
        assert len(keys) == len(set(keys)), f"{mailbox}: a key has two events"
        assert sorted(e["props"]["subject"] for e in events) == expected, mailbox


# -- the campaign ----------------------------------------------------------------------------------

# Round r kills at KINDS[r % 5]. The first round creates 600 events (6 chunks of up to 100 writes);
# later rounds write about 40 events per mailbox (one chunk each).
KINDS = ("intent", "apply", "applied", "record", "random")


def kill_plan(rng: random.Random, round_no: int) -> tuple[str, str | None, int]:
    """(what, CALSYNC_CRASH_AT or None, k): a crash point and its n, or "random": kill once graphemu has
    seen k requests of the run (wherever the process is then: a $batch in flight, a commit...)."""
    kind = KINDS[round_no % len(KINDS)]
    first = round_no == 0
    if kind in ("intent", "record"):
        n = rng.randint(1, 500 if first else 100)
        return f"{kind}:{n}", f"{kind}:{n}", 0
    if kind in ("apply", "applied"):
        n = rng.randint(1, 6 if first else 3)
        return f"{kind}:{n}", f"{kind}:{n}", 0
    k = rng.randint(1, 30)
    return f"random after {k} requests", None, k


def run_and_kill(emulator: Emulator, workdir: Path, crash_at: str | None, k: int) -> subprocess.Popen[bytes]:
    """Start `calsync sync`; it kills itself at its crash point, or is killed after k Graph requests."""
    seq = last_seq(emulator.control)
    process = calsync(workdir, "sync", "--json", crash_at=crash_at)
    if crash_at is None:
        deadline = time.monotonic() + RUN_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            seen = emulator.control.get("/_emu/requests", params={"since": seq}).json()["value"]
            if len(seen) >= k:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    process.communicate(timeout=RUN_TIMEOUT)
    return process


def set_faults(control: httpx.Client, *, keep: bool = False, **faults: Any) -> None:
    """Set graphemu's faults: these on top of none (or, with keep, on top of the current ones)."""
    base = {} if keep else {"rate": 0.0, "commit_then_drop_rate": 0.0, "transient_412_rate": 0.0}
    control.put("/_emu/faults", json={**base, **faults}).raise_for_status()


def test_sigkill_at_crash_points_and_random_times_then_rerun(emulator: Emulator, workdir: Path) -> None:
    """CF-02/CF-03: every round's killed run leaves a sound database and no double create; the rerun
    converges to exactly the feed; a further run writes nothing."""
    rng = random.Random(SEED)
    versions = feed_versions(rng, ROUNDS, datetime.now(UTC).date())
    database = workdir / "state.db"
    killed = 0
    for round_no, items in enumerate(versions):
        (workdir / "timetable.ics").write_text(ics(items))
        how, crash_at, k = kill_plan(rng, round_no)
        if crash_at is None:  # random kills also meet transient errors and lost answers (CF-01)
            mode = rng.choice(["reset", "503"])
            set_faults(emulator.control, seed=round_no, rate=0.1, statuses=[429, 503], retry_after=0.05)
            set_faults(emulator.control, commit_then_drop_rate=0.1, commit_then_drop_mode=mode, keep=True)
        try:
            process = run_and_kill(emulator, workdir, crash_at, k)
        finally:
            set_faults(emulator.control)
        context = (round_no, how, process.returncode, process.stderr)
        assert process.returncode in (0, -signal.SIGKILL), context
        killed += process.returncode == -signal.SIGKILL
        if database.exists():
            assert integrity(database) == "ok", context
        check_no_double_create(emulator.control)

        reports = sync_to_completion(workdir)  # at once: the dead process's leases must not block it
        assert {r["mailbox"]: r["status"] for r in reports} == dict.fromkeys(MAILBOXES, "ok"), context
        check_calendars(emulator.control, items)
        assert integrity(database) == "ok"
        seq = last_seq(emulator.control)
        again = sync_to_completion(workdir)
        assert all(r["created"] == r["updated"] == r["deleted"] == 0 for r in again), (context, again)
        assert writes_since(emulator.control, seq) == [], context
    assert killed >= ROUNDS * 3 // 5, f"only {killed} of {ROUNDS} runs were killed"


def test_rerun_right_after_a_kill_is_not_blocked(emulator: Emulator, workdir: Path) -> None:
    """A run killed while it holds the leases (CF-02: no mailbox stuck "in progress" for the lease time):
    the very next run syncs every mailbox."""
    items = feed_versions(random.Random(SEED + 1), 1, datetime.now(UTC).date())[0]
    (workdir / "timetable.ics").write_text(ics(items))
    process = run_and_kill(emulator, workdir, "apply:1", 0)
    assert process.returncode == -signal.SIGKILL
    assert sqlite_rows(workdir / "state.db", "SELECT count(*) FROM leases") > 0  # it died holding them
    reports = sync_to_completion(workdir)
    assert {r["mailbox"]: r["status"] for r in reports} == dict.fromkeys(MAILBOXES, "ok")
    check_calendars(emulator.control, items)
