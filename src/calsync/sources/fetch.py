"""A fetcher for feed URLs that cannot be turned against the network it runs in (BI-10, BI-11).

What it guarantees, and why each piece is there:
- **Scheme, userinfo, port**: https only (http with `allow_http`; webcal:// and webcals:// become
  https://), no user:password@ (it hides the real host from readers of the URL), ports 443 and 80 only
  unless `ports` says otherwise.
- **Addresses**: the host is resolved once (an injectable resolver; by default getaddrinfo in a thread),
  and every address it resolves to must pass `calsync.sources.addresses.refusal`: loopback, RFC 1918,
  link-local and metadata, CGNAT, multicast, reserved, IPv6 ULA/link-local and IPv4-mapped addresses are
  refused, and IP literals in every legacy form are parsed here first. `allow_private` (tests,
  on-premise servers), `allow_hosts` (names that may resolve to such addresses) and `allow_networks`
  (CIDRs treated as allowed) open this explicitly; `only_hosts` is an outbound allowlist.
- **Pinning**: the connection goes to the address that was checked: the request URL carries the IP, the
  Host header and TLS SNI/certificate check carry the name, so a second DNS answer (rebinding) is never
  asked for. Keep-alive is off, so a TLS connection made for one name is never reused for another.
  IPv4 addresses are tried before IPv6, and only the first allowed one is used.
- **Redirects** are followed by hand, at most 3, and every hop is checked like the first.
- **Credentials** (`FeedAuth`: Basic, bearer or a header of the server's own) are sent to the first
  URL's origin only (scheme, host and port): a redirect elsewhere, or to plain http, goes without them.
- **Size**: the body is decompressed here (gzip or deflate only), in bounded steps, counting decoded and
  raw bytes against `max_bytes` (10 MB) while streaming; a bomb stops at the cap (ICS_TOO_LARGE) after
  allocating at most one cap's worth of memory (urllib3 CVE-2025-66471 and its kin).
- **Time**: connect 5 s, the whole fetch including DNS and redirects 30 s.
- **Caching**: If-None-Match/If-Modified-Since from the previous `Validators`; 304 gives
  `not_modified=True`.
- **Messages** name the URL only redacted and never quote the remote body (no oracle for probing
  internal services, Canvas #327). They do name the HTTP status of an error answer, with its own code
  (FETCH_NOT_FOUND for 404/410, FETCH_SERVER_ERROR for 5xx): only hosts the guard allowed are ever asked,
  and a wrong URL and a failing server call for different fixes. A refusal names the setting that opens
  it (`calsync.wiring.fetch_policy` maps allow_http_feeds, feed_ports, feed_only_hosts, feed_allow_hosts,
  feed_allow_networks and allow_private_feeds onto `FetchPolicy`, one to one).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address

import httpx

from calsync.sources.addresses import Address, BadHost, literal_address, parse_networks, refusal
from calsync.sources.feedauth import FeedAuth
from calsync.sources.model import SourceProblem, SourceUnavailable, Validators
from calsync.sources.urls import redact_url

Resolver = Callable[[str], Sequence[str]]
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_VALIDATOR = 512
_OPEN_ADDRESS = (
    "for an on-premise feed server, list the host in feed_allow_hosts or its network in "
    "feed_allow_networks (allow_private_feeds allows every private address)"
)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What a fetch may do; the defaults are the production ones (see the module doc)."""

    allow_http: bool = False
    allow_private: bool = False
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[str, ...] = ()
    only_hosts: frozenset[str] | None = None
    ports: frozenset[int] | None = frozenset({443, 80})
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    user_agent: str = "calsync-feed-fetcher"
    networks: tuple[IPv4Network | IPv6Network, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "networks", parse_networks(self.allow_networks))
        object.__setattr__(self, "allow_hosts", frozenset(h.lower().rstrip(".") for h in self.allow_hosts))
        if self.only_hosts is not None:
            object.__setattr__(self, "only_hosts", frozenset(h.lower().rstrip(".") for h in self.only_hosts))


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A download: `content` (decoded bytes; empty when `not_modified`), the validators to keep for the
    next request, and the final URL, redacted."""

    content: bytes
    not_modified: bool
    validators: Validators
    url: str


def default_resolver(host: str) -> list[str]:
    """All addresses getaddrinfo gives for `host` (blocking; the fetcher runs it in a thread)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _safe_header(value: str | None) -> str | None:
    if value is None or len(value) > _MAX_VALIDATOR or not value.isprintable() or not value.isascii():
        return None
    return value


@dataclass(slots=True)
class _Target:
    url: httpx.URL
    host: str
    address: Address


class _TooLarge(Exception):
    pass


class _Decoder:
    """gzip/deflate/identity decoding that never produces more than `limit` bytes in total."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.total = 0
        self.parts: list[bytes] = []
        self._first = True
        self._obj: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._obj = zlib.decompressobj(zlib.MAX_WBITS)

    def _keep(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise _TooLarge
        if data:
            self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if self._obj is None:
            self._keep(chunk)
            return
        data = chunk
        while data:
            try:
                out = self._obj.decompress(data, self.limit - self.total + 1)
            except zlib.error:
                if self.encoding == "deflate" and self._first:  # raw deflate without zlib header
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first = False
                    continue
                raise
            self._first = False
            self._keep(out)
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                rest = self._obj.unused_data
                if rest and self.encoding in ("gzip", "x-gzip"):  # concatenated gzip members
                    self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
                else:
                    break

    def finish(self) -> bytes:
        if self._obj is not None:
            self._keep(self._obj.flush())
        return b"".join(self.parts)


class SafeFetcher:
    """Fetches feed URLs under a `FetchPolicy`; see the module doc for the guarantees.

    `resolver` maps a host name to its addresses (tests inject fakes); `verify` is passed to httpx for
    TLS (True: the system's CA bundle, loaded once per fetcher); `auth` is sent to each feed's own origin.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
        auth: FeedAuth | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.auth = auth
        self.resolver: Resolver = resolver or default_resolver
        self._verify: ssl.SSLContext | bool = httpx.create_ssl_context() if verify is True else verify

    def _blocked(self, url: str | httpx.URL, message: str) -> SourceUnavailable:
        where = redact_url(url)
        return SourceUnavailable(SourceProblem("fetch", where, "FETCH_BLOCKED", f"{where}: {message}"))

    def _failed(self, url: str | httpx.URL, message: str, code: str = "FETCH_FAILED") -> SourceUnavailable:
        where = redact_url(url)
        return SourceUnavailable(SourceProblem("fetch", where, code, f"{where}: {message}"))

    def _http_error(self, url: httpx.URL, status: int) -> SourceUnavailable:
        """An error answer, by what it asks of the administrator: fix the URL, or wait for the server."""
        if status in (404, 410):
            return self._failed(url, f"the feed does not exist (HTTP {status})", "FETCH_NOT_FOUND")
        if 500 <= status <= 599:
            return self._failed(url, f"the feed server failed (HTTP {status})", "FETCH_SERVER_ERROR")
        return self._failed(url, f"the feed server refused the request (HTTP {status})")

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The URL's shape (scheme, userinfo, port, IP literal), without DNS; raises SourceUnavailable."""
        text = str(url).strip()
        for prefix in ("webcal://", "webcals://"):
            if text.lower().startswith(prefix):
                text = "https://" + text[len(prefix) :]
        try:
            parsed = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise self._blocked(text, "not a valid URL") from None
        policy = self.policy
        if parsed.scheme not in ("https", "http") or (parsed.scheme == "http" and not policy.allow_http):
            raise self._blocked(parsed, "only https URLs are allowed (allow_http_feeds = true allows http)")
        if parsed.userinfo:
            raise self._blocked(parsed, "URLs with user:password@ are not allowed")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if policy.ports is not None and port not in policy.ports:
            raise self._blocked(
                parsed, "the port is not allowed (add it to feed_ports; allow_private_feeds allows any port)"
            )
        host = parsed.raw_host.decode("ascii", "replace").lower().rstrip(".")
        if policy.only_hosts is not None and host not in policy.only_hosts:
            raise self._blocked(parsed, "the host is not on the allowlist (feed_only_hosts)")
        try:
            literal = literal_address(host)
        except BadHost:
            raise self._blocked(parsed, "the host is not a valid name or address") from None
        if literal is not None:
            self._check_address(parsed, host, literal)
        return parsed

    def _check_address(self, url: httpx.URL, host: str, address: Address) -> None:
        policy = self.policy
        if policy.allow_private or host in policy.allow_hosts:
            return
        if any(address.version == n.version and address in n for n in policy.networks):
            return
        reason = refusal(address)
        if reason is not None:
            raise self._blocked(url, f"the host resolves to a refused address ({reason}); {_OPEN_ADDRESS}")

    async def _target(self, url: str | httpx.URL) -> _Target:
        parsed = self.check_url(url)
        host = parsed.raw_host.decode("ascii", "replace").lower().rstrip(".")
        literal = literal_address(host)
        if literal is not None:
            return _Target(parsed, host, literal)
        try:
            answers = await asyncio.to_thread(self.resolver, host)
        except (OSError, UnicodeError, ValueError):
            raise self._failed(parsed, "the host name could not be resolved") from None
        addresses: list[Address] = []
        for answer in answers:
            try:
                addresses.append(ip_address(str(answer).split("%", 1)[0]))
            except ValueError:
                raise self._failed(parsed, "the resolver returned an invalid address") from None
        if not addresses:
            raise self._failed(parsed, "the host name could not be resolved")
        for address in addresses:  # every answer must pass, not just the one we would pick
            self._check_address(parsed, host, address)
        addresses.sort(key=lambda a: 0 if isinstance(a, IPv4Address) else 1)
        return _Target(parsed, host, addresses[0])

    async def validate(self, url: str) -> None:
        """The fetch-time verdict without fetching (for saving a feed URL); raises SourceUnavailable."""
        await self._target(url)

    async def fetch(self, url: str, *, validators: Validators | None = None) -> FetchResult:
        """Download `url` under the policy; raises SourceUnavailable (FETCH_BLOCKED, FETCH_NOT_FOUND,
        FETCH_SERVER_ERROR, FETCH_FAILED, ICS_TOO_LARGE). With `validators`, a 304 answer gives
        `not_modified=True`."""
        try:
            async with asyncio.timeout(self.policy.total_timeout):
                return await self._fetch(url, validators)
        except TimeoutError:
            raise self._failed(url, "the download timed out") from None

    async def _fetch(self, url: str, validators: Validators | None) -> FetchResult:
        policy = self.policy
        timeout = httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout)
        async with httpx.AsyncClient(
            verify=self._verify,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            current: str | httpx.URL = url
            origin: tuple[str, str, int | None] | None = None
            for _hop in range(policy.max_redirects + 1):
                target = await self._target(current)
                here = (target.url.scheme, target.host, target.url.port)
                origin = origin or here
                auth = self.auth if here == origin else None  # never to another origin
                result = await self._request(client, target, validators, auth)
                if isinstance(result, FetchResult):
                    return result
                current = result
            raise self._failed(url, "too many redirects")

    async def _request(
        self,
        client: httpx.AsyncClient,
        target: _Target,
        validators: Validators | None,
        auth: FeedAuth | None,
    ) -> FetchResult | httpx.URL:
        url = target.url
        ip = str(target.address)
        pinned = url.copy_with(host=ip)
        host_header = target.host if url.port is None else f"{target.host}:{url.port}"
        headers = {
            "Host": host_header,
            "User-Agent": self.policy.user_agent,
            "Accept": "text/calendar, text/csv, application/json;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        if auth is not None:
            headers[auth.name] = auth.value
        if validators is not None:
            if etag := _safe_header(validators.etag):
                headers["If-None-Match"] = etag
            if modified := _safe_header(validators.last_modified):
                headers["If-Modified-Since"] = modified
        extensions = {"sni_hostname": target.host} if url.scheme == "https" else {}
        request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            raise self._failed(url, "the download timed out") from None
        except (httpx.HTTPError, OSError, ssl.SSLError):
            raise self._failed(url, "the connection to the feed server failed") from None
        try:
            return await self._response(response, url, validators)
        finally:
            await response.aclose()

    async def _response(
        self, response: httpx.Response, url: httpx.URL, validators: Validators | None
    ) -> FetchResult | httpx.URL:
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise self._failed(url, "a redirect without a location")
            try:
                return url.join(location)
            except (httpx.InvalidURL, ValueError, TypeError):
                raise self._blocked(url, "a redirect to an invalid URL") from None
        if status == 304 and validators is not None:
            etag = _safe_header(response.headers.get("etag")) or validators.etag
            modified = _safe_header(response.headers.get("last-modified")) or validators.last_modified
            return FetchResult(b"", True, Validators(etag, modified), redact_url(url))
        if status not in (200, 203):
            raise self._http_error(url, status)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.policy.max_bytes:
            raise self._failed(url, "the feed is larger than the size cap", "ICS_TOO_LARGE")
        encoding = response.headers.get("content-encoding", "identity").strip().lower() or "identity"
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise self._failed(url, "the feed uses an unsupported content encoding")
        decoder = _Decoder(encoding, self.policy.max_bytes)
        raw = 0
        try:
            async for chunk in response.aiter_raw():
                raw += len(chunk)
                if raw > self.policy.max_bytes:
                    raise _TooLarge
                decoder.feed(chunk)
            content = decoder.finish()
        except _TooLarge:
            raise self._failed(url, "the feed is larger than the size cap", "ICS_TOO_LARGE") from None
        except zlib.error:
            raise self._failed(url, "the feed's compressed data is invalid") from None
        except httpx.TimeoutException:
            raise self._failed(url, "the download timed out") from None
        except (httpx.HTTPError, OSError):
            raise self._failed(url, "the connection to the feed server failed") from None
        fresh = Validators(
            _safe_header(response.headers.get("etag")), _safe_header(response.headers.get("last-modified"))
        )
        return FetchResult(content, False, fresh, redact_url(url))
