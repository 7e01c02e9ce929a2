"""How the Graph client does at bulk creates (issue 3): 10,000 events across 100 mailboxes via `$batch`.

    .venv/bin/python bench/graph_client_bench.py [--events 10000] [--mailboxes 100] [--latency-ms 20]
                                                 [--rate-limit 2000] [--fault-rate 0] [--json]

graphemu runs as a separate process (`graphemu serve` over TLS, with the injected latency); the client
gets its token from graphemu's identity platform with a client secret (msal, CA file honoured), then
sends every create through `GraphClient.batch` (batches of 20, one mailbox each, a transactionId on each
create). Reported:

- HTTP requests sent per event (the client's count of HTTP exchanges, token requests included);
- wall time of the whole run;
- client CPU time per event (`time.process_time` of this process, which runs only the client);
- Retry-After violations, read from graphemu's counters (GET /_emu/counters), and the events stored.

Targets (issue 3): at most 0.06 requests per event, zero violations, client CPU well under 1 ms per event.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from calsync.graph import AppTokenProvider, BatchItem, ClientSecretCredential, EntraApp, GraphClient

ROOT = Path(__file__).resolve().parent.parent
TENANT = "8f3a1d2e-0000-4000-8000-00000000c0de"
CLIENT = "11111111-2222-4333-8444-555555555555"
SECRET = "bench-secret-value"


def seed(mailboxes: int) -> dict[str, Any]:
    """A tenant with `mailboxes` users and one app allowed to write their calendars."""
    return {
        "tenants": [{"id": TENANT, "domain": "contoso.onmicrosoft.com", "displayName": "Contoso"}],
        "users": [
            {"userPrincipalName": f"user{n:03d}@contoso.onmicrosoft.com", "displayName": f"User {n}"}
            for n in range(mailboxes)
        ],
        "apps": [
            {
                "clientId": CLIENT,
                "displayName": "calsync bench",
                "secrets": [{"value": SECRET}],
                "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"],
            }
        ],
    }


def event_body(n: int) -> dict[str, Any]:
    """A realistic timetable entry (Windows time zone, body, location, the ownership tag)."""
    day, slot = divmod(n, 8)
    begin = dt.datetime(2025, 3, 3, 8) + dt.timedelta(days=day % 365, hours=slot)
    start, end = begin.isoformat(), (begin + dt.timedelta(minutes=45)).isoformat()
    return {
        "subject": f"Lesson {n}",
        "body": {"contentType": "text", "content": "Room change notices appear here."},
        "start": {"dateTime": start, "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": end, "timeZone": "W. Europe Standard Time"},
        "location": {"displayName": f"Room {100 + n % 40}"},
        "categories": ["Timetable"],
        "singleValueExtendedProperties": [
            {"id": "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name calsyncKey", "value": f"lesson-{n}"}
        ],
    }


def start_server(workdir: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """`graphemu serve` in a subprocess; returns it and the ready-file contents."""
    seed_file, ready = workdir / "seed.json", workdir / "ready.json"
    seed_file.write_text(json.dumps(seed(args.mailboxes)))
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
        str(args.latency_ms),
        "--tls-dir",
        str(workdir / "tls"),
    ]
    if args.fault_rate:
        command += ["--fault-rate", str(args.fault_rate), "--seed-faults", "1"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text().strip():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("graphemu serve did not become ready")
        time.sleep(0.05)
    return server, json.loads(ready.read_text())


async def run(args: argparse.Namespace, info: dict[str, Any]) -> dict[str, Any]:
    import ssl

    context = ssl.create_default_context(cafile=info["ca"])
    control = httpx.AsyncClient(base_url=info["base"], verify=context)
    await control.post("/_emu/counters/reset")
    provider = AppTokenProvider(
        EntraApp(
            TENANT,
            CLIENT,
            ClientSecretCredential.from_value(SECRET),
            authority_host=info["login"],
            ca_file=info["ca"],
        )
    )
    users = [f"user{n:03d}@contoso.onmicrosoft.com" for n in range(args.mailboxes)]
    run_id = uuid.uuid4().hex[:8]
    items = [
        BatchItem.create_event(users[n % args.mailboxes], event_body(n), transaction_id=f"bench-{run_id}-{n}")
        for n in range(args.events)
    ]
    graph = GraphClient(provider, base_url=info["graph"], verify=info["ca"], rate_limit=args.rate_limit)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    async with graph:
        results = await graph.batch(items)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    counters = (await control.get("/_emu/counters")).json()
    state = (await control.get("/_emu/state")).json()
    await control.aclose()
    await provider.aclose()
    failed = [r for r in results if not r.ok]
    kinds: dict[str, int] = {}
    for r in failed:
        key = f"{type(r.error).__name__} {r.status} {getattr(r.error, 'code', '')} {r.error}"[:160]
        kinds[key] = kinds.get(key, 0) + 1
    http_requests = graph.requests_sent + provider.token_requests
    return {
        "bench": "graph_client",
        "events": args.events,
        "mailboxes": args.mailboxes,
        "latency_ms": args.latency_ms,
        "fault_rate": args.fault_rate,
        "failed": len(failed),
        "failures": kinds,
        "events_stored": state["events"],
        "http_requests": http_requests,
        "requests_per_event": round(http_requests / args.events, 4),
        "wall_seconds": round(wall, 2),
        "events_per_second": round(args.events / wall),
        "client_cpu_ms_per_event": round(cpu * 1000 / args.events, 4),
        "retry_after_violations": counters["retry_after_violations"],
        "throttled_mailbox_concurrency": counters["throttled_mailbox_concurrency"],
        "max_in_flight_per_mailbox": counters["max_in_flight_per_mailbox"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rate-limit", type=float, default=2000.0, help="client's global requests/s")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, info = start_server(Path(tmp), args)
        try:
            result = asyncio.run(run(args, info))
        finally:
            server.terminate()
            server.wait(10)
    if not args.json:
        r = result
        print(f"events                      {r['events']} across {r['mailboxes']} mailboxes")
        print(f"HTTP requests per event     {r['requests_per_event']}  ({r['http_requests']} requests)")
        print(f"wall time                   {r['wall_seconds']} s  ({r['events_per_second']} events/s)")
        print(f"client CPU per event        {r['client_cpu_ms_per_event']} ms")
        print(f"Retry-After violations      {r['retry_after_violations']}")
        print(f"failed / stored             {r['failed']} / {r['events_stored']}")
        print(f"max in flight per mailbox   {r['max_in_flight_per_mailbox']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
