"""A real loopback HTTP receiver for push deliveries, in a thread, that verifies each one with the
`standardwebhooks` package the way a subscriber would.

Each path behaves as a kind of subscriber: `/ok/...` answers 204; `/status/<code>/...` answers that code
(with `Retry-After` from `?retry_after=`); `/slow/<seconds>/...` answers 200 after a pause;
`/flaky/<n>/...` fails n times with 500, then answers 200. `script` can switch a path's behaviour while
a test runs (a receiver that comes back up). Every request is recorded with its verdict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    verified: Any = None  # the parsed payload when a secret for the path was known and it verified
    error: str | None = None


@dataclass
class Receiver:
    base: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # path prefix -> whsec_ secret
    requests: list[Received] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def delivered(self, prefix: str = "/") -> list[Received]:
        """Requests answered 2xx whose signature verified."""
        return [
            r for r in self.requests if r.path.startswith(prefix) and 200 <= r.status < 300 and r.verified
        ]

    def wait_for(self, count: int, prefix: str = "/", timeout: float = 10.0) -> list[Received]:
        """Block until `count` verified deliveries under `prefix` arrived (or fail after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.delivered(prefix)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.delivered(prefix))} of {count} deliveries arrived")
                self.arrived.wait(left)
        return self.delivered(prefix)

    def _verify(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, str | None]:
        for prefix, secret in self.secrets.items():
            if path.startswith(prefix):
                try:
                    return Webhook(secret).verify(body, headers), None
                except WebhookVerificationError as exc:
                    return None, str(exc)
        return None, "no secret known for this path"

    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        kind = parts[0] if parts else "ok"
        extra: dict[str, str] = {}
        if "retry_after" in query:
            extra["Retry-After"] = query["retry_after"][0]
        if kind == "status":
            return int(parts[1]), extra
        if kind == "slow":
            time.sleep(float(parts[1]))
            return 200, extra
        if kind == "flaky":
            left = self.failures_left.setdefault(path, int(parts[1]))
            if left > 0:
                self.failures_left[path] = left - 1
                return 500, extra
            return 200, extra
        return 204, extra

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", "0"))
        body = handler.rfile.read(length)
        split = urlsplit(handler.path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        status, extra = self._answer(split.path, parse_qs(split.query))
        verified, error = self._verify(split.path, headers, body)
        # Recorded before answering: once the sender has its answer, the test may look.
        with self.arrived:
            self.requests.append(Received(split.path, headers, body, status, verified, error))
            self.arrived.notify_all()
        try:
            handler.send_response(status)
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:  # the sender gave up (its timeout); still recorded as received
            pass


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default backlog of 5 refuses a deliverer's parallel connections

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="push-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
