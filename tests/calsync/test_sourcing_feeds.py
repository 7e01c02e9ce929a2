"""`sourcing.Sources` for per-mailbox feed URLs, against a real HTTP server on loopback: at most
`feed_parallelism` feeds are fetched at once, however many mailboxes are synced at the same time."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calsync import wiring
from calsync.services import sourcing
from calsync.settings import Settings, SettingsError, load_settings
from calsync.sync.engine import SourceSnapshot
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
    loader = sourcing.Sources(settings).loader()
    mailboxes = [f"student{n}@uni.edu" for n in range(12)]
    snapshots = await asyncio.gather(*(loader(m, WINDOW) for m in mailboxes))
    assert [s.status for s in snapshots] == ["ok"] * 12
    assert all(len(s.events) == 1 for s in snapshots)
    assert _Feeds.most == parallelism


def feed_settings(port: int, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "ics_url_template": f"http://127.0.0.1:{port}/{{upn}}.ics",
        "allow_http_feeds": True,
        "feed_ports": [port],
    }
    return Settings.model_validate(values | changes)


async def test_an_on_premise_server_is_reached_only_through_its_network_or_name(feed_server: int) -> None:
    """A feed on a private address is refused unless its network (feed_allow_networks) or its name
    (feed_allow_hosts) is allowed; feed_only_hosts refuses every other host; the port must be listed."""

    async def load(settings: Settings) -> SourceSnapshot:
        return await sourcing.Sources(settings).loader()("adele@uni.edu", WINDOW)

    refused = await load(feed_settings(feed_server))
    assert (refused.status, refused.error_code) == ("unavailable", "FETCH_BLOCKED")
    assert "refused address" in refused.problems[0]
    allowed = await load(feed_settings(feed_server, feed_allow_networks=["127.0.0.0/8"]))
    assert (allowed.status, len(allowed.events)) == ("ok", 1)
    other_port = await load(feed_settings(feed_server, feed_allow_networks=["127.0.0.0/8"], feed_ports=[443]))
    assert "the port is not allowed" in other_port.problems[0]
    only = await load(
        feed_settings(feed_server, feed_allow_networks=["127.0.0.0/8"], feed_only_hosts=["timetable.uni.edu"])
    )
    assert "not on the allowlist" in only.problems[0]
    by_name = wiring.fetch_policy(feed_settings(feed_server, feed_allow_hosts=["Timetable.Uni.Local."]))
    assert by_name.allow_hosts == frozenset({"timetable.uni.local"})


def test_feed_lists_come_from_variables_and_bad_networks_are_named(tmp_path: Path) -> None:
    """CALSYNC_FEED_PORTS and friends are comma-separated; a bad CIDR or port names its key."""
    settings = load_settings(
        None,
        env={"CALSYNC_FEED_PORTS": "443, 8443", "CALSYNC_FEED_ALLOW_NETWORKS": "10.20.0.0/16,fd00::/8",
             "CALSYNC_CONFIG": str(tmp_path / "absent.toml")},
    )  # fmt: skip
    assert settings.feed_ports == [443, 8443]
    assert settings.feed_allow_networks == ["10.20.0.0/16", "fd00::/8"]
    with pytest.raises(SettingsError) as info:
        load_settings(None, env={"CALSYNC_FEED_ALLOW_NETWORKS": "10.20.0.0/99", "CALSYNC_FEED_PORTS": "0",
                                 "CALSYNC_CONFIG": str(tmp_path / "absent.toml")})  # fmt: skip
    text = "\n".join(info.value.problems)
    assert "feed_allow_networks: '10.20.0.0/99' is not a network" in text
    assert "feed_ports.0" in text
