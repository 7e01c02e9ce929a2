"""A loopback iCalendar feed server for tests that fetch feeds by URL (ics_url_template).

Every path answers the same body with an ETag; a request whose If-None-Match matches the current ETag is
answered 304, as a timetable server does, so a second sync of an unchanged feed skips the mailbox. The body
can be replaced between runs (`publish`), and every request line is kept (`requests`) so a test can check
that the feed was asked at all, and with which query.

For feed authentication and error paths: `require` = (header, value) answers 401 to a request without
that exact header; every request's Authorization and custom headers are kept (`headers`); `status` set to
an error code answers it instead of the feed; `redirect` answers 302 to that URL (but not to a request
for that URL's own path, so a server may redirect to itself).
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class FeedServer:
    """`with FeedServer(body) as feed:` serves `body` on http://127.0.0.1:{feed.port}/<any path>."""

    def __init__(self, body: str) -> None:
        self._lock = threading.Lock()
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.full_downloads = 0
        self.require: tuple[str, str] | None = None
        self.status = 200
        self.redirect: str | None = None
        self.publish(body)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests.append(self.path)
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                    body, etag = owner._body, owner._etag
                    presented = self.headers.get(owner.require[0]) if owner.require else None
                    refusal = owner._refusal(presented, self.path)
                if refusal is not None:
                    self.send_response(refusal)
                    if refusal == 302:
                        self.send_header("Location", str(owner.redirect))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with owner._lock:
                    if self.headers.get("If-None-Match") == etag:
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    owner.full_downloads += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="feed-server", daemon=True
        )  # a short poll interval: shutdown() waits for one

    def _refusal(self, presented: str | None, path: str) -> int | None:
        """The status to answer instead of the feed, if any (called under the lock)."""
        if self.require is not None and presented != self.require[1]:
            return 401
        if self.redirect is not None and not self.redirect.endswith(path):
            return 302
        return None if self.status == 200 else self.status

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def publish(self, body: str) -> None:
        """Serve `body` from now on, with a new ETag (so the next conditional request gets it in full)."""
        data = body.encode()
        with self._lock:
            self._body, self._etag = data, f'"{hashlib.sha256(data).hexdigest()[:16]}"'

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
