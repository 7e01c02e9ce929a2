"""Which IP addresses a feed fetch may connect to, decided by an explicit deny-list.

Why explicit: `ipaddress`'s `is_private`/`is_global` were wrong for several ranges before Python 3.12.4
(CVE-2024-4032; this project runs on 3.11.7), and leading-zero octets were once read as decimal
(CVE-2021-29921). So the ranges are listed here, each with the reason, and host literals are parsed here
in every form a C resolver accepts ("127.1", "2130706433", "0x7f000001", "0177.0.0.1"), so that no
literal reaches the resolver un-checked (SSRF through feed URLs: Vexa #1231, timeful #259, BI-10).

IPv4: everything not listed is allowed. IPv6: only global unicast (2000::/3) minus the listed ranges is
allowed, plus NAT64 (64:ff9b::/96) when the IPv4 address it embeds is allowed. IPv4-mapped addresses
(::ffff:0:0/96) are always refused: a public name never needs one; the reason names the embedded IPv4.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address

BLOCKED_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local, incl. cloud metadata 169.254.169.254"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved, incl. broadcast"),
    )
)
GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
NAT64 = IPv6Network("64:ff9b::/96")
MAPPED_V6 = IPv6Network("::ffff:0:0/96")
BLOCKED_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("2001::/23", "IETF protocol assignments, incl. Teredo"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4 (embeds an IPv4 address)"),
        ("3fff::/20", "documentation"),
    )
)
_V6_OUTSIDE: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("::1/128", "loopback"),
        ("::/128", "unspecified"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
        ("100::/64", "discard-only"),
    )
)
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.I)


def refusal(address: Address) -> str | None:
    """Why `address` may not be connected to, or None when it may."""
    if isinstance(address, IPv4Address):
        for network, reason in BLOCKED_V4:
            if address in network:
                return reason
        return None
    plain = IPv6Address(address.packed)  # drop any scope id
    if plain in MAPPED_V6:
        embedded = IPv4Address(plain.packed[-4:])
        inner = refusal(embedded)
        return f"IPv4-mapped IPv6 ({inner or 'public IPv4'})"
    if plain in NAT64:
        inner = refusal(IPv4Address(plain.packed[-4:]))
        return None if inner is None else f"NAT64 of a refused IPv4 address ({inner})"
    for network6, reason in _V6_OUTSIDE:
        if plain in network6:
            return reason
    if plain not in GLOBAL_UNICAST_V6:
        return "reserved IPv6 (outside global unicast 2000::/3)"
    for blocked6, why in BLOCKED_V6:
        if plain in blocked6:
            return why
    return None


def _legacy_v4(host: str) -> IPv4Address | None:
    """inet_aton's forms: 1-4 parts, each decimal, 0x-hex or 0-octal; the last part fills the rest."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if not part:
            return None
        try:
            if part.lower().startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10))
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (4 - len(head)) + last
    return IPv4Address(value)


class BadHost(ValueError):
    """A host that looks like an IP literal but is not a valid one (refused rather than resolved)."""


def literal_address(host: str) -> Address | None:
    """The IP a host literal denotes (any form), None for a DNS name; raises `BadHost` for a host whose
    last label is numeric but which is no valid address (WHATWG treats such hosts as IPv4 too)."""
    text = host.strip().strip("[]").rstrip(".")
    if not text:
        raise BadHost("empty host")
    try:
        return ip_address(text.replace("%25", "%"))
    except ValueError:
        pass
    if ":" in text:
        raise BadHost("malformed IPv6 literal")
    last = text.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.match(last):
        legacy = _legacy_v4(text)
        if legacy is None:
            raise BadHost("malformed IPv4 literal")
        return legacy
    return None


def parse_networks(networks: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    """CIDR strings (config) into networks; raises ValueError for a bad one."""
    return tuple(ip_network(n, strict=False) for n in networks)
