"""`calsync graph ...` against graphemu over TLS with a certificate credential."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from calsync.cli.main import app
from tests.calsync.cli.conftest import ADA, OUTSIDER, Emulator

runner = CliRunner()


def cli(config: Path, *args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["--config", str(config), "graph", *args], input=input)


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(text.split())


def create(config: Path, *args: str) -> dict[str, Any]:
    result = cli(config, "events", "create", "--mailbox", ADA, "--json", *args)
    assert result.exit_code == 0, result.output
    event: dict[str, Any] = json.loads(result.stdout)
    return event


def test_calendars_list_json(config: Path) -> None:
    """calendars list --json returns the mailbox's calendars, the default one included."""
    result = cli(config, "calendars", "list", "--mailbox", ADA, "--json")
    assert result.exit_code == 0, result.output
    calendars = json.loads(result.stdout)
    assert any(c["isDefaultCalendar"] and c["name"] == "Calendar" for c in calendars)
    table = cli(config, "calendars", "list", "--mailbox", ADA)
    assert table.exit_code == 0, table.output
    assert "Calendar" in table.stdout


def test_event_create_get_update_delete_round_trip(config: Path, emulator: Emulator) -> None:
    """An event is created in Berlin time, read back, updated with If-Match, refused with a stale
    changeKey, kept when deletion is not confirmed, then deleted and reported gone."""
    event = create(
        config,
        "--subject", "Algebra",
        "--start", "2026-10-05T09:15", "--end", "2026-10-05T10:45", "--tz", "Europe/Berlin",
        "--location", "HS 1", "--body", "Bring a pencil", "--teams",
    )  # fmt: skip
    assert event["start"] == {"dateTime": "2026-10-05T07:15:00.0000000", "timeZone": "UTC"}
    assert event["originalStartTimeZone"] == "W. Europe Standard Time"
    assert event["location"]["displayName"] == "HS 1"
    assert event["isOnlineMeeting"] is True
    assert event["transactionId"]
    event_id, stale = event["id"], event["changeKey"]

    got = cli(config, "events", "get", "--mailbox", ADA, event_id, "--json")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["subject"] == "Algebra"
    human = cli(config, "events", "get", "--mailbox", ADA, event_id, "--tz", "Europe/Berlin")
    assert "2026-10-05 09:15" in human.stdout

    updated = cli(config, "events", "update", "--mailbox", ADA, event_id, "--subject", "Linear algebra",
                  "--if-match", stale, "--json")  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout)["subject"] == "Linear algebra"
    refused = cli(
        config, "events", "update", "--mailbox", ADA, event_id, "--subject", "X", "--if-match", stale
    )
    assert refused.exit_code == 5
    assert "changeKey" in flat(refused.output)

    listed = cli(
        config, "events", "list", "--mailbox", ADA, "--filter", "subject eq 'Linear algebra'", "--json"
    )
    assert [e["id"] for e in json.loads(listed.stdout)] == [event_id]

    kept = cli(config, "events", "delete", "--mailbox", ADA, event_id, input="n\n")
    assert kept.exit_code == 1
    user = emulator.world.find_user(ADA)
    assert user is not None
    assert event_id in emulator.world.events[user.id]  # not confirmed: still there
    deleted = cli(config, "events", "delete", "--mailbox", ADA, event_id, "--yes", "--json")
    assert json.loads(deleted.stdout) == {"id": event_id, "deleted": True, "alreadyGone": False}
    again = cli(config, "events", "delete", "--mailbox", ADA, event_id, "--yes", "--json")
    assert json.loads(again.stdout)["alreadyGone"] is True
    missing = cli(config, "events", "get", "--mailbox", ADA, event_id)
    assert missing.exit_code == 5
    assert "Not found" in missing.output


def test_create_from_json_body_and_usage_errors(config: Path, tmp_path: Path) -> None:
    """--json-body supplies the event and options override it; missing times and bad zones exit 2."""
    body = tmp_path / "event.json"
    body.write_text(json.dumps({
        "subject": "From file",
        "start": {"dateTime": "2026-11-02T08:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-02T09:00:00", "timeZone": "UTC"},
        "categories": ["Blue category"],
    }))  # fmt: skip
    event = create(config, "--json-body", str(body), "--subject", "Overridden")
    assert (event["subject"], event["categories"]) == ("Overridden", ["Blue category"])
    no_end = cli(config, "events", "create", "--mailbox", ADA, "--start", "2026-11-02T08:00")
    assert no_end.exit_code == 2
    bad_zone = cli(config, "events", "create", "--mailbox", ADA, "--start", "2026-11-02T08:00",
                   "--end", "2026-11-02T09:00", "--tz", "Mars/Olympus")  # fmt: skip
    assert bad_zone.exit_code == 2
    assert "Mars/Olympus" in bad_zone.output


def test_view_with_tz_prints_local_times(config: Path) -> None:
    """calendarView with --tz asks Graph for that zone (Prefer outlook.timezone) and shows local times."""
    create(config, "--subject", "Ethics", "--start", "2026-10-07T12:00:00Z", "--end", "2026-10-07T13:00:00Z")
    args = ("view", "--mailbox", ADA, "--from", "2026-10-07", "--to", "2026-10-08", "--tz", "Asia/Tokyo")
    result = cli(config, *args, "--json")
    assert result.exit_code == 0, result.output
    (event,) = [e for e in json.loads(result.stdout) if e["subject"] == "Ethics"]
    assert event["start"]["timeZone"] == "Tokyo Standard Time"
    assert event["start"]["dateTime"].startswith("2026-10-07T21:00:00")
    table = cli(config, *args)
    assert table.exit_code == 0, table.output
    assert "2026-10-07 21:00" in table.stdout
    assert "times in Asia/Tokyo" in flat(table.stdout)


def test_raw_request_get_post_and_headers(config: Path, tmp_path: Path) -> None:
    """graph request sends any call through the client: GET with a query, POST from @file, extra headers."""
    calendars = cli(config, "request", "GET", f"/users/{ADA}/calendars?$select=name", "--json")
    assert calendars.exit_code == 0, calendars.output
    assert "Calendar" in [c["name"] for c in json.loads(calendars.stdout)["value"]]

    data = tmp_path / "body.json"
    data.write_text(json.dumps({
        "subject": "Raw",
        "start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-12-01T11:00:00", "timeZone": "W. Europe Standard Time"},
    }))  # fmt: skip
    posted = cli(config, "request", "POST", f"/users/{ADA}/events", "--data", f"@{data}",
                 "--header", 'Prefer: outlook.timezone="Tokyo Standard Time"', "--json")  # fmt: skip
    assert posted.exit_code == 0, posted.output
    event = json.loads(posted.stdout)
    assert event["start"] == {"dateTime": "2026-12-01T18:00:00.0000000", "timeZone": "Tokyo Standard Time"}

    human = cli(config, "request", "get", f"/users/{ADA}/events/{event['id']}")
    assert human.exit_code == 0, human.output
    assert '"subject": "Raw"' in human.stdout
    gone = cli(config, "request", "DELETE", f"/users/{ADA}/events/{event['id']}")
    assert (gone.exit_code, gone.stdout.strip()) == (0, "HTTP 204 (no content)")
    bad = cli(config, "request", "GET", "/me", "--header", "no-colon")
    assert bad.exit_code == 2


def test_access_policy_denial_is_explained(config: Path) -> None:
    """A mailbox outside the application access policy gets the policy explanation and exit code 4."""
    result = cli(config, "calendars", "list", "--mailbox", OUTSIDER)
    assert result.exit_code == 4
    text = flat(result.output)
    assert "Access to OData is disabled." in text
    assert "Test-ApplicationAccessPolicy" in text
