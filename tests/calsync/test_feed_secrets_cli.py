"""Tokenised feed URLs never leave calsync whole: `calsync sync` and `calsync status`, as text and as
`--json`, and the DEBUG log of the same runs, for a feed that fails (404) and then succeeds. Real
processes of the CLI against graphemu and a loopback feed server: the token is in the query of a URL
template, and in the path of a mailbox -> URL map (as TimeEdit publishes them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from calsync.cli.main import app
from tests.calsync.feedserver import FeedServer
from tests.calsync.test_cli_sync import FEED, config, emulator, events  # noqa: F401 (fixtures)

runner = CliRunner()


def _use(path: Path, source: str) -> None:
    text = path.read_text().replace(f'ics_file = "{path.parent / "timetable.ics"}"\n', "")
    path.write_text(text + source + "allow_private_feeds = true\nallow_http_feeds = true\n")


def _every_output(path: Path) -> str:
    """Everything sync and status print, as text and as JSON, with the DEBUG log (stderr) of each."""
    out = []
    mailbox = ["status", "-m", "ada@uni.example"]
    for args in (["sync"], ["sync", "--json"], ["status"], ["status", "--json"], mailbox):
        result = runner.invoke(app, ["--config", str(path), "--log-level", "debug", *args])
        out.append(result.stdout + result.stderr)
    return "\n".join(out)


@pytest.mark.parametrize("where", ["template", "map"])
def test_a_tokenised_feed_url_is_never_shown(
    config: Path,  # noqa: F811 (the fixture)
    emulator: dict[str, Any],  # noqa: F811 (the fixture)
    where: str,
) -> None:
    token = f"tok3n-{where}-SECRET-a7f"  # one per case: the redactor is process-wide
    with FeedServer(FEED) as feed:
        base = f"http://127.0.0.1:{feed.port}"
        if where == "template":
            _use(config, f'ics_url_template = "{base}/ical/{{upn}}.ics?token={token}"\n')
        else:
            mapped = f"mailbox,url\nada@uni.example,{base}/web/public/{token}.ics\n"
            (config.parent / "feeds.csv").write_text(mapped)
            _use(config, f'ics_url_map_file = "{config.parent / "feeds.csv"}"\n')
        feed.status = 404
        failing = _every_output(config)
        feed.status = 200
        passing = _every_output(config)
    assert token in feed.requests[0]  # the server did get it
    assert "FETCH_NOT_FOUND" in failing  # the failure is named, its feed redacted
    assert "http://127.0.0.1" in failing
    report = json.loads(runner.invoke(app, ["--config", str(config), "status", "--json"]).stdout)
    assert report  # status --json is a document, and it held no token above
    assert len(events(emulator, "ada@uni.example")) == 7
    for text in (failing, passing):
        assert token not in text
        assert "SECRET" not in text
