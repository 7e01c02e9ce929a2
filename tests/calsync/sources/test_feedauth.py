"""Feed authentication against a real loopback server that checks the header: Basic, bearer and a
header of the server's own are sent to the feed's origin, never along a redirect to another one; the
settings take secrets only from variables or files, and the CLI registers them for redaction."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync import wiring
from calsync.cli.state import settings_from
from calsync.redact import MARK, redact
from calsync.settings import SettingsError, load_settings
from calsync.sources import FeedAuth, FetchPolicy, SafeFetcher, SourceUnavailable
from tests.calsync.feedserver import FeedServer
from tests.calsync.sources.support import calendar, vevent

FEED = calendar(vevent("x", "DTSTART:20260302T090000Z", "SUMMARY:A")).decode()
POLICY = FetchPolicy(allow_http=True, allow_private=True, ports=None)


def _resolve(host: str) -> list[str]:
    return ["127.0.0.1"]  # feeds.test and elsewhere.test: two origins on one loopback


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer(FEED) as feed:
        yield feed


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        (FeedAuth.basic("svc-timetable", "pa55:word"), "Authorization", "Basic "),
        (FeedAuth.bearer("tok-123456"), "Authorization", "Bearer tok-123456"),
        (FeedAuth.header("X-Api-Key", "key-123456"), "X-Api-Key", "key-123456"),
    ],
)
async def test_the_server_gets_the_credential_it_checks(
    server: FeedServer, auth: FeedAuth, header: str, value: str
) -> None:
    if value == "Basic ":
        value += base64.b64encode(b"svc-timetable:pa55:word").decode()
    server.require = (header, value)
    url = f"http://feeds.test:{server.port}/ical/a.ics"
    with pytest.raises(SourceUnavailable):  # without it: 401
        await SafeFetcher(POLICY, resolver=_resolve).fetch(url)
    fetched = await SafeFetcher(POLICY, resolver=_resolve, auth=auth).fetch(url)
    assert fetched.content.decode() == FEED
    assert server.headers[-1][header.lower()] == value
    assert value not in repr(auth)
    assert "pa55" not in repr(auth)


async def test_a_redirect_to_another_origin_goes_without_the_credential(server: FeedServer) -> None:
    """Same port, same address, another host name: another origin. The credential went to the first."""
    with FeedServer(FEED) as redirector:
        redirector.redirect = f"http://elsewhere.test:{server.port}/moved.ics"
        fetcher = SafeFetcher(POLICY, resolver=_resolve, auth=FeedAuth.bearer("tok-123456"))
        fetched = await fetcher.fetch(f"http://feeds.test:{redirector.port}/a.ics")
    assert fetched.content.decode() == FEED
    assert redirector.headers[0]["authorization"] == "Bearer tok-123456"
    assert server.requests == ["/moved.ics"]
    assert "authorization" not in server.headers[0]


async def test_a_redirect_within_the_origin_keeps_it_and_another_port_is_another_origin(
    server: FeedServer,
) -> None:
    fetcher = SafeFetcher(POLICY, resolver=_resolve, auth=FeedAuth.bearer("tok-123456"))
    server.redirect = f"http://feeds.test:{server.port}/moved.ics"
    await fetcher.fetch(f"http://feeds.test:{server.port}/a.ics")
    assert server.requests == ["/a.ics", "/moved.ics"]
    assert [h.get("authorization") for h in server.headers] == ["Bearer tok-123456"] * 2
    with FeedServer(FEED) as redirector:
        redirector.redirect = server.redirect
        await fetcher.fetch(f"http://feeds.test:{redirector.port}/a.ics")
    assert redirector.headers[0]["authorization"] == "Bearer tok-123456"
    assert "authorization" not in server.headers[-1]


@pytest.mark.parametrize(
    "build",
    [
        lambda: FeedAuth.basic("a:b", "password"),
        lambda: FeedAuth.basic("user", "line\nbreak"),
        lambda: FeedAuth.bearer(""),
        lambda: FeedAuth.header("Host", "token-123456"),
        lambda: FeedAuth.header("X Bad", "token-123456"),
        lambda: FeedAuth.header("X-Key", "tökén"),
    ],
)
def test_values_that_cannot_be_sent_are_refused_without_the_secret(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError) as info:
        build()
    assert "token-123456" not in str(info.value)
    assert "tökén" not in str(info.value)


def test_secrets_are_refused_inline_and_each_kind_names_what_it_needs(tmp_path: Path) -> None:
    config = tmp_path / "calsync.toml"
    config.write_text('feed_auth = "bearer"\nfeed_token = "inline-token"\nfeed_password = "inline"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(config, env={})
    assert [p.split(":")[0] for p in info.value.problems] == ["feed_password", "feed_token"]
    for kind, needs in [
        ("basic", "feed_username, feed_password"),
        ("bearer", "feed_token"),
        ("header", "feed_header_name, feed_token"),
    ]:
        with pytest.raises(SettingsError, match=f"needs {needs}"):
            load_settings(None, env={"CALSYNC_FEED_AUTH": kind})
    both = {"CALSYNC_FEED_AUTH": "bearer", "CALSYNC_FEED_TOKEN": "t" * 8, "CALSYNC_FEED_TOKEN_FILE": "f"}
    with pytest.raises(SettingsError, match="give feed_token or feed_token_file, not both"):
        load_settings(None, env=both)


def test_the_fetcher_gets_the_secret_from_the_file_or_the_variable(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-the-file-123\n")
    by_file = load_settings(
        None,
        env={
            "CALSYNC_FEED_AUTH": "header",
            "CALSYNC_FEED_HEADER_NAME": "X-Api-Key",
            "CALSYNC_FEED_TOKEN_FILE": str(tmp_path / "token"),
        },
    )
    assert wiring.feed_fetcher(by_file).auth == FeedAuth.header("X-Api-Key", "from-the-file-123")
    basic = load_settings(
        None,
        env={"CALSYNC_FEED_AUTH": "basic", "CALSYNC_FEED_USERNAME": "u", "CALSYNC_FEED_PASSWORD": "pw-var-1"},
    )
    assert wiring.feed_auth(basic) == FeedAuth.basic("u", "pw-var-1")
    missing = load_settings(
        None, env={"CALSYNC_FEED_AUTH": "bearer", "CALSYNC_FEED_TOKEN_FILE": str(tmp_path / "gone")}
    )
    with pytest.raises(SettingsError, match="feed_token_file: cannot read"):
        wiring.feed_auth(missing)


def test_the_cli_registers_the_credential_for_redaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "kept-in-a-file-pw-91f3"
    (tmp_path / "pw").write_text(password)
    config = tmp_path / "calsync.toml"
    config.write_text(
        f'feed_auth = "basic"\nfeed_username = "svc"\nfeed_password_file = "{tmp_path / "pw"}"\n'
    )
    monkeypatch.chdir(tmp_path)
    settings_from(str(config))
    encoded = base64.b64encode(f"svc:{password}".encode()).decode()
    assert redact(f"password {password} sent as {encoded}") == f"password {MARK} sent as {MARK}"
