"""Which callback URLs calsync may call: the same address guard as feed URLs (BI-10, SSRF).

A callback URL is chosen by an API client, so it must not be able to make calsync POST into the network
it runs in (the cloud metadata address, an admin port on loopback, a private service). The rules are the
feed fetcher's (calsync.sources.addresses): IP literals in every legacy form are parsed, every address
the name resolves to must be allowed, and the connection goes to the address that was checked (the URL
carries the IP, the Host header and TLS SNI the name), so a second DNS answer cannot swap it (rebinding).
The URL is checked when the channel is created and again at each delivery.

Unlike feeds, any port is allowed (receivers often listen on 8443 and the like), and https is required
unless `push_allow_http_callbacks`. Loopback and private addresses are allowed only with
`push_allow_private_callbacks` (tests, development); link-local addresses, the cloud metadata service's,
never.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address

import httpx

from calsync.services.push.errors import CallbackRefused
from calsync.sources.addresses import Address, BadHost, literal_address, refusal
from calsync.sources.fetch import Resolver, default_resolver
from calsync.sources.urls import redact_url

MAX_URL = 2048
# Never a callback, whatever the settings: the cloud metadata service (169.254.169.254) lives here.
_LINK_LOCAL = (IPv4Network("169.254.0.0/16"), IPv6Network("fe80::/10"))


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    allow_private: bool = False
    allow_http: bool = False


@dataclass(frozen=True, slots=True)
class Pinned:
    """Where to connect for a callback URL: the URL with the checked address as its host, the Host
    header and the TLS server name to send."""

    url: httpx.URL
    host_header: str
    server_name: str | None


def check_shape(url: str, policy: CallbackPolicy) -> httpx.URL:
    """The URL's scheme, userinfo, length and literal host, without DNS; raises CallbackRefused."""
    text = url.strip()
    if not text or len(text) > MAX_URL:
        raise CallbackRefused(f"a callback URL must be 1 to {MAX_URL} characters")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise CallbackRefused("the callback URL is not a valid URL") from None
    where = redact_url(parsed)
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise CallbackRefused(f"{where}: a callback URL must be an https:// URL")
    if parsed.scheme == "http" and not policy.allow_http:
        raise CallbackRefused(f"{where}: only https callback URLs are allowed (push_allow_http_callbacks)")
    if parsed.userinfo:
        raise CallbackRefused(f"{where}: callback URLs with user:password@ are not allowed")
    if parsed.fragment:
        raise CallbackRefused(f"{where}: a callback URL has no #fragment")
    try:
        literal = literal_address(_host(parsed))
    except BadHost:
        raise CallbackRefused(f"{where}: the host is not a valid name or address") from None
    if literal is not None:
        _check_address(parsed, literal, policy)
    return parsed


async def pin(url: str, policy: CallbackPolicy, resolver: Resolver = default_resolver) -> Pinned:
    """Check the URL and resolve its host once; every address must pass. Raises CallbackRefused."""
    parsed = check_shape(url, policy)
    host = _host(parsed)
    address = literal_address(host)
    if address is None:
        try:
            answers = await asyncio.to_thread(resolver, host)
            addresses = [ip_address(str(a).split("%", 1)[0]) for a in answers]
        except (OSError, UnicodeError, ValueError):
            raise CallbackRefused(f"{redact_url(parsed)}: the host name could not be resolved") from None
        if not addresses:
            raise CallbackRefused(f"{redact_url(parsed)}: the host name could not be resolved")
        for each in addresses:
            _check_address(parsed, each, policy)
        addresses.sort(key=lambda a: 0 if isinstance(a, IPv4Address) else 1)
        address = addresses[0]
    pinned = parsed.copy_with(host=str(address))
    header = host if parsed.port is None else f"{host}:{parsed.port}"
    return Pinned(
        pinned, header, host if parsed.scheme == "https" and literal_address(host) is None else None
    )


def _host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii", "replace").lower().rstrip(".")


def _check_address(url: httpx.URL, address: Address, policy: CallbackPolicy) -> None:
    reason = refusal(address)
    if policy.allow_private and not any(
        address in net for net in _LINK_LOCAL if address.version == net.version
    ):
        return
    if reason is not None:
        raise CallbackRefused(
            f"{redact_url(url)}: the host is or resolves to a refused address ({reason}); "
            "push_allow_private_callbacks allows such addresses (tests, development)"
        )
