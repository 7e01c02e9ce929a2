"""How `calsync worker` scales out (issue 8): N mailboxes x E events with 1, 2, 4 worker processes.

    .venv/bin/python bench/worker_bench.py [--mailboxes 10000] [--events 50] [--workers 1,2,4]
                                           [--latency-ms 30] [--concurrency 16] [--source ics|csv]
                                           [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                           [--sample 200] [--json]

Setup (bench/sync_bench.py's functions, not measured): a certificate, a graphemu seed of N users and an
app signing in with that certificate, and the source: with `--source ics` (the default) one iCalendar
feed per mailbox served by a separate HTTP server process and read through `ics_url_template`; with
`--source csv` one CSV export naming every mailbox. calsync caps a CSV at 10 MiB, about 110,000 rows,
so 10,000 x 50 can only run on feeds.

Before the configurations, Procrastinate's job-fetch latency with N jobs queued is measured with
bench/jobs_bench.py's `fetch_phases` (its own schema; also after adding 100,000 finished rows).

Per worker count W, from scratch: a new schema `bench_<hex>` in the database (the URL's search_path
points at it), a new `graphemu serve --latency-ms L` over TLS (empty calendars), a calsync.toml,
`calsync db upgrade`, then W `calsync worker --concurrency C` processes (real subprocesses, the
checkout's code first on PYTHONPATH). Once all W are registered in `procrastinate_workers`, two
rounds, each one `calsync.runtime.jobs.enqueue` of every mailbox from a defer-only app (what
`calsync serve` does on PostgreSQL), timed from the enqueue to no sync job left todo or doing:

1. initial: empty calendars and an empty state database; every event created;
2. no-op: the same mailboxes again, nothing changed (feeds answer If-Modified-Since with 304; a CSV
   is read and planned again and each mailbox's calendar is listed once).

The workers' own periodic fan-out is kept out of the measurement: `sync_interval_minutes` is 1440
(cron "0 0 * * *", UTC midnight) and the daily full sync 12 hours from now, so no period boundary
falls inside a run; Procrastinate defers a period's job at worker start only if its boundary passed
less than 10 minutes ago, so the script refuses to start within 10 minutes after midnight UTC and
warns when midnight may fall inside the run. The fan-out jobs found in the queue are reported (0).

Reported per configuration and round: wall time, events/s, efficiency (events/s per worker over one
worker's events/s), the floor as sync_bench computes it (max of graphemu's CPU during the round and
the per-mailbox bound E / 4 x latency) and wall / floor, the slot bound (N x E / 4 x latency spread
over W x C mailboxes at once, the bound a worker's concurrency sets), CPU during the round of the
workers (per event), graphemu, PostgreSQL (the backends whose application_name is the configuration's
schema, set in the URL: other sessions may share the server), the feed server, their sum over wall
(cores used), and the whole machine's (/proc/stat, every process: 2.0 is both cores); graphemu's
counters (requests with `$batch` items counted one each, 429s, Retry-After violations, max in flight
per mailbox); from the state database the runs (statuses, created), and the largest number of runs of
one mailbox at once over both rounds (from the runs' started/finished intervals; must be 1); the sync
jobs by status, attempts over 1, fan-out jobs; duplicates: for a random sample of `--sample`
mailboxes, managed events (calsync's tag, `calsync.adapters.eventmap.TAG_ID`) sharing a tag (must be
0) and mailboxes without exactly E, plus every event graphemu stores (`/_emu/state`, must be N x E);
each worker's peak RSS (VmHWM, read just before SIGTERM) and exit status (0). For the no-op also
graphemu's request log: writes and reads per mailbox.

Prints a table, then one JSON line (`{"bench": "worker", ...}`) with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jobs_bench
import psycopg
import sync_bench
from sqlalchemy.engine import make_url

from calsync.adapters.eventmap import TAG_ID
from calsync.certs import create_certificate
from calsync.runtime import jobs

ROOT = Path(__file__).resolve().parent.parent
CALSYNC = Path("/work/main/.venv/bin/calsync")
if not CALSYNC.exists():
    CALSYNC = Path(sys.executable).parent / "calsync"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BUSY_SYNC_JOBS = (
    "SELECT count(*) FROM procrastinate_jobs"
    " WHERE task_name = 'calsync.sync_mailbox' AND status IN ('todo', 'doing')"
)


# -- processes and CPU ------------------------------------------------------------------------------


def proc_status(pid: int, key: str) -> int:
    """A kB figure from /proc/<pid>/status (VmHWM, VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving this configuration: its connections carry the
    schema's name as application_name (other sessions may use the same server)."""
    with psycopg.connect(jobs.conninfo_from_url(url), autocommit=True) as conn:
        name = conn.execute("SELECT current_setting('application_name')").fetchone()
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name[0] if name else "",)
        ).fetchall()
    found = {}
    for (pid,) in rows:
        with contextlib.suppress(OSError):  # the backend exited meanwhile
            found[pid] = sync_bench.cpu_seconds(pid)
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


class Meter:
    """CPU of the processes that share the machine, read at the start and at the end of a round."""

    def __init__(self, workers: list[int], graphemu: int, feeds: int | None, url: str) -> None:
        self.workers, self.graphemu, self.feeds, self.url = workers, graphemu, feeds, url

    def read(self) -> dict[str, Any]:
        return {
            "workers": sum(sync_bench.cpu_seconds(pid) for pid in self.workers),
            "graphemu": sync_bench.cpu_seconds(self.graphemu),
            "feeds": sync_bench.cpu_seconds(self.feeds) if self.feeds else 0.0,
            "backends": backend_cpu(self.url),
            "machine": machine_busy()[0],
            "bench": time.process_time(),
        }

    @staticmethod
    def spent(start: dict[str, Any], end: dict[str, Any]) -> dict[str, float]:
        """CPU seconds spent between two readings; a backend that connected in between counts from 0
        (one that disconnected in between is lost: the pools keep theirs for the worker's life)."""
        spent = {k: end[k] - start[k] for k in start if k != "backends"}
        spent["postgres"] = sum(cpu - start["backends"].get(pid, 0.0) for pid, cpu in end["backends"].items())
        return spent


# -- configuration -----------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_schema(base_url: str) -> Any:
    """A new schema in the database, yielding the URL whose search_path points at it; dropped after."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(jobs.conninfo_from_url(base_url), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            query = {"options": f"-csearch_path={schema}", "application_name": schema}
            url = make_url(base_url).update_query_dict(query)
            yield url.render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def write_config(work: Path, info: Any, cert: Any, url: str, source: str, args: argparse.Namespace) -> Path:
    """calsync.toml for this graphemu and schema, with no period boundary of the fan-out in the next hours."""
    full_at = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)).strftime("%H:%M")
    lines = [
        f'tenant_id = "{sync_bench.TENANT}"',
        f'client_id = "{sync_bench.CLIENT}"',
        f'certificate_file = "{cert.certificate}"',
        f'private_key_file = "{cert.private_key}"',
        f'authority_host = "{info["login"]}"',
        f'graph_url = "{info["graph"]}"',
        f'ca_file = "{info["ca"]}"',
        f"database_url = {json.dumps(url)}",
        f"mailboxes = {json.dumps([sync_bench.upn(n) for n in range(args.mailboxes)])}",
        "sync_interval_minutes = 1440",
        'log_format = "json"',
        f"full_sync_at = {full_at}:00",
        'full_sync_zone = "UTC"',
        f"worker_concurrency = {args.concurrency}",
        source,
    ]
    path = work / "calsync.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def calsync(config: Path, log: Path, *arguments: str) -> subprocess.Popen[bytes]:
    """`calsync ...` as a real process on this checkout's code, its output appended to `log`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env.update(CALSYNC_CONFIG=str(config), PYTHONPATH=str(ROOT / "src"))
    with log.open("ab") as out:
        return subprocess.Popen([str(CALSYNC), *arguments], env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_until(what: str, check: Any, processes: list[subprocess.Popen[bytes]], seconds: float) -> float:
    """Poll `check` every 0.2 s until it is true; returns the time it became true (perf_counter)."""
    deadline = time.monotonic() + seconds
    while not check():
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"a process exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.2)
    return time.perf_counter()


async def enqueue_all(url: str, mailboxes: list[str]) -> jobs.EnqueueResult:
    app = jobs.build_app(jobs.conninfo_from_url(url), None, pool_max_size=2)
    async with app.open_async():
        return await jobs.enqueue(app, mailboxes, full=False)


def emu(info: Any, method: str, path: str, **kwargs: Any) -> Any:
    return asyncio.run(sync_bench.emu(info, method, path, **kwargs))


# -- checks ------------------------------------------------------------------------------------------


def max_runs_at_once(rows: list[tuple[str, dt.datetime, dt.datetime | None]]) -> tuple[int, int]:
    """The largest number of runs of one mailbox at once (sweep over started/finished), and how many runs
    never finished (counted as lasting to the end)."""
    points: dict[str, list[tuple[dt.datetime, int]]] = {}
    end_of_time = dt.datetime.max.replace(tzinfo=dt.UTC)
    unfinished = 0
    for mailbox, started, finished in rows:
        unfinished += finished is None
        spans = points.setdefault(mailbox, [])
        spans += [(started, 1), (finished or end_of_time, -1)]
    worst = 0
    for spans in points.values():
        now = 0
        for _, step in sorted(spans):  # at a tie the end (-1) sorts first: touching runs do not overlap
            now += step
            worst = max(worst, now)
    return worst, unfinished


def duplicates(info: Any, mailboxes: list[str], events: int, sample: int) -> dict[str, Any]:
    """Managed events sharing calsync's tag in a random sample of mailboxes, and mailboxes in it
    without exactly `events` managed events."""
    chosen = random.Random(8).sample(mailboxes, min(sample, len(mailboxes)))
    dup = wrong = 0
    context = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base"], verify=context, trust_env=False, timeout=120) as http:
        for mailbox in chosen:
            stored = http.get(f"/_emu/events/{mailbox}").raise_for_status().json()["value"]
            tags = [e["extended"][TAG_ID] for e in stored if (e.get("extended") or {}).get(TAG_ID)]
            dup += len(tags) - len(set(tags))
            wrong += len(tags) != events
    return {"sampled_mailboxes": len(chosen), "duplicates_in_sample": dup, "wrong_count_in_sample": wrong}


def state_of(url: str, since: dt.datetime) -> dict[str, Any]:
    """From the state database: the runs since `since` and the job queue."""
    with psycopg.connect(jobs.conninfo_from_url(url)) as conn:
        runs = conn.execute(
            "SELECT status, count(*), sum(created), sum(unchanged), sum(failed), max(finished - started)"
            " FROM runs WHERE started >= %s GROUP BY status",
            (since,),
        ).fetchall()
        queue = conn.execute(
            "SELECT task_name, status, count(*), count(*) FILTER (WHERE attempts > 1)"
            " FROM procrastinate_jobs GROUP BY task_name, status"
        ).fetchall()
    return {
        "runs": {s: n for s, n, *_ in runs},
        "runs_created": sum(c or 0 for _, _, c, *_ in runs),
        "runs_unchanged": sum(u or 0 for _, _, _, u, *_ in runs),
        "runs_failed_items": sum(f or 0 for *_, f, _ in runs),
        "longest_run_seconds": round(max((d.total_seconds() for *_, d in runs if d), default=0), 2),
        "sync_jobs": {s: n for t, s, n, _ in queue if t == "calsync.sync_mailbox"},
        "jobs_retried": sum(r for *_, r in queue),
        "fan_out_jobs": sum(n for t, _, n, _ in queue if t == "calsync.fan_out"),
        "housekeeping_jobs": sum(
            n for t, _, n, _ in queue if t in ("calsync.purge_jobs", "calsync.recover_stalled")
        ),
    }


def all_runs(url: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    with psycopg.connect(jobs.conninfo_from_url(url)) as conn:
        return [tuple(r) for r in conn.execute("SELECT mailbox, started, finished FROM runs").fetchall()]  # type: ignore[misc]


def log_problems(path: Path) -> list[str]:
    """Lines of a worker's JSON log at warning or above, and lines that are not JSON (a traceback)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            level = json.loads(line).get("level", "")
        except (ValueError, AttributeError):
            level = "unparsed"
        if level in ("warning", "error", "critical", "unparsed"):
            found.append(line[:300])
    return found


# -- one round, one configuration ------------------------------------------------------------------


def one_round(
    name: str,
    url: str,
    info: Any,
    meter: Meter,
    workers: list[subprocess.Popen[bytes]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Enqueue every mailbox once and wait until no sync job is todo or doing."""
    mailboxes = [sync_bench.upn(n) for n in range(args.mailboxes)]
    emu(info, "POST", "/_emu/counters/reset")
    emu(info, "DELETE", "/_emu/requests")
    since = dt.datetime.now(dt.UTC)
    load0, cpu0 = os.getloadavg()[0], meter.read()
    with psycopg.connect(jobs.conninfo_from_url(url), autocommit=True) as conn:
        t0 = time.perf_counter()
        enqueued = asyncio.run(enqueue_all(url, mailboxes))
        enqueue_s = time.perf_counter() - t0

        def drained() -> bool:
            row = conn.execute(BUSY_SYNC_JOBS).fetchone()
            return row is not None and row[0] == 0

        t1 = wait_until(f"the {name} round to drain", drained, workers, args.timeout)
    cpu1 = meter.read()
    wall = t1 - t0
    cpu = Meter.spent(cpu0, cpu1)
    counters = emu(info, "GET", "/_emu/counters")
    stored = emu(info, "GET", "/_emu/state")["events"]
    events = args.mailboxes * args.events
    bound = args.events / 4 * args.latency_ms / 1000
    floor = max(cpu["graphemu"], bound)
    slot_bound = args.mailboxes * bound / (len(workers) * args.concurrency)
    result: dict[str, Any] = {
        "wall_seconds": round(wall, 2),
        "enqueue_seconds": round(enqueue_s, 3),
        "deferred": enqueued.deferred,
        "coalesced": enqueued.coalesced,
        "events_per_second": round(events / wall, 1),
        "mailboxes_per_second": round(args.mailboxes / wall, 1),
        "floor_seconds": round(floor, 2),
        "concurrency_bound_seconds": round(bound, 3),
        "wall_over_floor": round(wall / floor, 2) if floor else None,
        "slot_bound_seconds": round(slot_bound, 1),
        "workers_cpu_seconds": round(cpu["workers"], 1),
        "client_cpu_ms_per_event": round(cpu["workers"] * 1000 / events, 4),
        "client_cpu_ms_per_mailbox": round(cpu["workers"] * 1000 / args.mailboxes, 2),
        "server_busy_seconds": round(cpu["graphemu"], 1),
        "postgres_cpu_seconds": round(cpu["postgres"], 1),
        "feed_server_cpu_seconds": round(cpu["feeds"], 1),
        "bench_cpu_seconds": round(cpu["bench"], 1),
        "ours_busy_cores": round(sum(cpu[k] for k in ("workers", "graphemu", "feeds", "postgres")) / wall, 2),
        "machine_busy_cores": round(cpu["machine"] / wall, 2),
        "server_requests": counters["requests"],
        "server_requests_per_mailbox": round(counters["requests"] / args.mailboxes, 3),
        "throttled": counters["throttled_mailbox_concurrency"] + counters["throttled_window"],
        "retry_after_violations": counters["retry_after_violations"],
        "max_in_flight_per_mailbox": counters["max_in_flight_per_mailbox"],
        "events_stored": stored,
        "loadavg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
        **state_of(url, since),
    }
    if name == "noop":
        log = emu(info, "GET", "/_emu/requests", params={"since": 0})["value"]
        reads: dict[str, int] = {}
        for e in log:
            if e["method"] == "GET":
                reads[e["mailbox"]] = reads.get(e["mailbox"], 0) + 1
        result.update(
            writes=sum(e["method"] in ("POST", "PATCH", "PUT", "DELETE") for e in log),
            reads=sum(reads.values()),
            max_reads_per_mailbox=max(reads.values(), default=0),
        )
    return result


def configuration(
    count: int,
    work: Path,
    cert: Any,
    source: str,
    feeds: subprocess.Popen[bytes] | None,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """A fresh schema and graphemu, `count` workers, the initial and the no-op round."""
    work.mkdir()
    out: dict[str, Any] = {"workers": count}
    with fresh_schema(args.url) as url:
        server, info = sync_bench.start_server(work, args, cert.certificate.read_text())
        try:
            config = write_config(work, info, cert, url, source, args)
            upgrade = calsync(config, work / "upgrade.log", "db", "upgrade")
            if upgrade.wait(300) != 0:
                raise SystemExit((work / "upgrade.log").read_text()[-2000:])
            workers = [
                calsync(config, work / f"worker{i}.log", "worker", "--concurrency", str(args.concurrency),
                        "--name", f"bench-w{i}")
                for i in range(count)
            ]  # fmt: skip
            codes: list[int | None] = []
            try:
                with psycopg.connect(jobs.conninfo_from_url(url), autocommit=True) as conn:

                    def registered() -> bool:
                        row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
                        return row is not None and row[0] >= count

                    wait_until("the workers to register", registered, workers, 120)
                meter = Meter([w.pid for w in workers], server.pid, feeds.pid if feeds else None, url)
                out["initial"] = one_round("initial", url, info, meter, workers, args)
                out["initial"].update(duplicates(info, [sync_bench.upn(n) for n in range(args.mailboxes)],
                                                 args.events, args.sample))  # fmt: skip
                out["noop"] = one_round("noop", url, info, meter, workers, args)
                out["max_runs_of_one_mailbox_at_once"], out["unfinished_runs"] = max_runs_at_once(
                    all_runs(url)
                )
                out["peak_rss_mib"] = [round(proc_status(w.pid, "VmHWM") / 1024, 1) for w in workers]
            finally:
                for w in workers:
                    if w.poll() is None:
                        w.send_signal(signal.SIGTERM)
                for w in workers:
                    try:
                        codes.append(w.wait(120))
                    except subprocess.TimeoutExpired:
                        w.kill()
                        codes.append(w.wait())
            out["exit_codes"] = codes
            errors = [line for i in range(count) for line in log_problems(work / f"worker{i}.log")]
            out["worker_log_errors"] = len(errors)
            out["worker_log_error_lines"] = errors[:5]
        finally:
            server.terminate()
            server.wait(60)
    return out


# -- report ------------------------------------------------------------------------------------------

ROWS = [
    ("wall time (s)", "wall_seconds"),
    ("  of which enqueue (s)", "enqueue_seconds"),
    ("events/s", "events_per_second"),
    ("mailboxes/s", "mailboxes_per_second"),
    ("efficiency vs 1 worker", "efficiency"),
    ("floor (s)", "floor_seconds"),
    ("  graphemu busy (s)", "server_busy_seconds"),
    ("  E/4 x latency (s)", "concurrency_bound_seconds"),
    ("wall / floor", "wall_over_floor"),
    ("slot bound N/(W*C) x E/4 x lat (s)", "slot_bound_seconds"),
    ("workers' CPU (s)", "workers_cpu_seconds"),
    ("  per event (ms)", "client_cpu_ms_per_event"),
    ("  per mailbox (ms)", "client_cpu_ms_per_mailbox"),
    ("PostgreSQL CPU (s)", "postgres_cpu_seconds"),
    ("feed server CPU (s)", "feed_server_cpu_seconds"),
    ("benchmark's processes (cores)", "ours_busy_cores"),
    ("machine busy, all processes (cores)", "machine_busy_cores"),
    ("graphemu requests (items)", "server_requests"),
    ("  per mailbox", "server_requests_per_mailbox"),
    ("429s", "throttled"),
    ("Retry-After violations", "retry_after_violations"),
    ("max in flight / mailbox", "max_in_flight_per_mailbox"),
    ("events stored", "events_stored"),
    ("runs by status", "runs"),
    ("events created (runs)", "runs_created"),
    ("longest run (s)", "longest_run_seconds"),
    ("sync jobs by status (cumulative)", "sync_jobs"),
    ("jobs retried", "jobs_retried"),
    ("fan-out jobs (must be 0)", "fan_out_jobs"),
    ("housekeeping jobs", "housekeeping_jobs"),
    ("duplicates (sample)", "duplicates_in_sample"),
    ("  sampled / not E events", None),
    ("writes (no-op, graphemu log)", "writes"),
    ("max reads per mailbox (no-op)", "max_reads_per_mailbox"),
    ("load average before, after", "loadavg_1m"),
]
FOOTER = [
    ("max runs of one mailbox at once", "max_runs_of_one_mailbox_at_once"),
    ("unfinished runs", "unfinished_runs"),
    ("peak RSS per worker (MiB)", "peak_rss_mib"),
    ("worker exit codes", "exit_codes"),
    ("warning+ lines in worker logs", "worker_log_errors"),
]


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def print_table(result: dict[str, Any]) -> None:
    configs = result["configurations"]
    print(f"worker bench {result['date']}: {result['mailboxes']} mailboxes x {result['events_per_mailbox']} "
          f"events ({result['source']}), latency {result['latency_ms']} ms, concurrency "
          f"{result['concurrency']} per worker, {result['machine']}")  # fmt: skip
    fetch = result["fetch"]
    for key, label in (("fetch", f"{fetch['queued']} jobs queued"),
                       ("fetch_with_finished", f"+ {fetch.get('finished_rows')} finished rows")):  # fmt: skip
        if key in fetch:
            f = fetch[key]
            print(f"procrastinate fetch_job, {label}: median {f['median_ms']} ms, p95 {f['p95_ms']} ms, "
                  f"max {f['max_ms']} ms")  # fmt: skip
    for phase in ("initial", "noop"):
        print(f"\n{phase} round" + ("" if phase == "initial" else " (nothing changed)"))
        print(f"{'':36}" + "".join(f"{str(c['workers']) + ' worker(s)':>24}" for c in configs))
        for label, key in ROWS:
            values = []
            for c in configs:
                p = c[phase]
                if key is None:
                    values.append(
                        f"{p.get('sampled_mailboxes', '-')} / {p.get('wrong_count_in_sample', '-')}"
                    )
                else:
                    values.append(cell(p.get(key)))
            if any(v not in ("-", "None") for v in values):
                print(f"{label:36}" + "".join(f" {v:>23}" for v in values))
    print()
    for label, key in FOOTER:
        print(f"{label:36}" + "".join(f" {cell(c.get(key)):>23}" for c in configs))


def efficiency(configs: list[dict[str, Any]]) -> None:
    """Events/s per worker relative to the smallest worker count run (1 when 1 is in --workers)."""
    base = configs[0]
    for c in configs:
        for phase in ("initial", "noop"):
            per_worker = c[phase]["events_per_second"] / c["workers"]
            c[phase]["efficiency"] = round(
                per_worker / (base[phase]["events_per_second"] / base["workers"]), 2
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50, help="events per mailbox")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, one configuration each")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16, help="calsync worker --concurrency")
    parser.add_argument("--source", choices=("ics", "csv"), default="ics",
                        help="a feed per mailbox, or one CSV naming every mailbox (<= 10 MiB)")  # fmt: skip
    parser.add_argument("--url", default=os.environ.get("CALSYNC_TEST_POSTGRES_URL", jobs_bench.DEFAULT_URL))
    parser.add_argument("--sample", type=int, default=200, help="mailboxes checked for duplicates")
    parser.add_argument("--fetches", type=int, default=200, help="job fetches timed (jobs_bench)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds a round may take")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    counts = sorted({int(w) for w in args.workers.split(",")})
    now = dt.datetime.now(dt.UTC)
    if now.hour == 0 and now.minute < 10:
        raise SystemExit("within 10 minutes after midnight UTC the workers would defer the periodic fan-out")
    fetches = min(args.fetches, args.mailboxes // 2)  # two phases fetch from the same N queued jobs
    fetch = asyncio.run(jobs_bench.fetch_phases(args.url, args.mailboxes, fetches, 100_000))
    configs = []
    with tempfile.TemporaryDirectory(prefix="worker-bench-") as tmp:
        work = Path(tmp)
        cert = create_certificate(work / "cert", name="bench")
        feeds: subprocess.Popen[bytes] | None = None
        if args.source == "csv":
            source_bytes = sync_bench.write_csv(work / "timetable.csv", args.mailboxes, args.events)
            source = f'csv_file = "{work / "timetable.csv"}"'
        else:
            source_bytes = sync_bench.write_feeds(work / "feeds", args.mailboxes, args.events)
            feeds, port = sync_bench.start_feed_server(work / "feeds")
            source = "\n".join([f'ics_url_template = "http://127.0.0.1:{port}/{{upn}}.ics"',
                                "allow_http_feeds = true", "allow_private_feeds = true"])  # fmt: skip
        try:
            for count in counts:
                configs.append(configuration(count, work / f"w{count}", cert, source, feeds, args))
                if not args.json:
                    print(
                        f"# {count} worker(s): initial {configs[-1]['initial']['wall_seconds']} s",
                        file=sys.stderr,
                    )
        finally:
            if feeds is not None:
                feeds.terminate()
                feeds.wait(30)
    efficiency(configs)
    result: dict[str, Any] = {
        "bench": "worker",
        "date": dt.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "mailboxes": args.mailboxes,
        "events_per_mailbox": args.events,
        "events": args.mailboxes * args.events,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "source": args.source,
        "source_bytes": source_bytes,
        "fetch": fetch,
        "configurations": configs,
    }
    if not args.json:
        print_table(result)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
