"""calsync side by side with a msgraph-sdk script and the floor, on one graphemu and the same data (issue 12).

    .venv/bin/python bench/peer_bench.py [--rounds 3] [--workloads flat,timetable] [--mailboxes 100]
        [--events 100] [--students 100] [--latency-ms 30] [--contenders floor,msgraph,calsync]
        [--recurrence occurrences|series] [--venv .bench-venv] [--json]

Contenders, each a separate process measured the same way (wall time from start to exit, its CPU time
and peak RSS from `os.wait4`, graphemu's CPU from /proc):

- **floor** (`peer_floor.py`, raw httpx): the least work possible: `$batch` creates of 20, no listing,
  no state; its no-op is one listing GET per mailbox;
- **msgraph** (`peer_msgraph.py`, msgraph-sdk 1.x in its own virtualenv `--venv`, created with
  `pip install msgraph-sdk` when missing; not a calsync dependency): a stateless sync script, `$batch`
  of 20, at most 4 batches in flight per mailbox, 64 mailboxes at once;
- **calsync**: `calsync sync --json` with a calsync.toml (client secret, SQLite state in the run's
  folder, `recurrence = "<--recurrence>"` when the option is given).

Workloads (the peers get each mailbox's occurrences as parsed by calsync, outside the measured time; the
parse is not counted against them):

- **flat**: one CSV export of `--mailboxes` x `--events` single events (sync_bench's), calsync reads
  the file (`csv_file`);
- **timetable**: the demo's semester timetable (calsync.demo.timetable: weekly lectures and tutorials
  with EXDATEs, cancelled and moved sessions, across a DST change) for `--students` students, one
  iCalendar feed each, served over HTTP; calsync reads the feeds (`ics_url_template`).

Rounds are interleaved: in each round, each workload, each contender (in an order rotated per round)
runs against a fresh `graphemu serve --latency-ms L` (TLS, empty calendars): the initial sync, then a
no-op resync on the same server. Ratios are computed within a round and the median over rounds is
printed. Per run: wall time, client CPU, peak RSS, graphemu CPU, write requests per source occurrence
(batch items counted one each, from graphemu's request log; and, as "HTTP w/occ", the HTTP requests
that carry writes: a `$batch` envelope counts once), 429s, and the events stored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_bench

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
TAG_ID = "String {6c1f3e2a-5b7d-4e09-9f3a-2d8c41b7a0e5} Name peer.sourceKey"
CONTENDERS = ("floor", "msgraph", "calsync")
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def ensure_venv(venv: Path) -> Path:
    """The peer's virtualenv with msgraph-sdk, created and installed on first use."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import msgraph, msgraph_core.requests.batch_request_item"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "msgraph-sdk", "deprecated"], check=True)
    return python


def peer_events(events: list[Any]) -> list[dict[str, Any]]:
    """calsync's desired events as the peers' work items (local wall time in the event's Windows zone)."""
    from calsync.domain import windows_zone
    from calsync.domain.zones import iana_zone

    out = []
    for e in events:
        zone = iana_zone(e.time_zone)
        out.append(
            {
                "key": str(e.source_key),
                "subject": e.subject,
                "location": e.location,
                "tz": windows_zone(e.time_zone),
                "start": e.start.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds"),
                "end": e.end.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds"),
                "start_utc": e.start.astimezone(sync_bench.dt.UTC)
                .replace(tzinfo=None)
                .isoformat(timespec="seconds"),
                "end_utc": e.end.astimezone(sync_bench.dt.UTC)
                .replace(tzinfo=None)
                .isoformat(timespec="seconds"),
                "txid": hashlib.sha256(f"peer|{e.mailbox}|{e.source_key}".encode()).hexdigest()[:40],
            }
        )
    return out


def window() -> Any:
    from calsync.domain import Window

    now = sync_bench.dt.datetime.now(sync_bench.dt.UTC)
    return Window.around(now, days_back=3650, days_ahead=3650)


def flat_workload(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The CSV export, its rows as the peers' work and calsync's source settings."""
    from calsync.sources import parse_csv

    path = folder / "flat.csv"
    sync_bench.write_csv(path, args.mailboxes, args.events)
    mailboxes = [sync_bench.upn(n) for n in range(args.mailboxes)]
    result = parse_csv(path.read_bytes(), window=window())
    by_mailbox: dict[str, list[Any]] = {m: [] for m in mailboxes}
    for e in result.events:
        by_mailbox[e.mailbox.lower()].append(e)
    source = f'csv_file = "{path}"\n'
    return {"mailboxes": mailboxes, "events": by_mailbox, "source": source, "feeds": None}


def timetable_workload(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The demo's timetable, one feed per student, served over HTTP; its occurrences for the peers."""
    from calsync.demo import timetable
    from calsync.sources import load_ics

    mailboxes = [sync_bench.upn(n) for n in range(args.students)]
    tt = timetable.build(mailboxes, term_start=timetable.term_start_for(sync_bench.dt.date.today()))
    feeds = folder / "feeds"
    feeds.mkdir()
    by_mailbox: dict[str, list[Any]] = {}
    for m in mailboxes:
        data = timetable.feed(tt, m)
        (feeds / f"{m}.ics").write_bytes(data)
        by_mailbox[m] = load_ics(data, mailbox=m, window=window()).events
    source = (
        'ics_url_template = "http://127.0.0.1:{port}/{upn}.ics"\n'
        "allow_http_feeds = true\nallow_private_feeds = true\n"
    )
    return {"mailboxes": mailboxes, "events": by_mailbox, "source": source, "feeds": feeds}


def start_graphemu(folder: Path, mailboxes: int, secret: str, latency_ms: float) -> tuple[Any, Any]:
    seed = sync_bench.seed(mailboxes, "")
    seed["apps"][0].pop("certificates")
    seed["apps"][0]["secrets"] = [{"value": secret}]
    seed_file, ready = folder / "seed.json", folder / "ready.json"
    ready.unlink(missing_ok=True)
    seed_file.write_text(json.dumps(seed))
    command = [
        sys.executable,
        "-m",
        "graphemu",
        "serve",
        "--port",
        "0",
        "--seed",
        str(seed_file),
        "--ready-file",
        str(ready),
        "--latency-ms",
        str(latency_ms),
        "--tls-dir",
        str(folder / "tls"),
        # The msgraph-sdk script parses each listing on its event loop for up to seconds; with uvicorn's
        # 5 s an idle connection it then reuses is closed under it ("Server disconnected") on a slow
        # machine. Graph's front end keeps idle connections longer than that.
        "--keep-alive-seconds",
        "120",
    ]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ready.exists() or not ready.read_text().strip():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("graphemu serve did not become ready")
        time.sleep(0.05)
    return server, json.loads(ready.read_text())


def hwm_kib(pid: int) -> int:
    """A process's peak RSS so far (VmHWM), 0 once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_process(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a contender to its end: wall time, and its own CPU (user + system) and peak RSS (os.wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []

    def drain(stream: Any, into: list[bytes]) -> None:
        for chunk in iter(lambda: stream.read(65536), b""):
            into.append(chunk)

    peak = [0]
    done = threading.Event()

    def watch() -> None:
        # ru_maxrss would include the RSS this (large) process had when it forked the child, so the
        # child's own high-water mark (VmHWM, reset by exec) is sampled until it exits instead
        while not done.wait(0.02):
            peak[0] = max(peak[0], hwm_kib(proc.pid))

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, out_chunks)),
        threading.Thread(target=drain, args=(proc.stderr, err_chunks)),
        threading.Thread(target=watch),
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    for r in readers:
        r.join()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": peak[0] / 1024,
        "returncode": proc.returncode,
        "stdout": b"".join(out_chunks).decode(errors="replace"),
        "stderr": b"".join(err_chunks).decode(errors="replace")[-2000:],
    }


def emu(info: Any, method: str, path: str, **kwargs: Any) -> Any:
    return sync_bench.asyncio.run(sync_bench.emu(info, method, path, **kwargs))


def graph_figures(info: Any, server_pid: int, cpu0: float) -> dict[str, Any]:
    counters = emu(info, "GET", "/_emu/counters")
    log = emu(info, "GET", "/_emu/requests", params={"since": 0})["value"]
    writes = [e for e in log if e["method"] in WRITES and not str(e.get("path", "")).endswith("$batch")]
    # HTTP requests that carry writes: a write sent alone, or a `$batch` envelope (of up to 20 items;
    # the log holds a batch's items, graphemu counts its envelopes). No contender batches reads.
    alone = [e for e in writes if not e.get("in_batch")]
    return {
        "graphemu_cpu": sync_bench.cpu_seconds(server_pid) - cpu0,
        "writes": len(writes),
        "write_envelopes": len(alone) + counters["batches"],
        "requests": counters["requests"],
        "throttled": counters["throttled_mailbox_concurrency"] + counters["throttled_window"],
        "stored": emu(info, "GET", "/_emu/state")["events"],
    }


def contender_env() -> dict[str, str]:
    """The environment of a contender: no CALSYNC_* of ours, and bytecode caches allowed (a deployed
    calsync, like the installed msgraph-sdk, runs from .pyc files; without them every start compiles)."""
    skip = ("CALSYNC_", "PYTHONDONTWRITEBYTECODE")
    return {k: v for k, v in os.environ.items() if not k.startswith(skip)}


WARM = (
    "import calsync.cli.main, calsync.cli.syncing, calsync.services.syncing, calsync.services.sourcing, "
    "calsync.graph.client, calsync.graph.auth, calsync.store.sqlstore, calsync.store.migrate, "
    "calsync.adapters.graph_target, calsync.sources, calsync.logs, calsync.metrics"
)


def contender_command(
    name: str, folder: Path, work_file: Path, phase: str, python: Path | None
) -> tuple[list[str], dict[str, str]]:
    env = contender_env()
    if name == "floor":
        return [sys.executable, str(BENCH / "peer_floor.py"), str(work_file), phase], env
    if name == "msgraph":
        assert python is not None
        return [str(python), str(BENCH / "peer_msgraph.py"), str(work_file)], {**env, "PYTHONPATH": ""}
    env["CALSYNC_CONFIG"] = str(folder / "calsync.toml")
    return [str(Path(sys.executable).parent / "calsync"), "sync", "--json"], env  # as users run it


def calsync_toml(
    folder: Path,
    info: Any,
    secret_file: Path,
    work: dict[str, Any],
    args: argparse.Namespace,
    feed_port: int | None,
) -> None:
    source = work["source"].replace("{port}", str(feed_port)) if feed_port else work["source"]
    recurrence = f'recurrence = "{args.recurrence}"\n' if args.recurrence else ""
    (folder / "calsync.toml").write_text(
        f'tenant_id = "{sync_bench.TENANT}"\nclient_id = "{sync_bench.CLIENT}"\n'
        f'client_secret_file = "{secret_file}"\nauthority_host = "{info["login"]}"\n'
        f'graph_url = "{info["graph"]}"\nca_file = "{info["ca"]}"\n'
        f'database_url = "sqlite:///{folder / "state.db"}"\n'
        f"window_days_back = 3650\nwindow_days_ahead = 3650\n"
        f"mailboxes = {json.dumps(work['mailboxes'])}\n{source}{recurrence}"
    )


def one_run(
    name: str,
    work: dict[str, Any],
    folder: Path,
    args: argparse.Namespace,
    python: Path | None,
    feed_port: int | None,
) -> dict[str, Any]:
    """One contender on a fresh graphemu: initial sync, then a no-op resync."""
    run_dir = folder / f"{name}-{time.monotonic_ns()}"
    run_dir.mkdir()
    secret = secrets.token_urlsafe(24)
    secret_file = run_dir / "secret"
    secret_file.write_text(secret)
    server, info = start_graphemu(run_dir, len(work["mailboxes"]), secret, args.latency_ms)
    try:
        base = info["login"].rstrip("/")
        work_file = run_dir / "work.json"
        work_file.write_text(
            json.dumps(
                {
                    "graph": info["graph"],
                    "token_url": f"{base}/{sync_bench.TENANT}/oauth2/v2.0/token",
                    "ca": info["ca"],
                    "client": sync_bench.CLIENT,
                    "secret_file": str(secret_file),
                    "tag_id": TAG_ID,
                    "mailboxes": {m: peer_events(work["events"][m]) for m in work["mailboxes"]},
                }
            )
        )
        calsync_toml(run_dir, info, secret_file, work, args, feed_port)
        out: dict[str, Any] = {}
        for phase in ("initial", "noop"):
            emu(info, "POST", "/_emu/counters/reset")
            emu(info, "DELETE", "/_emu/requests")
            cpu0 = sync_bench.cpu_seconds(server.pid)
            command, env = contender_command(name, run_dir, work_file, phase, python)
            result = run_process(command, env)
            if result["returncode"] != 0:
                raise SystemExit(
                    f"{name} {phase} failed ({result['returncode']}): {result['stderr']}"
                    f" {result['stdout'][-2000:]}"
                )
            result.update(graph_figures(info, server.pid, cpu0))
            result.pop("stdout")
            result.pop("stderr")
            out[phase] = result
            print(f"# {name} {phase}: {json.dumps(result)}", file=sys.stderr, flush=True)  # progress
        return out
    finally:
        server.terminate()
        server.wait()


def summarise(
    rounds: list[dict[str, Any]], occurrences: dict[str, int], contenders: list[str]
) -> dict[str, Any]:
    """Medians over rounds per workload, contender and phase, and the within-round ratios' medians."""
    summary: dict[str, Any] = {}
    for workload, n in occurrences.items():
        block: dict[str, Any] = {"occurrences": n}
        for c in contenders:
            for phase in ("initial", "noop"):
                runs = [r[workload][c][phase] for r in rounds]
                block[f"{c}.{phase}"] = {
                    "wall": statistics.median(x["wall"] for x in runs),
                    "cpu": statistics.median(x["cpu"] for x in runs),
                    "cpu_ms_per_occurrence": statistics.median(x["cpu"] for x in runs) * 1000 / n,
                    "rss_mib": statistics.median(x["rss_mib"] for x in runs),
                    "graphemu_cpu": statistics.median(x["graphemu_cpu"] for x in runs),
                    "writes_per_occurrence": statistics.median(x["writes"] for x in runs) / n,
                    "write_requests_per_occurrence": (
                        statistics.median(x["write_envelopes"] for x in runs) / n
                    ),
                    "throttled": max(x["throttled"] for x in runs),
                    "stored": min(x["stored"] for x in runs),
                }
        ratios: dict[str, float] = {}
        for phase in ("initial", "noop"):
            for a, b in (("msgraph", "calsync"), ("calsync", "floor")):
                if a in contenders and b in contenders:
                    per = [r[workload][a][phase]["wall"] / r[workload][b][phase]["wall"] for r in rounds]
                    ratios[f"{phase}: {a} / {b}"] = statistics.median(per)
        block["ratios"] = ratios
        summary[workload] = block
    return summary


def render(summary: dict[str, Any], contenders: list[str]) -> str:
    lines = []
    for workload, block in summary.items():
        lines.append(f"\n{workload}: {block['occurrences']} source occurrences")
        lines.append(
            f"{'':18}{'wall s':>9}{'CPU s':>8}{'CPU ms/occ':>11}{'RSS MiB':>9}{'emu CPU s':>10}"
            f"{'writes/occ':>11}{'HTTP w/occ':>11}{'429s':>6}{'stored':>8}"
        )
        for c in contenders:
            for phase in ("initial", "noop"):
                f = block[f"{c}.{phase}"]
                lines.append(
                    f"{c + ' ' + phase:18}{f['wall']:9.2f}{f['cpu']:8.2f}{f['cpu_ms_per_occurrence']:11.3f}"
                    f"{f['rss_mib']:9.1f}{f['graphemu_cpu']:10.2f}{f['writes_per_occurrence']:11.3f}"
                    f"{f['write_requests_per_occurrence']:11.3f}"
                    f"{f['throttled']:6d}{f['stored']:8d}"
                )
        for name, value in block["ratios"].items():
            lines.append(f"  wall {name:28} {value:6.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="flat,timetable")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--mailboxes", type=int, default=100, help="flat: mailboxes")
    parser.add_argument("--events", type=int, default=100, help="flat: events per mailbox")
    parser.add_argument("--students", type=int, default=100, help="timetable: students (mailboxes)")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument(
        "--recurrence",
        choices=("occurrences", "series"),
        help="calsync's `recurrence` setting (left unset, calsync's default, when not given)",
    )
    parser.add_argument("--venv", type=Path, default=ROOT / ".bench-venv", help="the msgraph-sdk virtualenv")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    contenders = [c for c in args.contenders.split(",") if c]
    if unknown := set(contenders) - set(CONTENDERS):
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    python = ensure_venv(args.venv) if "msgraph" in contenders else None
    subprocess.run([sys.executable, "-c", WARM], env=contender_env(), check=True)  # write calsync's .pyc
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        folder = Path(tmp)
        workloads: dict[str, dict[str, Any]] = {}
        feed_servers = []
        for name in args.workloads.split(","):
            work_dir = folder / name
            work_dir.mkdir()
            workloads[name] = (flat_workload if name == "flat" else timetable_workload)(work_dir, args)
        ports: dict[str, int | None] = {}
        try:
            for name, work in workloads.items():
                if work["feeds"] is not None:
                    server, port = sync_bench.start_feed_server(work["feeds"])
                    feed_servers.append(server)
                    ports[name] = port
                else:
                    ports[name] = None
            rounds: list[dict[str, Any]] = []
            for r in range(args.rounds):
                order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
                results: dict[str, Any] = {}
                for name, work in workloads.items():
                    results[name] = {
                        c: one_run(c, work, folder / name, args, python, ports[name]) for c in order
                    }
                rounds.append(results)
        finally:
            for server in feed_servers:
                server.terminate()
                server.wait()
    occurrences = {name: sum(len(v) for v in w["events"].values()) for name, w in workloads.items()}
    summary = summarise(rounds, occurrences, contenders)
    report = {
        "bench": "peer",
        "date": sync_bench.dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "summary": summary,
        "rounds": rounds,
    }
    if not args.json:
        print(
            f"peer bench: {args.rounds} rounds, latency {args.latency_ms} ms, {os.cpu_count()} CPUs, "
            f"load {os.getloadavg()[0]:.1f}, recurrence {args.recurrence or 'calsync default'}"
        )
        print(render(summary, contenders))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
