"""How long reading hostile and ordinary feeds takes: the time targets the tests bound in work instead.

    PYTHONPATH=src .venv/bin/python bench/parse_bench.py [--repeat 3] [--only CASE ...] [--json]

The tests under tests/calsync/sources and tests/graphemu/test_recurrence.py assert on work (Python calls,
budget steps), never on seconds: a loaded CI machine would fail them. The seconds are measured here, on
the same inputs, against the targets of docs/reliability-targets (BI-01, BI-02, BI-04) or of the test
they came from:

| case | input | target |
| --- | --- | --- |
| corpus | every .ics file shipped with icalendar, window 1990-2030 | BI-01: < 30 s in total |
| one-mb | 1 MB feed, 2,700 timed events in Europe/Berlin | BI-02: <= 2 s |
| bomb:NAME | each recurrence bomb of test_recurrence_bombs.py, default limits | BI-04: <= 1 s per event |
| forty-bombs | 40 x FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31 under a 3 M-step document budget | 3 s |
| million-rdates | 10^6 RDATE values (17 MB) under a raised size cap | 5 s |
| hostile-tzids | a 200,000-character TZID and 2,000 distinct unknown ones | 5 s |
| graphemu-daily-1990 | graphemu: a week of 2030 of a daily series begun in 1990 | 50 ms |

Each case runs `--repeat` times after one unmeasured warm-up; printed per case: the median wall time, the
median CPU time of this process (`time.process_time`, steadier than wall time on a busy machine), the
target, all in milliseconds, and whether the median wall time met it (the exit status is 1 if one did
not). Then one JSON line (`{"bench": "parse", ...}`) with every run's figures. The header gives the
1-minute load average: on a busy machine wall times spread, and a bomb can then be stopped by the
wall-clock backstop rather than by its step budget (same verdict).
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's code, whatever the virtualenv has installed

from calsync.domain import Window  # noqa: E402
from calsync.sources import IcsOptions, load_ics, parse_ics  # noqa: E402
from graphemu.recurrence import expand  # noqa: E402

MAILBOX = "adele@contoso.onmicrosoft.com"
YEAR = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
WIDE = Window(datetime(1990, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
BOMBS = {  # the inputs of tests/calsync/sources/test_recurrence_bombs.py
    "count-1e9": ("DTSTART:20260101T090000Z", "RRULE:FREQ=DAILY;COUNT=1000000000"),
    "count-1e9-since-1900": ("DTSTART:19000101T090000Z", "RRULE:FREQ=DAILY;COUNT=1000000000"),
    "secondly": ("DTSTART:20260101T000000Z", "RRULE:FREQ=SECONDLY"),
    "secondly-since-2000": ("DTSTART:20000101T000000Z", "RRULE:FREQ=SECONDLY;COUNT=1000000000"),
    "interval-0": ("DTSTART:20260101T000000Z", "RRULE:FREQ=DAILY;INTERVAL=0"),
    "exrule-everything": ("DTSTART:20260101T000000Z", "RRULE:FREQ=SECONDLY", "EXRULE:FREQ=SECONDLY"),
    "yearly-feb-31": ("DTSTART:20260101T000000Z", "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31"),
    "daily-feb-31": ("DTSTART:20260101T000000Z", "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31"),
    "secondly-feb-31": ("DTSTART:20260101T000000Z", "RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=31"),
    "minutely-from-1601": ("DTSTART:16010101T000000Z", "RRULE:FREQ=MINUTELY"),
    "hourly-whole-window": ("DTSTART:20260101T000000Z", "RRULE:FREQ=HOURLY"),
}


def vevent(uid: str, *lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", *lines, "END:VEVENT"])


def calendar(*parts: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync bench//EN", *parts, "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def parse(data: bytes, window: Window = YEAR, options: IcsOptions | None = None) -> Callable[[], object]:
    return lambda: parse_ics(data, mailbox=MAILBOX, window=window, options=options)


def corpus() -> Callable[[], object]:
    root = Path(str(importlib.resources.files("icalendar")))
    files = [path.read_bytes() for path in sorted(root.rglob("*.ics"))]

    def run() -> None:
        for data in files:
            load_ics(data, mailbox=MAILBOX, window=WIDE)

    return run


def one_mb() -> Callable[[], object]:
    events = [
        vevent(
            f"e{i}@uni",
            f"DTSTART;TZID=Europe/Berlin:202603{i % 28 + 1:02d}T090000",
            "DURATION:PT90M",
            f"SUMMARY:Lecture {i}",
            "LOCATION:H 1.01",
            "DESCRIPTION:" + "d" * 200,
        )
        for i in range(2_700)
    ]
    return parse(calendar(*events), WIDE)


def million_rdates() -> Callable[[], object]:
    line = "RDATE:" + ",".join(f"2026{m:02d}{d:02d}T090000Z" for m in range(1, 11) for d in range(1, 29))
    lines = [line] * (1_000_000 // 280)
    event = vevent("rd", "DTSTART:20260101T090000Z", *lines)
    data = calendar(event, vevent("good", "DTSTART:20260302T090000Z"))
    return parse(data, options=IcsOptions(max_bytes=64 * 1024 * 1024))


def hostile_tzids() -> Callable[[], object]:
    long_tzid = "/".join(["a"] * 100_000)
    events = [vevent(f"e{i}", f"DTSTART;TZID=Zone{i}:20260302T090000") for i in range(2_000)]
    return parse(calendar(vevent("long", f"DTSTART;TZID={long_tzid}:20260302T090000"), *events))


def graphemu_daily_1990() -> Callable[[], object]:
    berlin = ZoneInfo("Europe/Berlin")
    daily = {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "noEnd", "startDate": "1990-01-01"},
    }
    return lambda: expand(
        daily,
        first_start=datetime(1990, 1, 1, 9, tzinfo=berlin),
        duration=timedelta(hours=1),
        tz=berlin,
        window_start=datetime(2030, 3, 4, tzinfo=UTC),
        window_end=datetime(2030, 3, 11, tzinfo=UTC),
    )


def cases() -> dict[str, tuple[Callable[[], Callable[[], object]], float]]:
    """Case name -> (a builder of the function to time, the target in seconds). Inputs are built once."""
    table: dict[str, tuple[Callable[[], Callable[[], object]], float]] = {
        "corpus": (corpus, 30.0),
        "one-mb": (one_mb, 2.0),
    }
    for name, lines in BOMBS.items():
        data = calendar(vevent("bomb", *lines), vevent("good", "DTSTART:20260302T090000Z"))
        table[f"bomb:{name}"] = (partial(parse, data), 1.0)
    forty = calendar(*[vevent(f"b{i}", *BOMBS["daily-feb-31"]) for i in range(40)])
    table["forty-bombs"] = (partial(parse, forty, options=IcsOptions(steps_per_document=3_000_000)), 3.0)
    table["million-rdates"] = (million_rdates, 5.0)
    table["hostile-tzids"] = (hostile_tzids, 5.0)
    table["graphemu-daily-1990"] = (graphemu_daily_1990, 0.05)
    return table


def measure(name: str, fn: Callable[[], object], repeat: int, target: float) -> dict[str, Any]:
    fn()  # warm-up: imports, zone caches
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    median = statistics.median(walls)
    return {"case": name, "target_s": target, "wall_s": walls, "cpu_s": cpus, "median_wall_s": median,
            "median_cpu_s": statistics.median(cpus), "met": median <= target}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (default 3)")
    parser.add_argument("--only", action="append", default=[], help="run only this case (repeatable)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    table = cases()
    unknown = [name for name in args.only if name not in table]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(table)}")
    load = os.getloadavg()[0]
    machine = f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
    if not args.json:
        print(f"{time.strftime('%Y-%m-%d')}  {machine}  load {load:.2f}  {args.repeat} runs per case")
        print(f"{'case':<28}{'wall ms':>12}{'cpu ms':>12}{'target ms':>12}  (medians)")
    results = []
    for name, (build, target) in table.items():
        if args.only and name not in args.only:
            continue
        result = measure(name, build(), args.repeat, target)
        results.append(result)
        if not args.json:
            verdict = "met" if result["met"] else "MISSED"
            wall, cpu = result["median_wall_s"] * 1000, result["median_cpu_s"] * 1000
            print(f"{name:<28}{wall:12.3f}{cpu:12.3f}{target * 1000:12.0f}  {verdict}")
    print(json.dumps({"bench": "parse", "date": time.strftime("%Y-%m-%d"), "machine": machine,
                      "load_1min": round(load, 2), "repeat": args.repeat, "results": results}))  # fmt: skip
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
