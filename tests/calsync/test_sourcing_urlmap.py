"""`sourcing.Sources` with `ics_url_map_file`: each mailbox's feed from its own URL (a real loopback
server), a mailbox the map does not name is unavailable (never synced empty), the map's mailboxes are
synced when none are listed, and a map that cannot be read whole stops the run naming the line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.services import sourcing
from calsync.settings import Settings, SettingsError, load_settings
from tests.calsync.feedserver import FeedServer
from tests.calsync.sources.support import WINDOW, calendar, vevent

FEED = calendar(vevent("lesson-1", "DTSTART:20260302T090000Z", "DTEND:20260302T100000Z", "SUMMARY:Algebra"))


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    with FeedServer(FEED.decode()) as server:
        yield server


def _settings(map_file: Path) -> Settings:
    return Settings(ics_url_map_file=map_file, allow_http_feeds=True, allow_private_feeds=True)


async def test_each_mailbox_is_fetched_from_its_own_url(tmp_path: Path, feed: FeedServer) -> None:
    urls = tmp_path / "feeds.csv"
    base = f"http://127.0.0.1:{feed.port}/web/public"
    urls.write_text(f"mailbox,url\nAdele@Uni.edu,{base}/ri-adele.ics?key=k1\nbob@uni.edu,{base}/ri-bob.ics\n")
    sources = sourcing.Sources(_settings(urls))
    loader = sources.loader()
    adele, bob, carol = [await loader(m, WINDOW) for m in ("adele@uni.edu", "bob@uni.edu", "carol@uni.edu")]
    assert (adele.status, len(adele.events), bob.status, len(bob.events)) == ("ok", 1, "ok", 1)
    assert feed.requests == ["/web/public/ri-adele.ics?key=k1", "/web/public/ri-bob.ics"]
    assert (carol.status, carol.error_code, carol.events) == ("unavailable", "FEED_NOT_MAPPED", ())
    assert carol.problems == (
        "FEED_NOT_MAPPED carol@uni.edu: the mailbox has no URL in ics_url_map_file; it is not synced",
    )
    assert sources.table_mailboxes(WINDOW) == ["adele@uni.edu", "bob@uni.edu"]


async def test_the_map_is_read_again_when_it_changes(tmp_path: Path, feed: FeedServer) -> None:
    """A long-lived process (serve, worker) keeps the map between runs, and re-reads it once changed."""
    urls = tmp_path / "feeds.json"
    urls.write_text(f'{{"adele@uni.edu": "http://127.0.0.1:{feed.port}/one.ics"}}')
    cache = sourcing.SourceCache()
    await sourcing.Sources(_settings(urls), cache=cache).loader()("adele@uni.edu", WINDOW)
    urls.write_text(
        f'{{"adele@uni.edu": "http://127.0.0.1:{feed.port}/two.ics", "bob@uni.edu": "https://x/"}}'
    )
    again = sourcing.Sources(_settings(urls), cache=cache)
    await again.loader()("adele@uni.edu", WINDOW)
    assert feed.requests == ["/one.ics", "/two.ics"]
    assert again.table_mailboxes(WINDOW) == ["adele@uni.edu", "bob@uni.edu"]


def test_a_broken_map_stops_the_run_naming_the_line_not_the_url(tmp_path: Path) -> None:
    urls = tmp_path / "feeds.csv"
    urls.write_text("mailbox,url\na@uni.edu,https://h/ri-secret-one\nA@UNI.EDU,https://h/ri-secret-two\n")
    with pytest.raises(SettingsError) as info:
        sourcing.Sources(_settings(urls)).loader()
    assert info.value.problems == ["ics_url_map_file: line 3: the mailbox is mapped twice, to different URLs"]
    with pytest.raises(SettingsError, match="cannot read"):
        sourcing.Sources(_settings(tmp_path / "missing.csv")).loader()


def test_a_map_is_one_source(tmp_path: Path) -> None:
    config = tmp_path / "calsync.toml"
    config.write_text(f'ics_url_map_file = "{tmp_path / "m.csv"}"\nics_url_template = "https://h/{{upn}}"\n')
    with pytest.raises(SettingsError, match="give one source, not ics_url_template, ics_url_map_file"):
        load_settings(config, env={})
    assert load_settings(None, env={"CALSYNC_ICS_URL_MAP_FILE": "m.csv"}).source_kind == "ics-url"
