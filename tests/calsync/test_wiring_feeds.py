"""`wiring.Sources` for per-mailbox feed URLs, against a real HTTP server on loopback: at most
`feed_parallelism` feeds are fetched at once, however many mailboxes are synced at the same time."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from calsync import wiring
from calsync.settings import Settings
from tests.calsync.sources.support import WINDOW, calendar, vevent

FEED = calendar(vevent("lesson-1", "DTSTART:20260302T090000Z", "DTEND:20260302T100000Z", "SUMMARY:Algebra"))


class _Feeds(http.server.BaseHTTPRequestHandler):
    """Every path is the same one-event feed, answered after 50 ms; counts requests in flight."""

    lock = threading.Lock()
    in_flight = 0
    most = 0

    def do_GET(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        time.sleep(0.05)
        with cls.lock:
            cls.in_flight -= 1
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 64
    daemon_threads = True


@pytest.fixture
def feed_server() -> Iterator[int]:
    server = _Server(("127.0.0.1", 0), _Feeds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("parallelism", [2, 6])
async def test_feeds_fetched_at_once_are_capped(feed_server: int, parallelism: int) -> None:
    """Twelve mailboxes load their feeds together; the server never sees more than feed_parallelism."""
    _Feeds.most = 0
    settings = Settings(
        ics_url_template=f"http://127.0.0.1:{feed_server}/{{upn}}.ics",  # type: ignore[arg-type]
        allow_http_feeds=True,
        allow_private_feeds=True,
        feed_parallelism=parallelism,
    )
    loader = wiring.Sources(settings).loader()
    mailboxes = [f"student{n}@uni.edu" for n in range(12)]
    snapshots = await asyncio.gather(*(loader(m, WINDOW) for m in mailboxes))
    assert [s.status for s in snapshots] == ["ok"] * 12
    assert all(len(s.events) == 1 for s in snapshots)
    assert _Feeds.most == parallelism
