"""The REST API under load (issue 11, "Speed"): E upserts from C concurrent API clients against `calsync
serve`, with graphemu answering every Graph request after L ms.

    .venv/bin/python bench/api_bench.py [--events 10000] [--clients 100] [--mailboxes 20] [--latency-ms 30]
                                        [--json]

Setup (not measured): a temporary directory with a certificate (calsync.certs.create_certificate), a
graphemu seed of M mailboxes, `graphemu serve --latency-ms L` over TLS in a subprocess, a calsync.toml on
SQLite naming the M mailboxes (an empty iCalendar file as their feed: nothing else writes), a key made
by `calsync api-keys create --json`, and `calsync serve` in a subprocess on a loopback port (the embedded
runtime: the serve process itself writes to Graph). The primary calendar of each mailbox is read through
`GET /v1/calendars`.

Measured: C client tasks in this process (each its own HTTP connection) send the E upserts, event i to
mailbox i mod M with `event_id` ev-i and its own hour in 2027, as fast as the answers come:
- accepted/s: E / (first request sent .. last 202 received);
- p50 / p99 of the time each POST took to be answered 202 (anything else is counted and printed);
- time until all are in Graph: from the first request until graphemu holds E events (polled every
  0.2 s through its control API), and how long after the last 202 that was;
- requests per event: the HTTP requests calsync made to graphemu from the first POST until then
  (graphemu's request log; a `$batch` counts once, its items are printed separately), divided by E;
- duplicates: events in graphemu beyond one per (mailbox, event_id) tag, which must be 0, and events
  missing.

Prints a table, then one JSON line (`{"bench": "api", ...}`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TENANT = "5a1c0e9d-1111-4222-8333-444455556666"
CLIENT = "c0ffee00-aaaa-4bbb-8ccc-dddddddddddd"
DOMAIN = "bench.example"
EMPTY_ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//api//EN\r\nEND:VCALENDAR\r\n"


def upn(n: int) -> str:
    return f"u{n:03d}@{DOMAIN}"


def seed(mailboxes: int, pem: str) -> dict[str, Any]:
    return {
        "tenants": [{"id": TENANT, "domain": DOMAIN}],
        "users": [{"userPrincipalName": upn(n)} for n in range(mailboxes)],
        "apps": [{"clientId": CLIENT, "certificates": [{"pem": pem}],
                  "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"]}],
    }  # fmt: skip


def start_graphemu(
    workdir: Path, mailboxes: int, latency_ms: float, pem: str
) -> tuple[subprocess.Popen[bytes], Any]:
    seed_file, ready = workdir / "seed.json", workdir / "ready.json"
    seed_file.write_text(json.dumps(seed(mailboxes, pem)))
    command = [sys.executable, "-m", "graphemu", "serve", "--port", "0", "--seed", str(seed_file),
               "--ready-file", str(ready), "--latency-ms", str(latency_ms),
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
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(workdir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    return {**clean, "CALSYNC_CONFIG": str(workdir / "calsync.toml")}


def write_config(workdir: Path, info: Any, cert: Any, mailboxes: int) -> None:
    (workdir / "empty.ics").write_text(EMPTY_ICS)
    names = json.dumps([upn(n) for n in range(mailboxes)])
    (workdir / "calsync.toml").write_text(
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\ncertificate_file = "{cert.certificate}"\n'
        f'private_key_file = "{cert.private_key}"\nauthority_host = "{info["base"]}"\n'
        f'graph_url = "{info["graph"]}"\nca_file = "{info["ca"]}"\n'
        f'database_url = "sqlite:///{workdir / "state.db"}"\nmailboxes = {names}\n'
        f'ics_file = "{workdir / "empty.ics"}"\n'
    )


def event(i: int, mailboxes: int) -> dict[str, Any]:
    start = dt.datetime(2027, 1, 4, 8, tzinfo=dt.UTC) + dt.timedelta(hours=i // mailboxes)
    return {
        "event_id": f"ev-{i}",
        "summary": f"Session {i}",
        "description": "Benchmark event.",
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": (start + dt.timedelta(minutes=45)).isoformat().replace("+00:00", "Z"),
        "tzid": "Europe/Berlin",
        "location": {"description": f"Room {i % 40}"},
        "categories": ["Lecture"],
    }


async def load(base: str, key: str, calendars: list[str], events: int, clients: int) -> dict[str, Any]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(events):
        queue.put_nowait(i)
    latencies: list[float] = []
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                url = f"/v1/calendars/{calendars[i % len(calendars)]}/events"
                sent = time.perf_counter()
                answer = await http.post(url, json=event(i, len(calendars)))
                latencies.append(time.perf_counter() - sent)
                if answer.status_code != 202:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {
        "started": started,
        "accepted_at": time.perf_counter(),
        "latencies": latencies,
        "failures": failures,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from calsync.certs import create_certificate

    with tempfile.TemporaryDirectory(prefix="calsync-api-bench-") as tmp:
        workdir = Path(tmp)
        cert = create_certificate(workdir / "cert")
        graphemu, info = start_graphemu(
            workdir, args.mailboxes, args.latency_ms, cert.certificate.read_text()
        )
        control = httpx.Client(
            base_url=info["base"], verify=ssl.create_default_context(cafile=info["ca"]), timeout=600
        )
        write_config(workdir, info, cert, args.mailboxes)
        made = subprocess.run([str(BIN / "calsync"), "api-keys", "create", "bench", "--json"],
                              env=env(workdir),
                              capture_output=True, check=True)  # fmt: skip
        key = json.loads(made.stdout)["key"]
        port = free_port()
        log = (workdir / "serve.log").open("wb")
        serve = subprocess.Popen([str(BIN / "calsync"), "serve", "--port", str(port)], env=env(workdir),
                                 stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise SystemExit(
                        "calsync serve did not become ready:\n" + (workdir / "serve.log").read_text()
                    )
                time.sleep(0.1)
            listed = httpx.get(
                f"{base}/v1/calendars", headers={"Authorization": f"Bearer {key}"}, timeout=120
            )
            calendars = [c["calendar_id"] for c in listed.json()["calendars"] if c["calendar_primary"]]
            time.sleep(2.0)  # the scheduler's first round (an empty feed) is over
            seq = max([e["seq"] for e in control.get("/_emu/requests").json()["value"]], default=0)
            cpu0 = (cpu_seconds(serve.pid), cpu_seconds(graphemu.pid), time.process_time())
            try:
                result = asyncio.run(load(base, key, calendars, args.events, args.clients))
            except httpx.TransportError:
                print((workdir / "serve.log").read_text()[-3000:], file=sys.stderr)
                raise
            total = 0
            deadline = time.monotonic() + 1800
            while total < args.events and time.monotonic() < deadline:
                total = int(control.get("/_emu/state").json()["events"])
                if total < args.events:
                    time.sleep(0.2)
            in_graph_at = time.perf_counter()
            lat = result["latencies"]
            accepted, landed = result["accepted_at"] - result["started"], in_graph_at - result["started"]
            p50 = statistics.median(lat)
            note = f"accepted in {accepted:.1f} s, p50 {p50:.3f} s, in Graph after {landed:.1f} s"
            print(note, file=sys.stderr, flush=True)
            cpu1 = (cpu_seconds(serve.pid), cpu_seconds(graphemu.pid), time.process_time())
            log_entries = control.get("/_emu/requests", params={"since": seq}).json()["value"]
            duplicates, present = 0, 0
            for n in range(args.mailboxes):
                events = control.get(f"/_emu/events/{upn(n)}").json()["value"]
                tags = [
                    v for e in events for k, v in (e.get("extended") or {}).items() if "sourceKey.api." in k
                ]
                present += len(set(tags))
                duplicates += len(tags) - len(set(tags))
        finally:
            serve.terminate()
            serve.wait(60)
            log.close()
            graphemu.terminate()
            graphemu.wait(30)

    lat = result["latencies"]
    accept_s = result["accepted_at"] - result["started"]
    figures = {
        "bench": "api",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": round(os.getloadavg()[0], 1),
        "events": args.events,
        "clients": args.clients,
        "mailboxes": args.mailboxes,
        "latency_ms": args.latency_ms,
        "accepted_per_s": round(args.events / accept_s, 1),
        "p50_ms": round(1000 * statistics.median(lat), 1),
        "p99_ms": round(1000 * pct(lat, 0.99), 1),
        "non_202": len(result["failures"]),
        "all_in_graph_s": round(in_graph_at - result["started"], 1),
        "after_last_202_s": round(in_graph_at - result["accepted_at"], 1),
        "http_requests": sum(1 for e in log_entries if not e.get("in_batch")),
        "batch_items": sum(1 for e in log_entries if e.get("in_batch")),
        "events_in_graph": present,
        "serve_cpu_s": round(cpu1[0] - cpu0[0], 1),
        "graphemu_cpu_s": round(cpu1[1] - cpu0[1], 1),
        "clients_cpu_s": round(cpu1[2] - cpu0[2], 1),
        "duplicates": duplicates,
        "missing": args.events - present,
    }
    figures["requests_per_event"] = round(figures["http_requests"] / args.events, 3)
    if not args.json:
        print(
            f"{args.events} upserts, {args.clients} clients, {args.mailboxes} mailboxes, "
            f"{args.latency_ms:g} ms, load average {figures['load_average']}"
        )
        for name in ("accepted_per_s", "p50_ms", "p99_ms", "non_202", "all_in_graph_s", "after_last_202_s",
                     "http_requests", "batch_items", "requests_per_event", "duplicates", "missing",
                     "serve_cpu_s", "graphemu_cpu_s", "clients_cpu_s"):  # fmt: skip
            print(f"  {name:<20} {figures[name]}")
        for failure in result["failures"][:5]:
            print("  failure:", failure)
    print(json.dumps(figures))
    if figures["duplicates"] or figures["missing"] or figures["non_202"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
