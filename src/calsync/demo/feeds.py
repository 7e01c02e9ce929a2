"""A tiny timetable server for the demo: GET /ical/{upn}.ics serves that person's current feed.

It stands in for the timetabling system a university runs; it listens on loopback only, which is why
the demo's configuration allows private feed addresses (production configurations do not).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from calsync.demo.timetable import Timetable, feed


class FeedServer:
    """Serves `timetable` (which the demo edits between runs) until `stop()`."""

    def __init__(self, timetable: Timetable) -> None:
        self.timetable = timetable
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                path = unquote(self.path.split("?", 1)[0])
                if not (path.startswith("/ical/") and path.endswith(".ics")):
                    self.send_error(404)
                    return
                body = feed(owner.timetable, path[len("/ical/") : -len(".ics")])
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the demo prints its own progress

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-feeds", daemon=True)

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/ical/{{upn}}.ics"

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
