"""How `calsync sync` does end to end (issue 4, "Speed and memory"): N mailboxes x E events, then a no-op.

    .venv/bin/python bench/sync_bench.py --mailboxes 100 --events 100 [--latency-ms 30] [--parallelism P]
                                         [--source csv|ics] [--tracemalloc] [--profile FILE] [--json]

Setup (not measured): a temporary directory with a certificate made by `calsync.certs.create_certificate`,
a graphemu seed (one tenant, an app that signs in with that certificate, N users), and one CSV export with
N x E timetable rows (each mailbox gets E events over the next weeks, Europe/Berlin wall times, a
location); with `--source ics` instead one iCalendar feed per mailbox (the same lessons, TZID
Europe/Berlin with its VTIMEZONE), served by Python's threading HTTP server in its own process and read
through `ics_url_template` (plain http on loopback, so `allow_http_feeds` and `allow_private_feeds` are on;
the server answers If-Modified-Since with 304, so the no-op phase skips Graph altogether).
`graphemu serve --latency-ms L` runs in its own process over TLS (HTTP/1.1 keep-alive); the client signs
in with msal and the certificate, trusting graphemu's CA.

Then two phases run in this process, each the code of `calsync sync --json` itself
(calsync.services.sync_mailboxes: the store opened with migrations, one Graph client, the source loader,
the mailboxes resolved, every mailbox under its lease, no progress bars) on settings
built programmatically (no calsync.toml, no CALSYNC_* variables; see sync_once for the three seams):

1. initial sync: an empty calendar per mailbox and an empty SQLite state database; every event created;
2. no-op resync: a fresh client, token and source parse, nothing changed; must send zero writes.

Reported per phase:
- wall time (from opening the store to the last mailbox's report);
- HTTP requests: the client's HTTP exchanges (`GraphClient.requests_sent`, a `$batch` counts once; it
  does not include token requests) and, separately, token endpoint round trips (msal, not cache hits);
  per event = (both) / (N x E);
- client CPU per event (`time.process_time` of this process, which runs only the client: it includes
  parsing the CSV source, planning, the SQLite state store, TLS and JSON);
- graphemu's busy time: the server process's CPU (utime + stime from /proc/<pid>/stat) during the phase;
- the floor: the larger of graphemu's busy time and the per-mailbox concurrency bound E / 4 x latency
  (Outlook runs at most 4 requests per mailbox at once and each costs the latency; mailboxes are
  independent, so the bound is per mailbox, not N x E / 4 x latency), and wall / floor;
- graphemu's counters (requests it processed, `$batch` items counted one each; Retry-After violations;
  429s; max in flight per mailbox) and, for the no-op, its request log: writes (POST/PATCH/PUT/DELETE,
  batch items included) and reads per mailbox;
- memory: the phase's peak RSS (VmHWM, reset through /proc/self/clear_refs at the phase start) and its
  growth over the RSS at the phase start; ru_maxrss of the whole process; with --tracemalloc, the Python
  heap's peak during the phase, what is still held when the run returns (the outcomes: a report and the
  plan of every mailbox, as `calsync sync` keeps them for its summary) and how much of that is the plans
  (tracemalloc slows Python down, so its wall and CPU figures are inflated: use it in a separate run).
  A CSV source is held for the run as its text plus an index (`calsync.sources.CsvIndex`, ~18 bytes per
  row), measured separately as `source_mib` (tracemalloc of building the index); each mailbox's rows are
  parsed in its turn. Memory does not grow with mailboxes when peak growth stays flat from 100 to 1,000
  mailboxes apart from that index.

Targets (issue 4): the no-op sends zero writes and at most one read per mailbox per page of changes; the
initial sync sends at most 0.08 HTTP requests per event and finishes within 2x of the floor; peak memory
does not grow with the number of mailboxes.

Prints a table, then one JSON line (`{"bench": "sync", ...}`) with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import json
import math
import os
import platform
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from calsync import services
from calsync.certs import create_certificate
from calsync.services import MailboxOutcome, sourcing
from calsync.settings import Settings
from calsync.sources import CsvIndex

ROOT = Path(__file__).resolve().parent.parent
TENANT = "5c1d0e2f-0000-4000-8000-0000000b5c0c"
CLIENT = "6d2e1f30-1111-4222-8333-444444445555"
DOMAIN = "bench.test"
ZONE = "Europe/Berlin"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CSV_MAX_BYTES = 10 * 1024 * 1024  # calsync's TabularOptions.max_bytes default (the CLI path uses it)


def upn(n: int) -> str:
    return f"u{n:04d}@{DOMAIN}"


def seed(mailboxes: int, certificate_pem: str) -> dict[str, Any]:
    """A tenant with `mailboxes` users and one app that signs in with the benchmark's certificate."""
    return {
        "tenants": [{"id": TENANT, "domain": DOMAIN, "displayName": "Bench"}],
        "users": [{"userPrincipalName": upn(n), "displayName": f"Student {n}"} for n in range(mailboxes)],
        "apps": [
            {
                "clientId": CLIENT,
                "displayName": "calsync sync bench",
                "certificates": [{"pem": certificate_pem}],
                "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"],
            }
        ],
    }


def write_csv(path: Path, mailboxes: int, events: int) -> int:
    """N x E rows: four 45-minute lessons a day from tomorrow on, in Berlin wall time. Returns the size."""
    first = dt.date.today() + dt.timedelta(days=1)
    lines = ["mailbox,source_id,subject,start,end,time_zone,location"]
    for e in range(events):
        day, slot = divmod(e, 4)
        begin = dt.datetime.combine(first + dt.timedelta(days=day), dt.time(8 + 2 * slot))
        start = begin.isoformat(timespec="minutes")
        end = (begin + dt.timedelta(minutes=45)).isoformat(timespec="minutes")
        lines.append(f"{{}},l{e},Lesson {e},{start},{end},{ZONE},Room {{}}")
    rows = [lines[0]]
    for m in range(mailboxes):
        who = upn(m)
        rows.extend(line.format(who, 100 + (e + m) % 40) for e, line in enumerate(lines[1:]))
    text = "\n".join(rows) + "\n"
    path.write_text(text, encoding="utf-8")
    size = len(text.encode())
    if size > CSV_MAX_BYTES:
        raise SystemExit(f"the CSV is {size} bytes, over calsync's {CSV_MAX_BYTES}-byte limit for one file")
    return size


VTIMEZONE = "\r\n".join([
    "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
    "BEGIN:DAYLIGHT", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "DTSTART:19700329T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT",
    "BEGIN:STANDARD", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "DTSTART:19701025T030000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
    "END:VTIMEZONE",
])  # fmt: skip


def write_feeds(directory: Path, mailboxes: int, events: int) -> int:
    """One iCalendar feed per mailbox (`<upn>.ics`), the same lessons as the CSV. Returns the bytes."""
    directory.mkdir()
    first = dt.date.today() + dt.timedelta(days=1)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    total = 0
    for m in range(mailboxes):
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync//sync bench//EN", VTIMEZONE]
        for e in range(events):
            day, slot = divmod(e, 4)
            begin = dt.datetime.combine(first + dt.timedelta(days=day), dt.time(8 + 2 * slot))
            end = begin + dt.timedelta(minutes=45)
            lines += ["BEGIN:VEVENT", f"UID:l{e}@bench.test", f"DTSTAMP:{stamp}",
                      f"DTSTART;TZID={ZONE}:{begin:%Y%m%dT%H%M%S}", f"DTEND;TZID={ZONE}:{end:%Y%m%dT%H%M%S}",
                      f"SUMMARY:Lesson {e}", f"LOCATION:Room {100 + (e + m) % 40}", "END:VEVENT"]  # fmt: skip
        data = ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode()
        (directory / f"{upn(m)}.ics").write_bytes(data)
        total += len(data)
    return total


FEED_SERVER = """
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # http.server's default backlog of 5 drops concurrent connects (1 s SYN retry)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
handler.log_message = lambda *args: None
Server(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


def start_feed_server(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Python's threading HTTP server (with ETag-less Last-Modified/304) on a free loopback port, serving
    the feeds from its own process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-c", FEED_SERVER, str(port), str(directory)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise SystemExit("the feed server did not start") from None
            time.sleep(0.05)


def start_server(workdir: Path, args: argparse.Namespace, pem: str) -> tuple[subprocess.Popen[bytes], Any]:
    """`graphemu serve` in a subprocess over TLS; returns it and the ready-file contents."""
    seed_file, ready = workdir / "seed.json", workdir / "ready.json"
    seed_file.write_text(json.dumps(seed(args.mailboxes, pem)))
    command = [sys.executable, "-m", "graphemu", "serve", "--port", "0", "--seed", str(seed_file),
               "--ready-file", str(ready), "--latency-ms", str(args.latency_ms),
               "--tls-dir", str(workdir / "tls")]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ready.exists() or not ready.read_text().strip():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("graphemu serve did not become ready")
        time.sleep(0.05)
    return server, json.loads(ready.read_text())


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (psutil is not a dependency)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(name: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def source_mib(csv_file: Path) -> float:
    """What a run holds of the CSV source for its whole length: the text and the per-mailbox index."""
    gc.collect()
    tracemalloc.start()
    result = CsvIndex(csv_file.read_bytes())
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return size / 2**20


@contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


async def sync_once(settings: Settings, timing: dict[str, float]) -> tuple[list[MailboxOutcome], int, int]:
    """Run `calsync sync --json`'s own code (calsync.services.sync_mailboxes, no progress bars) on these
    settings, with each source load timed (the source's share of the client time)."""
    real_loader = sourcing.Sources.loader

    def loader(self: Any, **kwargs: Any) -> Any:
        load = real_loader(self, **kwargs)

        async def timed(mailbox: str, window: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await load(mailbox, window)
            finally:
                timing["source_seconds"] += time.perf_counter() - t0

        return timed

    with patched(sourcing.Sources, "loader", loader):
        async with services.open_deployment(settings) as deployment:
            result = await services.sync_mailboxes(deployment)
            client = await deployment.graph()
            provider = client.auth._provider  # the token provider the deployment created
            return result.outcomes, client.requests_sent, int(getattr(provider, "token_requests", 0))


async def emu(info: Any, method: str, path: str, **kwargs: Any) -> Any:
    context = ssl.create_default_context(cafile=info["ca"])
    async with httpx.AsyncClient(base_url=info["base"], verify=context, trust_env=False, timeout=120) as http:
        response = await http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def phase(
    name: str, settings: Settings, info: Any, server_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    total_events = args.mailboxes * args.events
    asyncio.run(emu(info, "POST", "/_emu/counters/reset"))
    asyncio.run(emu(info, "DELETE", "/_emu/requests"))  # the no-op's writes and reads are read from it
    gc.collect()
    rss0 = rss_kib()
    hwm_reset = reset_peak_rss()
    if args.tracemalloc:
        tracemalloc.start()
    timing = {"source_seconds": 0.0}
    profiler = cProfile.Profile() if args.profile else None
    load0 = os.getloadavg()[0]
    server0, cpu0, wall0 = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    outcomes, sent, tokens = asyncio.run(sync_once(settings, timing))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile if name == "initial" else f"{args.profile}.{name}")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server_busy = cpu_seconds(server_pid) - server0
    heap_peak = held = plans = None
    if args.tracemalloc:
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        heap_peak, held = peak / 2**20, current / 2**20  # held: the returned outcomes (reports + plans)
        for o in outcomes:  # only the reports are used below
            o.actions = []
        gc.collect()
        plans = (current - tracemalloc.get_traced_memory()[0]) / 2**20  # of which the plans (actions)
        tracemalloc.stop()
    hwm = rss_kib("VmHWM")
    counters = asyncio.run(emu(info, "GET", "/_emu/counters"))
    state = asyncio.run(emu(info, "GET", "/_emu/state"))
    statuses: dict[str, int] = {}
    totals = dict.fromkeys(("created", "updated", "deleted", "adopted", "unchanged", "failed"), 0)
    for o in outcomes:
        statuses[o.report.status] = statuses.get(o.report.status, 0) + 1
        for key in totals:
            totals[key] += getattr(o.report, key)
    problems = sorted({f"{o.mailbox}: {o.report.error_code}: {o.report.message}"
                       for o in outcomes if o.report.error_code})[:5]  # fmt: skip
    http = sent + tokens
    bound = args.events / 4 * args.latency_ms / 1000
    floor = max(server_busy, bound)
    result: dict[str, Any] = {
        "wall_seconds": round(wall, 2),
        "client_cpu_seconds": round(cpu, 2),
        "client_cpu_ms_per_event": round(cpu * 1000 / total_events, 4),
        "source_seconds": round(timing["source_seconds"], 2),
        "graph_requests": sent,
        "token_requests": tokens,
        "http_requests": http,
        "requests_per_event": round(http / total_events, 4),
        "server_busy_seconds": round(server_busy, 2),
        "concurrency_bound_seconds": round(bound, 3),
        "floor_seconds": round(floor, 2),
        "wall_over_floor": round(wall / floor, 2) if floor else None,
        "server_requests": counters["requests"],
        "retry_after_violations": counters["retry_after_violations"],
        "throttled": counters["throttled_mailbox_concurrency"] + counters["throttled_window"],
        "max_in_flight_per_mailbox": counters["max_in_flight_per_mailbox"],
        "events_stored": state["events"],
        "statuses": statuses,
        **totals,
        "problems": problems,
        "rss_start_mib": round(rss0 / 1024, 1),
        "peak_rss_mib": round(hwm / 1024, 1) if hwm_reset else None,
        "peak_rss_growth_mib": round((hwm - rss0) / 1024, 1) if hwm_reset else None,
        "heap_peak_mib": round(heap_peak, 1) if heap_peak is not None else None,
        "heap_held_after_mib": round(held, 1) if held is not None else None,
        "plans_held_after_mib": round(plans, 1) if plans is not None else None,
        # Other work on the machine inflates wall time: the 1-minute load average before and after.
        "loadavg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    if name == "noop":
        log = asyncio.run(emu(info, "GET", "/_emu/requests", params={"since": 0}))["value"]
        writes = [e for e in log if e["method"] in ("POST", "PATCH", "PUT", "DELETE")]
        reads: dict[str, int] = {}
        for e in log:
            if e["method"] == "GET":
                reads[e["mailbox"]] = reads.get(e["mailbox"], 0) + 1
        pages = math.ceil(args.events / 1000) or 1  # managed events listed in pages of 1,000
        result.update(
            writes=len(writes),
            reads=sum(reads.values()),
            max_reads_per_mailbox=max(reads.values(), default=0),
            pages_per_mailbox=pages,
        )
    return result


def build_settings(
    work: Path, info: Any, cert: Any, csv_file: Path, feed_port: int | None, args: argparse.Namespace
) -> Settings:
    source: dict[str, Any] = {"csv_file": csv_file}
    if feed_port is not None:
        source = {
            "ics_url_template": f"http://127.0.0.1:{feed_port}/{{upn}}.ics",
            "allow_http_feeds": True,
            "allow_private_feeds": True,
        }
    return Settings(
        tenant_id=TENANT,
        client_id=CLIENT,
        certificate_file=cert.certificate,
        private_key_file=cert.private_key,
        authority_host=info["login"],
        graph_url=info["graph"],
        ca_file=Path(info["ca"]),
        database_url=f"sqlite:///{work / 'calsync.db'}",
        mailboxes=[upn(n) for n in range(args.mailboxes)],
        **source,
        **({} if args.parallelism is None else {"mailbox_parallelism": args.parallelism}),
    )


def targets(result: dict[str, Any], args: argparse.Namespace) -> dict[str, bool]:
    initial, noop = result["initial"], result["noop"]
    return {
        "noop_zero_writes": noop["writes"] == 0,
        "noop_reads_per_mailbox_per_page": noop["max_reads_per_mailbox"] <= noop["pages_per_mailbox"],
        "initial_requests_per_event_le_0.08": initial["requests_per_event"] <= 0.08,
        "initial_within_2x_floor": initial["wall_over_floor"] <= 2.0,
        "all_created": initial["created"] == args.mailboxes * args.events
        and initial["events_stored"] == args.mailboxes * args.events,
        "zero_retry_after_violations": initial["retry_after_violations"] == 0
        and noop["retry_after_violations"] == 0,
    }


def print_table(result: dict[str, Any]) -> None:
    rows = [
        ("wall time (s)", "wall_seconds"),
        ("floor (s)", "floor_seconds"),
        ("  graphemu busy (s)", "server_busy_seconds"),
        ("  E/4 x latency (s)", "concurrency_bound_seconds"),
        ("wall / floor", "wall_over_floor"),
        ("HTTP requests", "http_requests"),
        ("  of which token", "token_requests"),
        ("requests per event", "requests_per_event"),
        ("client CPU (s)", "client_cpu_seconds"),
        ("client CPU per event (ms)", "client_cpu_ms_per_event"),
        ("  source load (s)", "source_seconds"),
        ("graphemu requests (items)", "server_requests"),
        ("Retry-After violations", "retry_after_violations"),
        ("429s", "throttled"),
        ("max in flight / mailbox", "max_in_flight_per_mailbox"),
        ("created / unchanged", None),
        ("writes (graphemu log)", "writes"),
        ("max reads per mailbox", "max_reads_per_mailbox"),
        ("peak RSS (MiB)", "peak_rss_mib"),
        ("  growth in phase (MiB)", "peak_rss_growth_mib"),
        ("heap peak (MiB, tracemalloc)", "heap_peak_mib"),
        ("  held after the run (MiB)", "heap_held_after_mib"),
        ("  of which plans (MiB)", "plans_held_after_mib"),
        ("load average before, after", "loadavg_1m"),
    ]
    print(f"sync bench: {result['mailboxes']} mailboxes x {result['events_per_mailbox']} events, "
          f"latency {result['latency_ms']} ms, parallelism {result['parallelism']}, "
          f"{result['cpus']} CPUs")  # fmt: skip
    print(f"{'':30} {'initial':>12} {'no-op':>12}")
    for label, key in rows:
        cells = []
        for name in ("initial", "noop"):
            p = result[name]
            value = f"{p['created']} / {p['unchanged']}" if key is None else p.get(key, "")
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            cells.append("-" if value is None else str(value))
        print(f"{label:30} {cells[0]:>12} {cells[1]:>12}")
    print(f"CSV source held (text + index) {result['source_mib']} MiB; "
          f"client ru_maxrss {result['ru_maxrss_mib']} MiB")  # fmt: skip
    for name, ok in result["targets"].items():
        print(f"target {name:40} {'met' if ok else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--events", type=int, default=100, help="events per mailbox")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--parallelism", type=int, help="Settings.mailbox_parallelism (default: calsync's)")
    parser.add_argument("--tracemalloc", action="store_true", help="measure the heap peak (slows Python)")
    parser.add_argument(
        "--profile", help="write a cProfile of the initial sync to this file (the no-op's to FILE.noop)"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--source", choices=("csv", "ics"), default="csv",
                        help="one CSV naming every mailbox, or one iCalendar feed per mailbox")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        work = Path(tmp)
        cert = create_certificate(work / "cert", name="bench")
        csv_file = work / "timetable.csv"
        feeds: subprocess.Popen[bytes] | None = None
        feed_port = None
        if args.source == "csv":
            source_bytes = write_csv(csv_file, args.mailboxes, args.events)
        else:
            source_bytes = write_feeds(work / "feeds", args.mailboxes, args.events)
            feeds, feed_port = start_feed_server(work / "feeds")
        server, info = start_server(work, args, cert.certificate.read_text())
        try:
            settings = build_settings(work, info, cert, csv_file, feed_port, args)
            initial = phase("initial", settings, info, server.pid, args)
            noop = phase("noop", settings, info, server.pid, args)
        finally:
            for process in (server, feeds):
                if process is not None:
                    process.terminate()
                    process.wait(30)
        source = source_mib(csv_file) if args.source == "csv" else None
    result: dict[str, Any] = {
        "bench": "sync",
        "date": dt.date.today().isoformat(),
        "mailboxes": args.mailboxes,
        "events_per_mailbox": args.events,
        "events": args.mailboxes * args.events,
        "latency_ms": args.latency_ms,
        "parallelism": settings.mailbox_parallelism,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "source": args.source,
        "source_bytes": source_bytes,
        "source_mib": None if source is None else round(source, 1),
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "initial": initial,
        "noop": noop,
    }
    result["targets"] = targets(result, args)
    if not args.json:
        print_table(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
