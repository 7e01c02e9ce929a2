"""Publish-to-arrival latency of push notifications, to a loopback subscriber that verifies each one.

    .venv/bin/python bench/push_bench.py [--n 300] [--burst 1000] [--url postgresql+psycopg://...] [--json]

What is timed: from the moment `calsync.services.push.publish_calendar_changed` is called (the outbox
row written, the deliverer woken) to the moment the signed POST arrives at a subscriber on 127.0.0.1
(a ThreadingHTTPServer, which then verifies it with the `standardwebhooks` package; a notification that
does not verify fails the run).

Modes:
- `sqlite`: `calsync serve`'s embedded delivery loop (calsync.runtime.pushloop) on a SQLite file;
- `postgres-loop`: the same loop on PostgreSQL (with --url);
- `postgres-worker`: the PostgreSQL path of `calsync worker`: publish defers a Procrastinate job
  (calsync.runtime.jobs.defer_push), a worker in the same process picks it up through LISTEN/NOTIFY and
  delivers (with --url).

Per mode: `--n` notifications one after the other (each waits for its arrival: the latency a subscriber
sees on a quiet system; median, p99, max), then a burst of `--burst` published back to back and the time
until the last one arrived (throughput). One JSON line at the end with everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook

from calsync.runtime import jobs
from calsync.runtime.pushloop import PushLoop
from calsync.runtime.worker import defer_push_on_publish, push_handler
from calsync.services import Deployment, open_deployment, push
from calsync.settings import Settings


class Subscriber:
    """Records the arrival time of each POST, then verifies its signature."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrivals: list[float] = []
        self.bad = 0
        self.lock = threading.Lock()
        self.waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[float], int] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                try:
                    Webhook(outer.secret).verify(body, dict(self.headers.items()))
                except Exception:
                    outer.bad += 1
                    return
                outer.arrived(arrived)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arrived(self, at: float) -> None:
        with self.lock:
            self.arrivals.append(at)
            waiter = self.waiter
            if waiter is not None and len(self.arrivals) >= waiter[2]:
                loop, future, _ = waiter
                self.waiter = None
                loop.call_soon_threadsafe(lambda: future.done() or future.set_result(at))

    async def until(self, count: int) -> float:
        """The arrival time of the `count`th verified notification (waiting for it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        with self.lock:
            if len(self.arrivals) >= count:
                return self.arrivals[count - 1]
            self.waiter = (loop, future, count)
        return await asyncio.wait_for(future, 60)


@asynccontextmanager
async def delivering(mode: str, deployment: Deployment) -> AsyncIterator[None]:
    if mode != "postgres-worker":
        loop = PushLoop(push.deliverer(deployment))
        deployment.outbox_listeners.append(loop.wake)
        loop.start()
        try:
            yield
        finally:
            await loop.stop()
        return
    deliverer = push.deliverer(deployment)
    deliver = push_handler(deployment, deliverer)

    async def no_sync(scope: str, full: bool) -> str:
        return "ok"

    async def no_mailboxes() -> list[str]:
        return []  # this bench has no tenant: the periodic fan-out finds nothing to sync

    app = jobs.build_app(
        jobs.conninfo_from_url(deployment.settings.database_url),
        jobs.JobHandlers(no_sync, no_mailboxes, deliver),
    )
    defer_push_on_publish(deployment, app)
    async with app.open_async():
        await jobs.ensure_schema(app)
        worker = asyncio.create_task(
            app.run_worker_async(concurrency=4, install_signal_handlers=False, fetch_job_polling_interval=5.0)
        )
        await asyncio.sleep(1.0)  # the worker registers and LISTENs
        try:
            yield
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await deliverer.aclose()


async def run_mode(mode: str, url: str, n: int, burst: int) -> dict[str, Any]:
    subscriber = Subscriber()
    settings = Settings(
        database_url=url,
        token_keys=Fernet.generate_key().decode(),
        push_allow_private_callbacks=True,
        push_allow_http_callbacks=True,
    )
    async with open_deployment(settings) as deployment:
        made = await push.create_channel(deployment, owner="bench", callback_url=subscriber.url)
        subscriber.secret = made.secret
        async with delivering(mode, deployment):

            async def publish() -> None:
                await push.publish_calendar_changed(
                    deployment,
                    profile_id="pro_bench",
                    calendar_ids=["cal_x"],
                    changes_since=deployment.clock(),
                )

            for i in range(10):  # warm-up, not counted
                await publish()
                await subscriber.until(i + 1)
            base = len(subscriber.arrivals)
            latencies = []
            for i in range(n):
                started = time.perf_counter()
                await publish()
                latencies.append((await subscriber.until(base + i + 1)) - started)
            base = len(subscriber.arrivals)
            started = time.perf_counter()
            for _ in range(burst):
                await publish()
            published = time.perf_counter() - started
            last = await subscriber.until(base + burst)
    subscriber.server.shutdown()
    subscriber.server.server_close()
    ms = sorted(x * 1000 for x in latencies)
    return {
        "mode": mode,
        "n": n,
        "median_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "max_ms": round(ms[-1], 2),
        "burst": burst,
        "burst_publish_s": round(published, 3),
        "burst_all_arrived_s": round(last - started, 3),
        "burst_per_s": round(burst / (last - started), 1),
        "unverified": subscriber.bad,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--url", default=os.environ.get("CALSYNC_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true", help="only the JSON line")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(await run_mode("sqlite", f"sqlite:///{Path(tmp) / 'state.db'}", args.n, args.burst))
    if args.url:
        import sqlalchemy as sa

        from calsync.store import make_engine
        from calsync.store.engine import database_url

        base = database_url(args.url)
        admin = make_engine(base)
        for mode in ("postgres-loop", "postgres-worker"):
            schema = f"push_bench_{uuid.uuid4().hex[:10]}"
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            try:
                url = base.update_query_dict({"options": f"-csearch_path={schema}"})
                results.append(
                    await run_mode(mode, url.render_as_string(hide_password=False), args.n, args.burst)
                )
            finally:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    if not args.json:
        for r in results:
            print(
                f"{r['mode']:>16}: {r['n']} one at a time: median {r['median_ms']} ms, p99 {r['p99_ms']} ms, "
                f"max {r['max_ms']} ms; burst of {r['burst']}: all arrived in {r['burst_all_arrived_s']} s "
                f"({r['burst_per_s']}/s; publishing took {r['burst_publish_s']} s); "
                f"unverified {r['unverified']}"
            )
    print(json.dumps({"python": platform.python_version(), "cpus": os.cpu_count(), "results": results}))
    if any(r["unverified"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
