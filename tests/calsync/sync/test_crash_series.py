"""CF-02 / CF-03 with `recurrence = "series"`: `calsync sync` killed with SIGKILL while it writes series.

As test_crash.py (graphemu over TLS in its own process, a FILE source applied to three mailboxes, SQLite),
but the feed holds recurring items: weekly lectures in Europe/Berlin across the end of DST, with EXDATEs,
moved and cancelled occurrences, and each round changes some patterns, exceptions and subjects. A kill
may land between a master's POST and its exceptions, between the exceptions and its final state, or in
a chunk's intents or results (crash points `intent`, `apply`, `applied`, `record`, or after k requests
under 429/503 and lost answers). After each kill: a sound database and no double create; the rerun
converges (one master per item with the feed's subject, its pattern and exactly its cancelled
occurrences, no master left PENDING); a further run writes nothing.

Rounds: CALSYNC_CRASH_ROUNDS (default 5), seed CALSYNC_CRASH_SEED.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from calsync.adapters.eventmap import PENDING, STATE_ID, TAG_ID
from tests.calsync.emulated import Emulator, emulator_process
from tests.calsync.sync.test_crash import (
    MAILBOXES,
    ROUNDS,
    SEED,
    check_no_double_create,
    integrity,
    last_seq,
    run_and_kill,
    set_faults,
    sync_to_completion,
    writes_since,
)

pytestmark = pytest.mark.slow

ITEMS = 30
KINDS = ("intent", "apply", "applied", "record", "random")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash-series")


@pytest.fixture(scope="module")
def emulator(workdir: Path) -> Iterator[Emulator]:
    with emulator_process(workdir, MAILBOXES) as emu:
        extra = f'ics_file = "{workdir / "timetable.ics"}"\nrecurrence = "series"\n'
        emu.write_config(workdir, MAILBOXES, extra)
        yield emu


@dataclass(frozen=True)
class Lecture:
    uid: str
    subject: str
    first: date
    hour: int
    weeks: int
    exdates: frozenset[int] = frozenset()
    moved: frozenset[int] = frozenset()
    cancelled: frozenset[int] = field(default=frozenset())

    def lines(self) -> list[str]:
        def at(week: int, hour: int) -> str:
            return f"{self.first + timedelta(weeks=week):%Y%m%d}T{hour:02d}1500"

        out = [
            "BEGIN:VEVENT", f"UID:{self.uid}@crash.test", "DTSTAMP:20260101T000000Z",
            f"DTSTART;TZID=Europe/Berlin:{at(0, self.hour)}", "DURATION:PT1H30M",
            f"RRULE:FREQ=WEEKLY;COUNT={self.weeks}", f"SUMMARY:{self.subject}", "LOCATION:HS 1",
            *(f"EXDATE;TZID=Europe/Berlin:{at(w, self.hour)}" for w in self._in(self.exdates)),
            "END:VEVENT",
        ]  # fmt: skip
        for week in self._in(self.moved | self.cancelled):
            out += [
                "BEGIN:VEVENT", f"UID:{self.uid}@crash.test", "DTSTAMP:20260101T000000Z",
                f"RECURRENCE-ID;TZID=Europe/Berlin:{at(week, self.hour)}",
                f"DTSTART;TZID=Europe/Berlin:{at(week, self.hour + 1)}", "DURATION:PT1H30M",
                f"SUMMARY:{self.subject} (moved)", "LOCATION:Aula",
                *(["STATUS:CANCELLED"] if week in self.cancelled else []), "END:VEVENT",
            ]  # fmt: skip
        return out

    def _in(self, weeks: frozenset[int]) -> list[int]:
        return sorted(w for w in weeks if w < self.weeks)

    @property
    def cancelled_count(self) -> int:
        return len({w for w in (self.exdates - self.moved) | self.cancelled if w < self.weeks})


def _weeks(rng: random.Random, n: int) -> frozenset[int]:
    return frozenset(rng.sample(range(1, 12), n))


def versions(rng: random.Random, rounds: int, today: date) -> list[list[Lecture]]:
    monday = today + timedelta(days=7 - today.weekday())
    items = {
        f"c{i:02d}": Lecture(
            f"c{i:02d}",
            f"Course {i:02d}",
            monday + timedelta(days=i % 5),
            8 + (i % 5) * 2,
            12,
            _weeks(rng, i % 3),
            _weeks(rng, i % 2),
            frozenset(),
        )
        for i in range(ITEMS)
    }
    out = [sorted(items.values(), key=lambda x: x.uid)]
    for version in range(1, rounds):
        for uid in sorted(items):
            roll, item = rng.random(), items[uid]
            if roll < 0.1:
                items[uid] = replace(item, subject=f"{item.subject.split(' v')[0]} v{version}")
            elif roll < 0.2:
                items[uid] = replace(item, exdates=item.exdates ^ _weeks(rng, 1))
            elif roll < 0.3:
                items[uid] = replace(item, cancelled=(item.cancelled ^ _weeks(rng, 1)) - item.moved)
            elif roll < 0.35:
                items[uid] = replace(item, weeks=rng.randint(6, 14))
            elif roll < 0.4:
                del items[uid]
        out.append(sorted(items.values(), key=lambda x: x.uid))
    return out


def ics(items: list[Lecture]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync tests//crash-series//EN"]
    for item in items:
        lines += item.lines()
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def check_series(control: httpx.Client, items: list[Lecture]) -> None:
    """One master per item, its subject, exactly its cancelled occurrences, none left PENDING."""
    wanted = {f"ics:{i.uid}@crash.test/series": i for i in items}
    for mailbox in MAILBOXES:
        events = control.get(f"/_emu/events/{mailbox}").json()["value"]
        masters = {e["extended"][TAG_ID]: e for e in events if (e.get("extended") or {}).get(TAG_ID)}
        assert len(masters) == len([e for e in events if (e.get("extended") or {}).get(TAG_ID)])
        assert sorted(masters) == sorted(wanted), mailbox
        for key, master in masters.items():
            item = wanted[key]
            assert master["props"]["subject"] == item.subject, (mailbox, key)
            assert master["props"]["recurrence"]["range"]["type"] == "endDate", (mailbox, key)
            assert not master["extended"][STATE_ID].startswith(PENDING), (mailbox, key)
            assert len(master["cancelled"]) == item.cancelled_count, (mailbox, key, master["cancelled"])


def kill_plan(rng: random.Random, round_no: int) -> tuple[str, str | None, int]:
    kind = KINDS[round_no % len(KINDS)]
    if kind in ("intent", "record"):
        n = rng.randint(1, 60 if round_no == 0 else 10)
        return f"{kind}:{n}", f"{kind}:{n}", 0
    if kind in ("apply", "applied"):
        return f"{kind}:1", f"{kind}:1", 0
    k = rng.randint(1, 20)
    return f"random after {k} requests", None, k


def test_sigkill_while_writing_series_then_rerun(emulator: Emulator, workdir: Path) -> None:
    rng = random.Random(SEED)
    database = workdir / "state.db"
    killed = 0
    for round_no, items in enumerate(versions(rng, ROUNDS, datetime.now(UTC).date())):
        (workdir / "timetable.ics").write_text(ics(items))
        how, crash_at, k = kill_plan(rng, round_no)
        if crash_at is None:
            set_faults(emulator.control, seed=round_no, rate=0.1, statuses=[429, 503], retry_after=0.05)
            set_faults(emulator.control, commit_then_drop_rate=0.1, commit_then_drop_mode="reset", keep=True)
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
        reports = sync_to_completion(workdir)
        assert {r["mailbox"]: r["status"] for r in reports} == dict.fromkeys(MAILBOXES, "ok"), context
        check_series(emulator.control, items)
        seq = last_seq(emulator.control)
        again = sync_to_completion(workdir)
        assert all(r["created"] == r["updated"] == r["deleted"] == 0 for r in again), (context, again)
        assert writes_since(emulator.control, seq) == [], context
    assert killed >= ROUNDS * 3 // 5, f"only {killed} of {ROUNDS} runs were killed"
