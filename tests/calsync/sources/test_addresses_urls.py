"""Address classification, host literals, URL redaction and URL templates (BI-10)."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.sources import PROBLEM_CODES, SourceProblem, SourceResult, UrlTemplate, redact_url
from calsync.sources.addresses import BadHost, literal_address, refusal


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "10.0.0.1",
        "100.64.0.1",
        "100.127.255.255",
        "127.0.0.1",
        "127.255.255.254",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.1",
        "192.0.2.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.51.100.1",
        "203.0.113.1",
        "224.0.0.1",
        "239.255.255.255",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "::127.0.0.1",
        "64:ff9b::a00:1",
        "64:ff9b:1::1",
        "100::1",
        "2001::1",
        "2001:db8::1",
        "2002:7f00:1::1",
        "3fff::1",
        "fc00::1",
        "fdff::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "4000::1",
    ],
)
def test_refused_addresses(address: str) -> None:
    """Every listed range is refused, including the ones is_private got wrong before 3.12.4."""
    assert refusal(ip_address(address)) is not None


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.0",
        "172.32.0.1",
        "2606:4700::1111",
        "64:ff9b::808:808",
        "2a00:1450:4001::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    """Public unicast addresses pass, as does NAT64 of a public IPv4 address."""
    assert refusal(ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[::1]", "::1"),
        ("10.0.0.1.", "10.0.0.1"),
    ],
)
def test_legacy_literals_are_parsed_like_a_c_resolver(host: str, expected: str) -> None:
    """inet_aton's forms are recognised here, so none reaches a resolver unchecked."""
    assert literal_address(host) == ip_address(expected)


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1", "0x1.0x2.0x3.0x4.5", "example.123", "[::zz]", ""])
def test_malformed_numeric_hosts_are_bad(host: str) -> None:
    """A host ending in a number that is no valid address is refused, not resolved."""
    with pytest.raises(BadHost):
        literal_address(host)


def test_names_are_not_literals() -> None:
    """Ordinary DNS names are left to the resolver."""
    assert literal_address("timetable.example.edu") is None
    assert literal_address("1a.example.edu") is None


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_decimal_literal_equals_its_address(value: int) -> None:
    """Any 32-bit number as a host means that IPv4 address."""
    assert literal_address(str(value)) == ip_address(value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://timetable.example.edu/ical/alice.ics?token=s3cret", "https://timetable.example.edu/ical/…"),
        ("https://user:pw@timetable.example.edu/alice.ics", "https://timetable.example.edu/…"),
        ("https://timetable.example.edu:8443/", "https://timetable.example.edu:8443/"),
        ("https://timetable.example.edu/?k=v", "https://timetable.example.edu/…"),
        ("http://[::1]:8080/a/b/c", "http://[::1]:8080/a/…"),
        ("::::", "<invalid URL>"),
    ],
)
def test_redaction(url: str, shown: str) -> None:
    """Feed URLs are secrets: only scheme, host, port and a first path segment are shown."""
    assert redact_url(url) == shown


def test_url_template_quotes_values_and_guards_the_host() -> None:
    """Placeholders are URL-quoted and may not appear in the host."""
    template = UrlTemplate("https://timetable.example.edu/ical/{upn}.ics?id={id}")
    url = template.expand(upn="alice@uni.edu", id="a/b c", mail="x")
    assert url == "https://timetable.example.edu/ical/alice%40uni.edu.ics?id=a%2Fb%20c"
    assert template.expand(upn="../../admin", id="1").startswith("https://timetable.example.edu/ical/..%2F")
    for bad in (
        "https://{upn}.example.edu/x",
        "timetable/{upn}",
        "https://h/{who}",
        "https://h/{upn!r}",
        "https://h/{",
    ):
        with pytest.raises(ValueError):
            UrlTemplate(bad)
    with pytest.raises(ValueError):
        template.expand(upn="", id="1")
    with pytest.raises(ValueError):
        template.expand(upn="a", id="1", other="x")
    assert "alice" not in repr(UrlTemplate("https://h/ical/{upn}.ics"))


def test_problem_codes_and_skipped() -> None:
    """Problems use known codes; skipped() covers a master's occurrences and respects the mailbox."""
    with pytest.raises(ValueError):
        SourceProblem("ics", "x", "NOT_A_CODE", "m")
    problem = SourceProblem("csv", "line\n2\u202e", "CSV_BAD_ROW", "m", "error", "csv:1", "a@x")
    assert problem.location == "line 2"
    master = SourceProblem("ics", "UID s", "ICS_RRULE_UNBOUNDED", "m", "error", "ics:s")
    warning = SourceProblem("ics", "UID w", "ICS_BAD_DTEND", "m", "warning", "ics:w")
    result = SourceResult(events=[], problems=[problem, master, warning])
    assert result.skipped("ics:s/20260302T090000Z")
    assert result.skipped("ics:s")
    assert not result.skipped("ics:sx")
    assert not result.skipped("ics:w")
    assert result.skipped("csv:1", mailbox="A@X")
    assert not result.skipped("csv:1", mailbox="b@x")
    assert result.errors == [problem, master]
    assert result.warnings == [warning]
    assert all(code.isupper() for code in PROBLEM_CODES)
