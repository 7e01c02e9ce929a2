"""The feed fetcher: SSRF guard with pinning, redirects, size caps, timeouts and ETag (BI-10, BI-11)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from calsync.domain import Window
from calsync.sources import (
    PROBLEM_CODES,
    FetchPolicy,
    SafeFetcher,
    SourceUnavailable,
    Validators,
    load_ics_url,
)
from tests.calsync.sources.support import calendar, peak_rss_growth, vevent

Route = Callable[[BaseHTTPRequestHandler], None]
FEED = calendar(vevent("f", "DTSTART:20260302T090000Z", "SUMMARY:Feed"))
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))


class Server:
    """A loopback HTTP(S) server in a thread that counts hits and records request headers."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.hits = 0
        self.headers: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.hits += 1
                owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                route = owner.routes.get(self.path.split("?")[0], owner.routes.get("*"))
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                route(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/feed.ics", host: str | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def body(data: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return body(b"", status=status, headers={"Location": location})


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Server:
        server = Server(host, tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


class FakeResolver:
    """Maps names to answers (a list, or a list of lists served in turn); counts lookups."""

    def __init__(self, table: dict[str, list[str] | list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        answers = self.table[host]
        if answers and isinstance(answers[0], list):
            turn = min(self.calls.count(host), len(answers)) - 1
            return list(answers[turn])  # type: ignore[arg-type]
        return list(answers)  # type: ignore[arg-type]


def fetcher(resolver: FakeResolver | None = None, **policy: object) -> SafeFetcher:
    options: dict[str, object] = {"allow_http": True, "ports": None}
    options.update(policy)
    return SafeFetcher(FetchPolicy(**options), resolver=resolver or FakeResolver({}))  # type: ignore[arg-type]


async def blocked(fetch: SafeFetcher, url: str) -> SourceUnavailable:
    with pytest.raises(SourceUnavailable) as info:
        await fetch.fetch(url)
    return info.value


async def test_scheme_userinfo_and_port_rules() -> None:
    """BI-10: https only (http by opt-in), no userinfo, ports 443/80 unless allowed; no DNS for these."""
    resolver = FakeResolver({"feed.example.edu": ["93.184.216.34"]})
    strict = SafeFetcher(resolver=resolver)
    for url in (
        "http://feed.example.edu/x.ics",
        "ftp://feed.example.edu/x.ics",
        "file:///etc/passwd",
        "gopher://feed.example.edu/",
        "https://user:secret@feed.example.edu/x.ics",
        "https://feed.example.edu:8443/x.ics",
        "https://feed.example.edu:22/x.ics",
        "not a url at all",
    ):
        error = await blocked(strict, url)
        assert error.problem.code == "FETCH_BLOCKED", url
        assert "secret" not in error.problem.message
    assert resolver.calls == []
    assert str(strict.check_url("webcal://feed.example.edu/x.ics")).startswith("https://feed.example.edu/")


LITERALS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "0x7f.1",
    "[::ffff:127.0.0.1]",
    "[::1]",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "[fe80::1]",
    "[fc00::1]",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "[::]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "[2001:db8::1]",
]


@pytest.mark.parametrize("literal", LITERALS)
async def test_ip_literals_are_refused_without_connecting(
    literal: str, servers: Callable[..., Server]
) -> None:
    """BI-10: every literal form of a refused address is blocked and the loopback server sees 0 hits."""
    server = servers()
    server.routes["*"] = body(FEED)
    error = await blocked(fetcher(), server.url(host=literal))
    assert error.problem.code == "FETCH_BLOCKED"
    assert server.hits == 0


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.31.255.255",
        "192.168.0.10",
        "169.254.169.254",
        "100.100.100.100",
        "0.1.2.3",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "::ffff:8.8.8.8",
        "ff02::1",
        "198.18.0.1",
    ],
)
async def test_names_resolving_to_refused_addresses(address: str, servers: Callable[..., Server]) -> None:
    """BI-10: a public-looking name that resolves to a refused address is blocked before connecting."""
    server = servers()
    server.routes["*"] = body(FEED)
    resolver = FakeResolver({"feed.example.edu": [address]})
    error = await blocked(fetcher(resolver), server.url(host="feed.example.edu"))
    assert error.problem.code == "FETCH_BLOCKED"
    assert server.hits == 0
    assert resolver.calls == ["feed.example.edu"]


async def test_one_refused_answer_refuses_the_name(servers: Callable[..., Server]) -> None:
    """BI-10: if any address of the answer is refused, the name is refused (no picking the good one)."""
    server = servers()
    server.routes["*"] = body(FEED)
    resolver = FakeResolver({"feed.example.edu": ["93.184.216.34", "127.0.0.1"]})
    assert (
        await blocked(fetcher(resolver), server.url(host="feed.example.edu"))
    ).problem.code == "FETCH_BLOCKED"
    assert server.hits == 0


async def test_allow_private_and_allow_hosts_open_the_guard_explicitly(
    servers: Callable[..., Server],
) -> None:
    """The test/on-premise hooks: allow_private, allow_hosts and allow_networks permit loopback."""
    server = servers()
    server.routes["/feed.ics"] = body(FEED)
    resolver = FakeResolver({"timetable.internal": ["127.0.0.1"]})
    for fetch in (
        fetcher(resolver, allow_private=True),
        fetcher(resolver, allow_hosts=frozenset({"timetable.internal"})),
        fetcher(resolver, allow_networks=("127.0.0.0/8",)),
    ):
        result = await fetch.fetch(server.url(host="timetable.internal"))
        assert result.content == FEED
        assert not result.not_modified
    assert server.hits == 3
    assert server.headers[0]["host"] == f"timetable.internal:{server.port}"
    assert server.headers[0]["accept-encoding"] == "gzip, deflate"


async def test_dns_rebinding_is_defeated_by_pinning(servers: Callable[..., Server]) -> None:
    """BI-10: the first lookup says "allowed", later ones say "internal"; the connection goes to the first."""
    good = servers("127.0.0.2")
    evil = servers("127.0.0.3")
    good.routes["/feed.ics"] = body(FEED)
    evil.routes["*"] = body(b"internal secrets")
    resolver = FakeResolver({"feed.example.edu": [["127.0.0.2"], ["127.0.0.3"]]})
    fetch = fetcher(resolver, allow_networks=("127.0.0.2/32",))
    result = await fetch.fetch(good.url(host="feed.example.edu"))
    assert result.content == FEED
    assert (good.hits, evil.hits) == (1, 0)
    assert resolver.calls == ["feed.example.edu"]
    assert good.headers[0]["host"] == f"feed.example.edu:{good.port}"
    second = await blocked(fetch, good.url(host="feed.example.edu"))
    assert second.problem.code == "FETCH_BLOCKED"
    assert evil.hits == 0


async def test_redirects_are_checked_hop_by_hop(servers: Callable[..., Server]) -> None:
    """BI-10: a redirect to a refused host is blocked; the internal server sees 0 hits."""
    public = servers("127.0.0.2")
    internal = servers("127.0.0.1")
    internal.routes["*"] = body(b"metadata")
    public.routes["/to-literal"] = redirect(internal.url("/latest/meta-data"))
    public.routes["/to-name"] = redirect(f"http://metadata.internal:{internal.port}/x")
    public.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
    public.routes["/to-file"] = redirect("file:///etc/passwd")
    resolver = FakeResolver({"feed.example.edu": ["127.0.0.2"], "metadata.internal": ["127.0.0.1"]})
    fetch = fetcher(resolver, allow_networks=("127.0.0.2/32",))
    for path in ("/to-literal", "/to-name", "/to-metadata", "/to-file"):
        error = await blocked(fetch, public.url(path, host="feed.example.edu"))
        assert error.problem.code == "FETCH_BLOCKED", path
    assert internal.hits == 0
    assert public.hits == 4


async def test_redirect_limit(servers: Callable[..., Server]) -> None:
    """Three redirects are followed (each re-validated); a fourth fails."""
    server = servers()
    for i in range(4):
        server.routes[f"/r{i}"] = redirect(f"/r{i + 1}")
    server.routes["/r4"] = body(FEED)
    fetch = fetcher(allow_private=True)
    assert (await fetch.fetch(server.url("/r1"))).content == FEED
    error = await blocked(fetch, server.url("/r0"))
    assert error.problem.code == "FETCH_FAILED"
    assert "redirects" in error.problem.message


async def test_errors_never_echo_body_or_secrets(servers: Callable[..., Server]) -> None:
    """BI-10: messages carry the redacted URL and the status only: no remote body, no token."""
    server = servers()
    server.routes["*"] = body(b"SECRET-BODY-CONTENT", status=503)
    error = await blocked(fetcher(allow_private=True), server.url("/ical/alice.ics?token=TOPSECRET"))
    message = error.problem.message
    assert error.problem.code == "FETCH_SERVER_ERROR"
    assert "SECRET-BODY" not in message
    assert "TOPSECRET" not in message
    assert "alice" not in message
    assert message.startswith(f"http://127.0.0.1:{server.port}/ical/…")


async def test_timeouts(servers: Callable[..., Server]) -> None:
    """BI-10: the whole fetch is bounded by total_timeout, not only each read. A server that answers
    late times out, and so does one that trickles its body (a chunk every 0.05 s, 10 s in all), which no
    read timeout ever catches: the fetch gives up while the server is still sending."""
    server = servers()
    chunks, trickled = 200, {"sent": 0, "finished": False}

    def late(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(2)
        with contextlib.suppress(OSError):  # the client is gone by now
            body(FEED)(handler)

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(chunks * 100))
        handler.end_headers()
        try:
            for _ in range(chunks):
                handler.wfile.write(b"x" * 100)
                handler.wfile.flush()
                trickled["sent"] += 1
                time.sleep(0.05)
        except OSError:
            return  # the client hung up
        trickled["finished"] = True

    server.routes["/late.ics"], server.routes["/trickle.ics"] = late, trickle
    fetch = fetcher(allow_private=True, total_timeout=0.5)
    for path in ("/late.ics", "/trickle.ics"):
        error = await blocked(fetch, server.url(path))
        assert error.problem.code == "FETCH_FAILED", path
        assert "timed out" in error.problem.message, path
    assert not trickled["finished"], "the fetch read the whole trickled body"
    assert trickled["sent"] < chunks
    default = FetchPolicy()
    assert (default.connect_timeout, default.total_timeout, default.max_redirects) == (5.0, 30.0, 3)


@functools.cache
def gzip_bomb(decoded: int) -> bytes:
    """gzip of `decoded` zero bytes (about 1/1000 of the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(decoded // len(chunk))]
    parts.append(compressor.flush())
    return b"".join(parts)


async def test_gzip_bomb_is_stopped_at_the_cap(servers: Callable[..., Server]) -> None:
    """BI-11: 1 GB of gzip, directly and behind a 302: ICS_TOO_LARGE, peak RSS growth under 100 MB."""
    bomb = gzip_bomb(1024 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024
    server = servers()
    server.routes["/bomb.ics"] = body(bomb, headers={"Content-Encoding": "gzip"})
    server.routes["/redirect"] = redirect("/bomb.ics")
    fetch = fetcher(allow_private=True)
    for path in ("/bomb.ics", "/redirect"):
        errors: list[SourceUnavailable] = []

        def run(path: str = path, errors: list[SourceUnavailable] = errors) -> None:
            try:
                asyncio.run(fetch.fetch(server.url(path)))
            except SourceUnavailable as exc:
                errors.append(exc)

        worker: list[int] = []
        thread = threading.Thread(target=lambda run=run, worker=worker: worker.append(peak_rss_growth(run)))
        thread.start()
        thread.join(30)
        (error,) = errors
        assert error.problem.code == "ICS_TOO_LARGE"
        assert worker[0] < 100 * 1024 * 1024


async def test_size_caps_on_raw_and_declared_length(servers: Callable[..., Server]) -> None:
    """BI-03: a declared Content-Length over the cap and an undeclared identity body over it both stop."""
    server = servers()
    server.routes["/declared"] = body(b"x" * 5_000)

    def streamed(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        for _ in range(10):
            handler.wfile.write(b"y" * 1_000)

    server.routes["/streamed"] = streamed
    fetch = fetcher(allow_private=True, max_bytes=4_000)
    for path in ("/declared", "/streamed"):
        assert (await blocked(fetch, server.url(path))).problem.code == "ICS_TOO_LARGE"
    small = fetcher(allow_private=True, max_bytes=100_000)
    gz = gzip.compress(FEED)
    server.routes["/gz"] = body(gz, headers={"Content-Encoding": "gzip"})
    server.routes["/deflate"] = body(zlib.compress(FEED), headers={"Content-Encoding": "deflate"})
    server.routes["/br"] = body(b"...", headers={"Content-Encoding": "br"})
    assert (await small.fetch(server.url("/gz"))).content == FEED
    assert (await small.fetch(server.url("/deflate"))).content == FEED
    assert (await blocked(small, server.url("/br"))).problem.code == "FETCH_FAILED"


async def test_etag_and_last_modified_give_not_modified(servers: Callable[..., Server]) -> None:
    """An unchanged feed answers 304 to the stored validators: not_modified, nothing parsed."""
    server = servers()

    def conditional(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("If-None-Match") == '"v1"':
            handler.send_response(304)
            handler.send_header("ETag", '"v1"')
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body(FEED, headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 09:00:00 GMT"})(handler)

    server.routes["/feed.ics"] = conditional
    fetch = fetcher(allow_private=True)
    first = await load_ics_url(fetch, server.url(), mailbox="a@x", window=WINDOW)
    assert first.status == "ok"
    assert len(first.events) == 1
    assert not first.not_modified
    assert first.validators == Validators('"v1"', "Mon, 02 Mar 2026 09:00:00 GMT")
    second = await load_ics_url(
        fetch, server.url(), mailbox="a@x", window=WINDOW, validators=first.validators
    )
    assert second.not_modified
    assert second.events == []
    assert second.status == "ok"
    assert server.headers[1]["if-none-match"] == '"v1"'
    assert server.headers[1]["if-modified-since"] == "Mon, 02 Mar 2026 09:00:00 GMT"


async def test_load_ics_url_reports_unavailable_and_drops_validators(servers: Callable[..., Server]) -> None:
    """A failed fetch or an unusable document is "unavailable" and carries no validators to store."""
    server = servers()
    server.routes["/broken.ics"] = body(b"this is not iCalendar", headers={"ETag": '"x"'})
    fetch = fetcher(allow_private=True)
    broken = await load_ics_url(fetch, server.url("/broken.ics"), mailbox="a@x", window=WINDOW)
    assert broken.status == "unavailable"
    assert broken.validators is None
    missing = await load_ics_url(fetch, server.url("/missing.ics"), mailbox="a@x", window=WINDOW)
    assert missing.status == "unavailable"
    assert missing.problems[-1].code == "FETCH_NOT_FOUND"
    refused = await load_ics_url(SafeFetcher(), "http://127.0.0.1/x", mailbox="a@x", window=WINDOW)
    assert refused.status == "unavailable"
    assert refused.problems[-1].code == "FETCH_BLOCKED"


async def test_save_time_validation_matches_fetch_time(servers: Callable[..., Server]) -> None:
    """BI-10: validate() gives the verdict fetch() would, without downloading."""
    server = servers()
    server.routes["*"] = body(FEED)
    resolver = FakeResolver({"ok.example.edu": ["127.0.0.2"], "bad.example.edu": ["127.0.0.1"]})
    fetch = fetcher(resolver, allow_networks=("127.0.0.2/32",))
    await fetch.validate(server.url(host="ok.example.edu"))
    for url in (server.url(host="bad.example.edu"), server.url(host="127.1")):
        with pytest.raises(SourceUnavailable):
            await fetch.validate(url)
        assert (await blocked(fetch, url)).problem.code == "FETCH_BLOCKED"
    assert server.hits == 0


async def test_https_is_pinned_with_sni_and_certificate_for_the_name(
    servers: Callable[..., Server], tmp_path: Path
) -> None:
    """The TLS connection goes to the checked IP while SNI and the certificate check use the host name."""
    from graphemu.tls import ensure_tls

    files = ensure_tls(tmp_path, ["feed.example.edu"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.server_cert, files.server_key)
    seen_sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: seen_sni.append(name)  # type: ignore[assignment,misc,return-value]
    server = servers("127.0.0.2", tls=server_ctx)
    server.routes["/feed.ics"] = body(FEED)
    client_ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    resolver = FakeResolver({"feed.example.edu": ["127.0.0.2"], "other.example.edu": ["127.0.0.2"]})
    policy = FetchPolicy(ports=None, allow_networks=("127.0.0.2/32",))
    fetch = SafeFetcher(policy, resolver=resolver, verify=client_ctx)
    result = await fetch.fetch(server.url(host="feed.example.edu", scheme="https"))
    assert result.content == FEED
    assert seen_sni == ["feed.example.edu"]
    error = await blocked(fetch, server.url(host="other.example.edu", scheme="https"))
    assert error.problem.code == "FETCH_FAILED"


async def test_default_resolver_refuses_localhost() -> None:
    """The real resolver (getaddrinfo in a thread) is checked the same way: localhost is loopback."""
    with pytest.raises(SourceUnavailable) as info:
        await SafeFetcher().validate("https://localhost/feed.ics")
    assert info.value.problem.code == "FETCH_BLOCKED"


@pytest.mark.parametrize(
    ("url", "policy", "setting"),
    [
        ("http://feed.example.edu/x.ics", {"allow_http": False}, "allow_http_feeds"),
        ("https://feed.example.edu:8443/x.ics", {"ports": frozenset({443, 80})}, "feed_ports"),
        (
            "https://other.example.edu/x.ics",
            {"only_hosts": frozenset({"feed.example.edu"})},
            "feed_only_hosts",
        ),
        ("https://10.1.2.3/x.ics", {}, "feed_allow_networks"),
        ("https://timetable.internal/x.ics", {}, "feed_allow_hosts"),
        ("https://timetable.internal/x.ics", {}, "allow_private_feeds"),
    ],
)
async def test_a_blocked_feed_names_the_setting_that_allows_it(
    url: str, policy: dict[str, object], setting: str
) -> None:
    """An administrator whose on-premise or http feed is refused learns which setting opens it."""
    resolver = FakeResolver({"timetable.internal": ["10.20.0.5"], "feed.example.edu": ["93.184.216.34"]})
    error = await blocked(fetcher(resolver, **policy), url)
    assert error.problem.code == "FETCH_BLOCKED"
    assert setting in error.problem.message


@pytest.mark.parametrize(
    ("status", "code", "phrase"),
    [
        (404, "FETCH_NOT_FOUND", "the feed does not exist (HTTP 404)"),
        (410, "FETCH_NOT_FOUND", "the feed does not exist (HTTP 410)"),
        (500, "FETCH_SERVER_ERROR", "the feed server failed (HTTP 500)"),
        (503, "FETCH_SERVER_ERROR", "the feed server failed (HTTP 503)"),
        (403, "FETCH_FAILED", "HTTP 403"),
    ],
)
async def test_a_missing_feed_and_a_failing_server_are_told_apart(
    servers: Callable[..., Server], status: int, code: str, phrase: str
) -> None:
    """A 404 is a wrong URL (or a person without a timetable), a 5xx the feed server's trouble: an
    administrator acts differently on each, so they have their own codes; the body is never quoted."""
    server = servers()
    server.routes["*"] = body(b"SECRET-BODY-CONTENT", status=status)
    error = await blocked(fetcher(allow_private=True), server.url("/ical/alice.ics?token=TOPSECRET"))
    assert error.problem.code == code
    assert phrase in error.problem.message
    assert code in PROBLEM_CODES
    assert "SECRET-BODY" not in error.problem.message
