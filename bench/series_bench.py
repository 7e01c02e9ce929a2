"""Series vs occurrences (issue 12): the demo's semester timetable synced with `recurrence = "series"` and
with `recurrence = "occurrences"`, write requests per source occurrence and sync times.

    .venv/bin/python bench/series_bench.py [--students 50] [--latency-ms 30] [--json]

Setup (not measured), per mode, as bench/sync_bench.py does (its helpers are reused): a certificate, a
graphemu seed with the students' mailboxes, `graphemu serve --latency-ms L` over TLS in its own process,
and one iCalendar feed per student from calsync.demo.timetable (weekly lectures and tutorials in
Europe/Berlin over a term that spans a change of daylight-saving time, EXDATEs for a teaching-free week,
and, after `change_term`, a room change from mid-term on, a cancelled session and a moved one), served by
Python's HTTP server in its own process. Each mode gets its own graphemu and state database.

Phases, each the code of `calsync sync --json` (sync_bench.sync_once):
1. initial: empty calendars; every series (or occurrence) is written;
2. no-op: nothing changed; the feeds answer 304 and no mailbox is read;
3. replan: the feeds are touched (new Last-Modified), so each is downloaded, parsed and planned again,
   and the calendars listed; nothing changed, so nothing may be written.

Reported per mode and phase: wall time, client CPU, HTTP requests, and graphemu's write requests
(POST/PATCH/DELETE, `$batch` items counted one each), per source occurrence (the occurrences in the
window that `recurrence = "occurrences"` would write). Target (issue 12): at most 0.02 writes per source
occurrence for the initial sync in series mode.

Prints a table, then one JSON line (`{"bench": "series", ...}`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync_bench as sb

from calsync.certs import create_certificate
from calsync.demo import timetable
from calsync.domain import Window
from calsync.settings import Settings
from calsync.sources.ics import load_ics
from calsync.sources.ics_document import IcsOptions

WRITES = ("POST", "PATCH", "DELETE")


def write_feeds(directory: Path, students: int) -> tuple[int, int, int]:
    """The timetable's feeds; returns (source occurrences in the window, series, fallbacks)."""
    directory.mkdir()
    upns = [sb.upn(n) for n in range(students)]
    tt = timetable.build(upns, term_start=timetable.term_start_for(dt.date.today()))
    timetable.change_term(tt)
    window = Window.around(dt.datetime.now(dt.UTC))
    occurrences = series = fallbacks = 0
    for upn in upns:
        data = timetable.feed(tt, upn)
        (directory / f"{upn}.ics").write_bytes(data)
        occurrences += len(load_ics(data, mailbox=upn, window=window).events)
        loaded = load_ics(data, mailbox=upn, window=window, options=IcsOptions(recurrence="series"))
        series += sum(1 for e in loaded.events if e.series is not None)
        fallbacks += sum(1 for p in loaded.problems if p.code == "ICS_SERIES_AS_OCCURRENCES")
    return occurrences, series, fallbacks


def phase(settings: Settings, info: Any, occurrences: int) -> dict[str, Any]:
    asyncio.run(sb.emu(info, "DELETE", "/_emu/requests"))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcomes, sent, tokens = asyncio.run(sb.sync_once(settings, {"source_seconds": 0.0}))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    log = asyncio.run(sb.emu(info, "GET", "/_emu/requests", params={"since": 0}))["value"]
    writes = sum(1 for e in log if e["method"] in WRITES and e["path"] != "$batch")
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.report.status] = statuses.get(o.report.status, 0) + 1
    return {
        "wall_seconds": round(wall, 2),
        "client_cpu_seconds": round(cpu, 2),
        "http_requests": sent + tokens,
        "writes": writes,
        "writes_per_occurrence": round(writes / occurrences, 4) if occurrences else None,
        "statuses": statuses,
    }


def run_mode(work: Path, mode: str, args: argparse.Namespace, cert: Any, feed_port: int) -> dict[str, Any]:
    work.mkdir()
    bench_args = argparse.Namespace(mailboxes=args.students, latency_ms=args.latency_ms)
    server, info = sb.start_server(work, bench_args, cert.certificate.read_text())
    try:
        settings = Settings(
            tenant_id=sb.TENANT,
            client_id=sb.CLIENT,
            certificate_file=cert.certificate,
            private_key_file=cert.private_key,
            authority_host=info["login"],
            graph_url=info["graph"],
            ca_file=Path(info["ca"]),
            database_url=f"sqlite:///{work / 'calsync.db'}",
            mailboxes=[sb.upn(n) for n in range(args.students)],
            ics_url_template=f"http://127.0.0.1:{feed_port}/{{upn}}.ics",
            allow_http_feeds=True,
            allow_private_feeds=True,
            recurrence=mode,
        )
        result = {"initial": phase(settings, info, args.occurrences)}
        result["noop"] = phase(settings, info, args.occurrences)
        later = time.time() + 60
        for feed in args.feeds.iterdir():
            os.utime(feed, (later, later))  # a new Last-Modified: downloaded, parsed and planned again
        result["replan"] = phase(settings, info, args.occurrences)
        return result
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="series-bench-") as tmp:
        work = Path(tmp)
        cert = create_certificate(work / "cert", name="bench")
        args.feeds = work / "feeds"
        args.occurrences, series, fallbacks = write_feeds(args.feeds, args.students)
        feeds, port = sb.start_feed_server(args.feeds)
        try:
            modes = {
                mode: run_mode(work / mode, mode, args, cert, port) for mode in ("occurrences", "series")
            }
        finally:
            feeds.terminate()
            feeds.wait(30)
    result = {
        "bench": "series",
        "date": dt.date.today().isoformat(),
        "students": args.students,
        "latency_ms": args.latency_ms,
        "source_occurrences": args.occurrences,
        "source_series": series,
        "series_fallbacks": fallbacks,
        **modes,
    }
    per_occurrence = modes["series"]["initial"]["writes_per_occurrence"] or 0
    result["targets"] = {"series_initial_writes_per_occurrence_le_0.02": per_occurrence <= 0.02}
    if not args.json:
        print(
            f"{args.students} mailboxes, {args.occurrences} source occurrences in the window, "
            f"{series} series ({fallbacks} synced as occurrences), latency {args.latency_ms} ms"
        )
        print(f"{'mode':<12} {'phase':<8} {'wall s':>7} {'cpu s':>6} {'http':>6} {'writes':>7} {'w/occ':>7}")
        for mode, phases in modes.items():
            for name, r in phases.items():
                figures = (r["wall_seconds"], r["client_cpu_seconds"], r["http_requests"], r["writes"])
                row = "".join(f"{v!s:>{w}}" for v, w in zip(figures, (8, 7, 7, 8), strict=True))
                print(f"{mode:<12} {name:<8}{row} {r['writes_per_occurrence']!s:>7}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
