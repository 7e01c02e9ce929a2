"""How fast graphemu answers, so that it is never what limits a benchmark of calsync (issue 2).

    .venv/bin/python bench/graphemu_bench.py [--mode inprocess|tls|both] [--n N] [--users U] [--repeat R]

Measures, with no injected latency or faults:
- event GETs/s: GET /users/{id}/events/{id} on events created just before;
- creates/s: POST /users/{id}/events with a realistic body (subject, text body, start/end in a Windows
  time zone, location, categories, two singleValueExtendedProperties, transactionId);
- 20-item $batch/s: each batch is 20 creates in one mailbox (graphemu runs 4 items of a batch at once per
  mailbox, as Graph does against Outlook), also reported as batch items/s.

Requests are spread round-robin over U mailboxes with at most 4 in flight per mailbox (one batch per
mailbox at a time), so Outlook's per-mailbox limits never throttle; graphemu's throttle counters are read
back and printed to prove it. Each figure is the median of R runs.

- in-process: httpx.AsyncClient over graphemu.testing.EmulatorTransport; client and server share one
  core (the process is pinned to it). A fresh world per run.
- tls: `graphemu serve` in a subprocess pinned to core 0, the client pinned to core 1, httpx over
  HTTP/1.1 keep-alive with a pool of 16 connections and 16 requests in flight. One server for all runs.

Prints a table, then one JSON line (`{"bench": "graphemu", ...}`) for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

TENANT = "0b5e7a1c-0000-4000-8000-00000000be7c"
CLIENT = "b3e7c4d2-1111-4222-8333-444444444444"
IN_FLIGHT_PER_MAILBOX = 4  # Outlook's MailboxConcurrency limit (graph-facts §7)
BATCH_SIZE = 20
FIGURES = ("gets_per_s", "sequential_gets_per_s", "creates_per_s", "batches_per_s", "batch_items_per_s",
           "cpu_us_per_get", "cpu_us_per_create", "cpu_us_per_batch")  # fmt: skip


def seed_document(users: int) -> dict[str, Any]:
    """A tenant with `users` mailboxes, an app holding Calendars.ReadWrite, and an access policy that
    scopes the app to a group of all of them (the realistic setup: the policy is checked per request)."""
    upns = [f"bench{i:03d}@bench.onmicrosoft.com" for i in range(users)]
    app = {
        "clientId": CLIENT,
        "displayName": "bench",
        "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"],
    }
    return {
        "tenants": [{"id": TENANT, "domain": "bench.onmicrosoft.com", "displayName": "Bench"}],
        "users": [{"userPrincipalName": upn, "displayName": f"Bench User {i}"} for i, upn in enumerate(upns)],
        "groups": [{"displayName": "Calendar sync", "mail": "sync@bench.onmicrosoft.com", "members": upns}],
        "apps": [app],
        "accessPolicies": [{"clientId": CLIENT, "group": "sync@bench.onmicrosoft.com"}],
    }


def event_body(i: int) -> dict[str, Any]:
    """What calsync sends for one timetable session."""
    day, hour = 1 + i % 28, 8 + i % 9
    return {
        "subject": f"Lecture {i}: Distributed Systems",
        "body": {
            "contentType": "text",
            "content": f"Week {i % 14 + 1}. Bring the reading.\nRoom may change.",
        },
        "start": {"dateTime": f"2025-03-{day:02d}T{hour:02d}:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": f"2025-03-{day:02d}T{hour + 1:02d}:30:00", "timeZone": "W. Europe Standard Time"},
        "location": {"displayName": f"Building A, Room {100 + i % 50}"},
        "categories": ["Timetable", "Lecture"],
        "singleValueExtendedProperties": [
            {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsyncKey", "value": f"key-{i}"},
            {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsyncHash", "value": f"{i:064x}"},
        ],
        "transactionId": f"bench-{time.time_ns()}-{i}",
    }


class Driver:
    """Runs indexed requests with bounded concurrency, at most 4 in flight per mailbox, and counts
    unexpected answers (any would make the figures meaningless)."""

    def __init__(self, client: httpx.AsyncClient, users: list[str], concurrency: int) -> None:
        self.client, self.users, self.concurrency = client, users, concurrency
        self.errors: list[str] = []

    async def run(
        self, n: int, per_mailbox: int, one: Callable[[int, str], Awaitable[None]], workers: int = 0
    ) -> float:
        """Call `one(i, mailbox)` for i in range(n) from `workers` tasks (default: the driver's concurrency);
        returns the wall-clock seconds taken."""
        slots = {u: asyncio.Semaphore(per_mailbox) for u in self.users}
        counter = iter(range(n))

        async def worker() -> None:
            for i in counter:
                user = self.users[i % len(self.users)]
                async with slots[user]:
                    await one(i, user)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(workers or self.concurrency, n))))
        return time.perf_counter() - started

    def check(self, response: httpx.Response, status: int) -> bool:
        if response.status_code != status:
            self.errors.append(f"{response.request.method} {response.status_code} {response.text[:200]}")
            return False
        return True


async def measure(
    client: httpx.AsyncClient, users: list[str], n: int, concurrency: int, cpu: Callable[[], float]
) -> dict[str, Any]:
    """One run of the three measurements against a client that already holds a token. `cpu` reads the
    CPU seconds the server has used (in-process: this process, so the client's share is included)."""
    driver = Driver(client, users, concurrency)
    created: dict[str, list[str]] = {u: [] for u in users}

    async def create(i: int, user: str) -> None:
        response = await client.post(f"users/{user}/events", json=event_body(i))
        if driver.check(response, 201):
            created[user].append(response.json()["id"])

    async def get(i: int, user: str) -> None:
        mine = created[user]
        driver.check(await client.get(f"users/{user}/events/{mine[i // len(users) % len(mine)]}"), 200)

    async def batch(i: int, user: str) -> None:
        requests = [
            {"id": str(k + 1), "method": "POST", "url": f"/users/{user}/events",
             "headers": {"Content-Type": "application/json"}, "body": event_body(i * BATCH_SIZE + k)}
            for k in range(BATCH_SIZE)
        ]  # fmt: skip
        response = await client.post("$batch", json={"requests": requests})
        if driver.check(response, 200):
            bad = [r for r in response.json()["responses"] if r["status"] != 201]
            driver.errors.extend(f"batch item {r['status']} {json.dumps(r.get('body'))[:200]}" for r in bad)

    async def timed(
        count: int, per_mailbox: int, one: Callable[[int, str], Awaitable[None]]
    ) -> tuple[float, float]:
        """(requests per second, server CPU microseconds per request)."""
        used = cpu()
        seconds = await driver.run(count, per_mailbox, one)
        return count / seconds, (cpu() - used) / count * 1e6

    await driver.run(min(n, 40), IN_FLIGHT_PER_MAILBOX, create)  # warm-up: imports, caches, connections
    await driver.run(min(n, 40), IN_FLIGHT_PER_MAILBOX, get)
    for mine in created.values():
        mine.clear()
    creates, create_cpu = await timed(n, IN_FLIGHT_PER_MAILBOX, create)
    gets, get_cpu = await timed(n, IN_FLIGHT_PER_MAILBOX, get)
    sequential = max(20, n // 10)  # one request at a time: shows per-request latency (and stalls)
    sequential_gets = sequential / await driver.run(sequential, 1, get, workers=1)
    batches, batch_cpu = await timed(max(1, n // BATCH_SIZE), 1, batch)
    return {
        "gets_per_s": gets,
        "sequential_gets_per_s": sequential_gets,
        "creates_per_s": creates,
        "batches_per_s": batches,
        "batch_items_per_s": batches * BATCH_SIZE,
        "cpu_us_per_get": get_cpu,
        "cpu_us_per_create": create_cpu,
        "cpu_us_per_batch": batch_cpu,
        "errors": driver.errors,
    }


async def _token_and_users(control: httpx.AsyncClient) -> tuple[str, list[str]]:
    """An app-only token from the control API, and the mailbox ids in seed order."""
    response = await control.post("/_emu/tokens", json={"clientId": CLIENT})
    response.raise_for_status()
    token = str(response.json()["access_token"])
    listing = await control.get(
        "/v1.0/users", params={"$top": "999"}, headers={"Authorization": f"Bearer {token}"}
    )
    listing.raise_for_status()
    users = sorted(listing.json()["value"], key=lambda u: u["userPrincipalName"])
    return token, [u["id"] for u in users]


async def _counters(control: httpx.AsyncClient) -> dict[str, int]:
    counters = (await control.get("/_emu/counters")).json()
    return {k: counters[k] for k in ("throttled_mailbox_concurrency", "throttled_window", "injected_faults")}


async def inprocess_run(n: int, users: int, concurrency: int = 16) -> dict[str, Any]:
    """One in-process run against a fresh world: graphemu and the httpx client on this event loop."""
    from graphemu import create_app, world_from_seed
    from graphemu.testing import EmulatorTransport

    app = create_app(world_from_seed(seed_document(users)))
    base = "https://graph.microsoft.com"
    async with httpx.AsyncClient(transport=EmulatorTransport(app), base_url=base) as control:
        token, ids = await _token_and_users(control)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=EmulatorTransport(app), base_url=f"{base}/v1.0/", headers=headers
        ) as client:
            result = await measure(client, ids, n, concurrency, time.process_time)
        result["throttled"] = await _counters(control)
    return result


@contextmanager
def tls_server(users: int, core: int | None) -> Iterator[dict[str, Any]]:
    """`graphemu serve` on a free port over TLS in a subprocess, pinned to `core` with taskset where there is
    one; yields the ready file plus the server's pid."""
    with tempfile.TemporaryDirectory(prefix="graphemu-bench-") as tmp:
        seed, ready = Path(tmp, "seed.json"), Path(tmp, "ready.json")
        seed.write_text(json.dumps(seed_document(users)), encoding="utf-8")
        command = [sys.executable, "-m", "graphemu", "serve", "--port", "0", "--seed", str(seed),
                   "--tls-dir", str(Path(tmp, "tls")), "--ready-file", str(ready)]  # fmt: skip
        if core is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(core), *command]  # taskset execs: the pid stays the server's
        paths = [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"graphemu serve did not start (exit code {server.returncode})")
                time.sleep(0.05)
            yield {**json.loads(ready.read_text(encoding="utf-8")), "pid": server.pid}
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def process_cpu(pid: int) -> Callable[[], float]:
    """A reader of the CPU seconds (user + system) another process has used, from /proc (NaN elsewhere)."""
    stat, ticks = Path(f"/proc/{pid}/stat"), os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def read() -> float:
        if not stat.exists():
            return float("nan")
        fields = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime and stime: fields 14 and 15 of stat(5)

    return read


async def tls_runs(info: dict[str, Any], n: int, repeat: int, connections: int = 16) -> list[dict[str, Any]]:
    """`repeat` runs over TLS against a running server: HTTP/1.1 keep-alive, `connections` in the pool."""
    verify = ssl.create_default_context(cafile=info["ca"])
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=info["base"], verify=verify, limits=limits) as control:
        token, ids = await _token_and_users(control)
        headers = {"Authorization": f"Bearer {token}"}
        results = []
        async with httpx.AsyncClient(
            base_url=f"{info['graph']}/", verify=verify, limits=limits, headers=headers, timeout=60
        ) as client:
            for _ in range(repeat):
                before = await _counters(control)
                result = await measure(client, ids, n, connections, process_cpu(info["pid"]))
                after = await _counters(control)
                result["throttled"] = {k: after[k] - before[k] for k in after}
                results.append(result)
    return results


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the figures, every run's figures, and the sum of errors and throttles."""
    summary: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 1) for k in FIGURES}
    summary["runs"] = [{k: round(r[k], 1) for k in FIGURES} for r in runs]
    summary["errors"] = sum(len(r["errors"]) for r in runs)
    summary["first_errors"] = [e for r in runs for e in r["errors"]][:3]
    summary["throttled"] = {k: sum(r["throttled"][k] for r in runs) for k in runs[0]["throttled"]}
    return summary


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "loadavg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _pin(core: int | None) -> str:
    """Pin this process to `core` where the OS allows it; says what happened."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    os.sched_setaffinity(0, {core})
    return f"core {core}"


def render(results: dict[str, dict[str, Any]], info: dict[str, Any]) -> str:
    host = info["machine"]
    lines = [
        f"graphemu benchmark {info['date']}: nproc {host['nproc']}, Python {host['python']}, "
        f"{host['platform']}, load {host['loadavg_1min']} at start; n={info['n']} per figure, "
        f"{info['users']} mailboxes, median of {info['repeat']} runs, no injected latency",
        f"{'mode':<11}{'GETs/s':>8}{'1-by-1':>8}{'creates/s':>10}{'batches/s':>10}{'items/s':>8}"
        f"{'CPU µs/GET':>11}{'/create':>8}{'/batch':>8}{'errors':>7}{'throttled':>10}  pinning",
    ]
    for mode, r in results.items():
        lines.append(
            f"{mode:<11}{r['gets_per_s']:>8.0f}{r['sequential_gets_per_s']:>8.0f}{r['creates_per_s']:>10.0f}"
            f"{r['batches_per_s']:>10.1f}{r['batch_items_per_s']:>8.0f}{r['cpu_us_per_get']:>11.0f}"
            f"{r['cpu_us_per_create']:>8.0f}{r['cpu_us_per_batch']:>8.0f}{r['errors']:>7}"
            f"{sum(r['throttled'].values()):>10}  {r['pinning']}"
        )
        lines.extend(f"  error: {e}" for e in r["first_errors"])
    lines.append(
        "1-by-1: GETs/s with one request in flight (latency-bound). CPU µs: the server process's CPU time "
        "per request (in-process it includes the httpx client's share)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=("inprocess", "tls", "both"), default="both")
    parser.add_argument("--n", type=int, default=2000, help="GETs and creates per run; batches are n/20")
    parser.add_argument("--users", type=int, default=50, help="mailboxes the requests are spread over")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; figures are medians")
    parser.add_argument("--no-pin", action="store_true", help="leave CPU affinity alone")
    args = parser.parse_args(argv)
    host = machine()  # before pinning narrows the CPUs allowed
    pinnable = hasattr(os, "sched_getaffinity") and not args.no_pin
    allowed = sorted(os.sched_getaffinity(0)) if pinnable else []
    server_core = allowed[0] if allowed else None
    client_core = allowed[1] if len(allowed) > 1 else server_core
    results: dict[str, dict[str, Any]] = {}
    if args.mode in ("tls", "both"):
        with tls_server(args.users, server_core) as ready:
            pinned = _pin(client_core)
            runs = asyncio.run(tls_runs(ready, args.n, args.repeat))
        server = "not pinned" if server_core is None else f"core {server_core}"
        results["tls"] = {**summarise(runs), "pinning": f"server {server}, client {pinned}"}
    if args.mode in ("inprocess", "both"):
        pinned = _pin(server_core)
        runs = [asyncio.run(inprocess_run(args.n, args.users)) for _ in range(args.repeat)]
        results = {"inprocess": {**summarise(runs), "pinning": f"client and server on {pinned}"}, **results}
    info = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": host, "n": args.n,
            "users": args.users, "repeat": args.repeat}  # fmt: skip
    print(render(results, info))
    print(json.dumps({"bench": "graphemu", **info, "results": results}))
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
