"""Redaction patterns and registered secrets, on text and structured values (the log pipeline's
end-to-end behaviour is in test_logs.py)."""

from __future__ import annotations

import uuid

import pytest

from calsync.redact import MARK, Redactor, is_secret_key, redact, register_feed_urls, register_url_secrets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'GET https://timetable.example.edu/ical/a.ics?token=abc&x=1 "HTTP/1.1 200 OK"',
            'GET https://timetable.example.edu/ical/a.ics?[redacted] "HTTP/1.1 200 OK"',
        ),
        ("https://user:pass@host.example/x", "https://[redacted]@host.example/x"),
        (
            "postgresql+psycopg://calsync:pw@db:5432/calsync",
            "postgresql+psycopg://[redacted]@db:5432/calsync",
        ),
        ("https://login.example/cb#access_token=abc&state=s", "https://login.example/cb#[redacted]"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: [redacted]"),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz, next", "Proxy-Authorization: [redacted], next"),
        (
            "{'authorization': 'Bearer abc', 'accept': 'json'}",
            "{'authorization': '[redacted]', 'accept': 'json'}",
        ),
        ("sent bearer abc123 to graph", "sent bearer [redacted] to graph"),
        ("Cookie: session=abc; theme=dark", "Cookie: [redacted]"),
        (
            "grant_type=client_credentials&client_secret=abc%2Fdef&scope=https%3A%2F%2Fgraph",
            "grant_type=client_credentials&client_secret=[redacted]&scope=https%3A%2F%2Fgraph",
        ),
        (
            "refresh_token=r&code=c&code_verifier=v&password=p&client_assertion=a&access_token=t",
            "refresh_token=[redacted]&code=[redacted]&code_verifier=[redacted]&password=[redacted]"
            "&client_assertion=[redacted]&access_token=[redacted]",
        ),
        ('password="with spaces inside" next', 'password="[redacted]" next'),
        (
            '{"client_secret": "abc", "error": {"code": "ErrorItemNotFound"}}',
            '{"client_secret": "[redacted]", "error": {"code": "ErrorItemNotFound"}}',
        ),
        ('{"refresh_token":"0.AX4A\\"x","n":1}', '{"refresh_token":"[redacted]","n":1}'),
        (  # msal's debug log of an authorization-code redemption (msal.token_cache)
            '"data": {"code": "0.AdBFLDkxuYp209VPktNZTQad3lNhb3Wu", "code_verifier": "udOoeyuk~cD3tMSa4X"}',
            '"data": {"code": "[redacted]", "code_verifier": "[redacted]"}',
        ),
        ('{"code": "ErrorInvalidRecipients"}', '{"code": "ErrorInvalidRecipients"}'),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln and more", "[redacted] and more"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nafter",
            "-----BEGIN RSA PRIVATE KEY-----[redacted]-----END RSA PRIVATE KEY-----\nafter",
        ),
        (  # cut off before its END line: hidden to the end
            "key: -----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz",
            "key: -----BEGIN ENCRYPTED PRIVATE KEY-----[redacted]-----END ENCRYPTED PRIVATE KEY-----",
        ),
    ],
)
def test_patterns(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "calsync.graph.request",
        "/users/ada@example.edu/calendars/AAMk/events?$filter=*&$top=*",
        "status_code=200 elapsed_ms=3.2 encode=utf-8",
        "Graph error code: ErrorItemNotFound",
        'HTTP Request: GET https://graph.example/v1.0/me "HTTP/1.1 200 OK"',
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


def test_short_and_blank_values_are_not_registered() -> None:
    redactor = Redactor(["abc12", "        ", "redacted"])
    assert redactor.redact("abc12 and        and redacted") == "abc12 and        and redacted"


def test_the_longest_registered_secret_is_replaced_whole() -> None:
    redactor = Redactor(["secret-one", "secret-one-two"])
    assert redactor.redact("x secret-one-two y secret-one") == f"x {MARK} y {MARK}"


def test_a_secret_re_formed_by_the_marker_is_replaced_again() -> None:
    # "Xted]Q1Q1" -> "X[redacted]Q1", which contains "ted]Q1" again.
    assert "ted]Q1" not in Redactor(["ted]Q1"]).redact("Xted]Q1Q1")
    # Each pass re-forms it once more; after a few passes the whole text goes.
    assert Redactor(["d]xxxx"]).redact("d]" + "xxxx" * 10) == MARK


def test_register_url_secrets_registers_userinfo_and_query_values() -> None:
    token, password = f"feedtok-{uuid.uuid4().hex}", f"pw-{uuid.uuid4().hex}"
    register_url_secrets(f"https://svc:{password}@timetable.example.edu/ical/{{upn}}.ics?token={token}&v=1")
    assert redact(f"401 for token {token}; login {password}") == f"401 for token {MARK}; login {MARK}"


def test_redact_value_walks_containers_and_stringifies_other_objects() -> None:
    redactor = Redactor(["registered-value"])

    class Opaque:
        def __str__(self) -> str:
            return "opaque registered-value"

    value = {
        "list": ["registered-value", 1, None, True],
        "tuple": ("a", "registered-value"),
        "set": {"registered-value"},
        "object": Opaque(),
        "Client-Secret": {"anything": "at all"},
        "registered-value": "key itself",
    }
    assert redactor.redact_value(value) == {
        "list": [MARK, 1, None, True],
        "tuple": ("a", MARK),
        "set": [MARK],
        "object": f"opaque {MARK}",
        "Client-Secret": MARK,
        MARK: "key itself",
    }


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("client_secret", True),
        ("X-Api-Key", True),
        ("refresh_token", True),
        ("Set-Cookie", True),
        ("clientState", True),
        ("code", True),
        ("code_verifier", True),
        ("status_code", False),
        ("client_request_id", False),
        ("mailbox", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_register_feed_urls_hides_per_person_parts_and_keeps_shared_ones() -> None:
    """Per-person path segments, query values (as written and decoded) and userinfo of a URL map are
    redacted wherever they appear, also inside a URL whose host is the pinned IP (as httpx logs it);
    the path segments every URL shares stay readable."""
    people = [uuid.uuid4().hex[:12] for _ in range(3)]
    key, password = f"k{uuid.uuid4().hex[:10]}", f"p{uuid.uuid4().hex[:10]}"
    shared = f"public-{uuid.uuid4().hex[:6]}"  # the redactor is process-wide: a word no other test registers
    register_feed_urls(
        [f"https://timeedit.example.edu/web/{shared}/ri{p}.ics?key={key}" for p in people]
        + [f"https://svc:{password}@other.example.edu/feeds/one/{people[0]}x"]
    )
    line = f'GET http://10.1.2.3/web/{shared}/ri{people[1]}.ics "200"; or ri{people[2]}.ics {key} {password}'
    assert redact(line) == f'GET http://10.1.2.3/web/{shared}/{MARK} "200"; or {MARK} {MARK} {MARK}'
    # A registered token is only ever a whole run: text that merely contains one is left alone.
    assert redact(f"zz{people[0]}x-and-more") == f"zz{people[0]}x-and-more"


def test_thousands_of_map_urls_are_tokens_not_literals() -> None:
    """40,000 per-person URLs do not go into the literal alternation (which every log line scans once per
    literal at each position): they are looked up in a set, one lookup per run of URL characters."""
    redactor = Redactor()
    tokens = [f"ri{n:08d}{uuid.uuid4().hex[:8]}.ics" for n in range(40_000)]
    redactor.register_tokens(tokens)
    assert redactor._secret_re is None
    text = f"/web/public/{tokens[12_345]} and {tokens[-1]}"
    assert redactor.redact(text) == f"/web/public/{MARK} and {MARK}"
    redactor.register_tokens(["with=equals-sign", "tiny"])  # not a run of URL characters: a literal
    assert redactor.redact("x with=equals-sign tiny") == f"x {MARK} tiny"
