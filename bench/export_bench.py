"""Memory and time of reading a CSV export of 1,000 / 10,000 / 40,000 mailboxes x 100 events, as a run does.

    PYTHONPATH=src .venv/bin/python bench/export_bench.py [--mailboxes 1000 10000 40000] [--events 100]

Issue 10 asks that a 40,000-person export works and that peak memory is flat between 1,000 and 40,000
mailboxes. For each size this script writes an export grouped by mailbox (as exporters write them; the
40,000 x 100 file is about 430 MB) to a temporary directory, deleted afterwards, and measures in a fresh
child process per size (so that peak RSS belongs to that size alone):

- **index**: `Sources(csv_file=...).table_mailboxes(window)`, the first thing a run does: indexing the
  file from disk (`CsvIndex.from_file`) and finding the mailboxes with events in the window; seconds,
  and peak RSS afterwards;
- **events**: every mailbox's snapshot, one after the other through the run's loader (as the runner
  takes them: each mailbox's events parsed from disk, handed over, dropped), with the number of events;
  seconds, and peak RSS at the end;
- under tracemalloc (which slows Python about five times, so on a part of the work): the peak Python
  heap while `CsvIndex.from_file` indexes the whole file, the heap the index keeps, and the peak while
  producing the events of 1,000 mailboxes spread over the file, one by one through a run's loader. That
  nothing piles up over every mailbox is shown by the RSS peak of the untraced run.

RSS includes the interpreter and the imported packages (the `baseline` column: RSS after the imports).
Printed: one line per size, then one JSON line (`{"bench": "export", ...}`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's code, whatever the virtualenv has installed

HEADER = "mailbox,source_id,subject,start,end,time_zone,location,description\n"


def write_export(path: Path, mailboxes: int, events: int) -> int:
    """An export grouped by mailbox: `events` weekly-spread lectures per mailbox in 2026."""
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write(HEADER)
        for m in range(mailboxes):
            rows = []
            for r in range(events):
                day = f"2026-{3 + r // 28 % 9:02d}-{1 + r % 28:02d}"
                rows.append(
                    f"student{m:06d}@uni.example,L-{r:04d},Lecture {r % 40},{day}T09:00,{day}T10:30,"
                    f"Europe/Berlin,Room {r % 50},Bring sheet {r}\n"
                )
            file.write("".join(rows))
    return path.stat().st_size


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(path: Path) -> dict[str, Any]:
    """In the child: index, then every mailbox's events; then both again under tracemalloc."""
    from calsync.domain import Window
    from calsync.services.sourcing import SourceCache, Sources
    from calsync.settings import Settings

    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    settings = Settings(csv_file=path)
    baseline = _rss_mib()

    def run() -> tuple[float, float, list[str], int]:
        sources = Sources(settings, cache=SourceCache())
        start = time.perf_counter()
        mailboxes = sources.table_mailboxes(window)
        indexed = time.perf_counter() - start
        loader = sources.loader()

        async def every() -> int:
            count = 0
            for mailbox in mailboxes:
                count += len((await loader(mailbox, window)).events)
            return count

        start = time.perf_counter()
        events = asyncio.run(every())
        return indexed, time.perf_counter() - start, mailboxes, events

    index_s, events_s, names, events = run()
    rss_peak = _rss_mib()  # ru_maxrss is the process's peak: indexing's and the events' together
    from calsync.sources import CsvIndex

    tracemalloc.start()
    index = CsvIndex.from_file(path)
    kept, index_peak = tracemalloc.get_traced_memory()
    del index
    tracemalloc.stop()
    loader = Sources(settings, cache=SourceCache()).loader()
    asyncio.run(loader(names[0], window))  # indexed before tracing: only producing events is traced

    async def sample() -> None:
        for mailbox in names[:: max(1, len(names) // 1000)]:
            await loader(mailbox, window)

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    asyncio.run(sample())
    events_peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return {
        "mailboxes": len(names),
        "events": events,
        "file_mib": round(path.stat().st_size / 2**20, 1),
        "index_s": round(index_s, 2),
        "events_s": round(events_s, 2),
        "rss_baseline_mib": round(baseline, 1),
        "rss_peak_mib": round(rss_peak, 1),
        "heap_index_kept_mib": round(kept / 2**20, 2),
        "heap_peak_indexing_mib": round(index_peak / 2**20, 2),
        "heap_peak_events_mib": round(events_peak / 2**20, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mailboxes", type=int, nargs="+", default=[1_000, 10_000, 40_000])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="calsync-export-bench-") as folder:
        for count in args.mailboxes:
            path = Path(folder) / f"export-{count}.csv"
            write_export(path, count, args.events)
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            )
            path.unlink()
            result = json.loads(child.stdout.strip().splitlines()[-1])
            results.append(result)
            if not args.json:
                r = result
                print(
                    f"{r['mailboxes']:>6} mailboxes, {r['events']:>9,} events, {r['file_mib']:>6} MiB: "
                    f"index {r['index_s']:>6} s, events {r['events_s']:>7} s; "
                    f"RSS {r['rss_baseline_mib']} -> {r['rss_peak_mib']} MiB; heap kept "
                    f"{r['heap_index_kept_mib']} MiB, peak indexing {r['heap_peak_indexing_mib']} MiB, "
                    f"peak producing events {r['heap_peak_events_mib']} MiB",
                    flush=True,
                )
    print(
        json.dumps(
            {
                "bench": "export",
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load1": round(os.getloadavg()[0], 2),
                "events_per_mailbox": args.events,
                "results": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
