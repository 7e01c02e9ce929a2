"""`calsync graph calendars create|update|delete`, `graph instances`, `graph schedule` and
`graph meeting-times` against graphemu over TLS (the CLI tests' tenant: ada and bob)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from calsync.cli.main import app
from tests.calsync.cli.conftest import ADA, BOB

runner = CliRunner()


def cli(config: Path, *args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["--config", str(config), "graph", *args], input=input)


def flat(text: str) -> str:
    return " ".join(text.split())


def ok_json(config: Path, *args: str) -> Any:
    result = cli(config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_calendar_create_update_delete(config: Path) -> None:
    """A calendar is created with a colour, shown, renamed, refused when its name is taken, deleted after
    confirmation, and reported gone the second time."""
    made = ok_json(config, "calendars", "create", "Lab sessions", "--mailbox", ADA, "--color", "lightteal")
    assert (made["name"], made["color"], made["isDefaultCalendar"]) == ("Lab sessions", "lightTeal", False)
    human = cli(config, "calendars", "create", "Tutorials", "--mailbox", ADA)
    assert human.exit_code == 0, human.output
    assert "teamsForBusiness" in human.stdout
    assert "Tutorials" in human.stdout
    taken = cli(config, "calendars", "create", "lab SESSIONS", "--mailbox", ADA)
    assert taken.exit_code == 5
    assert "ErrorFolderExists" in flat(taken.output)
    renamed = ok_json(config, "calendars", "update", made["id"], "--mailbox", ADA, "--name", "Labs")
    assert renamed["name"] == "Labs"
    nothing = cli(config, "calendars", "update", made["id"], "--mailbox", ADA)
    assert nothing.exit_code == 2
    assert "nothing to change" in flat(nothing.output)
    kept = cli(config, "calendars", "delete", made["id"], "--mailbox", ADA, input="n\n")
    assert kept.exit_code == 1
    assert any(c["id"] == made["id"] for c in ok_json(config, "calendars", "list", "--mailbox", ADA))
    gone = ok_json(config, "calendars", "delete", made["id"], "--mailbox", ADA, "--yes")
    assert gone == {"id": made["id"], "deleted": True, "alreadyGone": False}
    again = cli(config, "calendars", "delete", made["id"], "--mailbox", ADA, "--yes")
    assert "already gone" in again.stdout


def test_default_calendar_and_bad_colour_are_usage_errors(config: Path) -> None:
    default = next(
        c for c in ok_json(config, "calendars", "list", "--mailbox", ADA) if c["isDefaultCalendar"]
    )
    refused = cli(config, "calendars", "delete", default["id"], "--mailbox", ADA, "--yes")
    assert refused.exit_code == 2
    assert "cannot be deleted" in flat(refused.output)
    colour = cli(config, "calendars", "create", "X", "--mailbox", ADA, "--color", "purple", "--json")
    assert colour.exit_code == 2
    assert "unknown color" in flat(colour.output)


def test_instances_of_a_series(config: Path, tmp_path: Path) -> None:
    """A weekly series in Berlin time: its occurrences in a range, limited, as JSON and as a table."""
    recurrence = {
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 6},
        }
    }
    body = tmp_path / "series.json"
    body.write_text(json.dumps(recurrence))
    series = ok_json(config, "events", "create", "--mailbox", BOB, "--subject", "Reading group",
                     "--start", "2026-11-02T16:00", "--end", "2026-11-02T17:00", "--tz", "Europe/Berlin",
                     "--json-body", str(body))  # fmt: skip
    found = ok_json(config, "instances", series["id"], "--mailbox", BOB,
                    "--from", "2026-11-01", "--to", "2026-12-01", "--tz", "Europe/Berlin")  # fmt: skip
    assert [o["start"]["dateTime"][:16] for o in found] == [
        "2026-11-02T15:00", "2026-11-09T15:00", "2026-11-16T15:00", "2026-11-23T15:00", "2026-11-30T15:00",
    ]  # fmt: skip
    limited = ok_json(config, "instances", series["id"], "--mailbox", BOB, "--limit", "2",
                      "--from", "2026-11-01", "--to", "2026-12-01")  # fmt: skip
    assert len(limited) == 2
    table = cli(config, "instances", series["id"], "--mailbox", BOB, "--tz", "Europe/Berlin",
                "--from", "2026-11-01", "--to", "2026-11-10")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "2026-11-09 16:00" in table.stdout
    backwards = cli(
        config, "instances", series["id"], "--mailbox", BOB, "--from", "2026-12-01", "--to", "2026-11-01"
    )
    assert backwards.exit_code == 2
    assert "end must be after start" in flat(backwards.output)


def test_schedule(config: Path) -> None:
    """Free/busy of ada and bob through ada's calendar: digits per slot, items, and an unknown address."""
    ok_json(config, "events", "create", "--mailbox", BOB, "--subject", "Office hour",
            "--start", "2026-11-03T10:00Z", "--end", "2026-11-03T11:00Z")  # fmt: skip
    window = ("--from", "2026-11-03T09:00Z", "--to", "2026-11-03T12:00Z", "--interval", "60")
    found = ok_json(config, "schedule", BOB, ADA, "ghost@uni.example", "--mailbox", ADA, *window)
    assert [f["scheduleId"] for f in found] == [BOB, ADA, "ghost@uni.example"]
    assert (found[0]["availabilityView"], found[1]["availabilityView"]) == ("020", "000")
    assert found[2]["error"]["responseCode"] == "ErrorMailRecipientNotFound"
    table = cli(config, "schedule", BOB, "--mailbox", ADA, "--from", "2026-11-03T09:00Z",
                "--to", "2026-11-03T12:00Z", "--interval", "60", "--tz", "UTC")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "·█·" in table.stdout
    assert "Office" in table.stdout
    bad = cli(config, "schedule", BOB, "--mailbox", ADA, "--from", "2026-11-03T09:00Z",
              "--to", "2026-11-03T12:00Z", "--interval", "3")  # fmt: skip
    assert bad.exit_code == 2
    assert "between 5 and 1440" in flat(bad.output)


def test_meeting_times_need_a_delegated_connection(config: Path) -> None:
    """With the app's permissions Graph refuses findMeetingTimes; the CLI says why (exit 4), also as JSON."""
    human = cli(config, "meeting-times", BOB, "--mailbox", ADA, "--from", "2026-11-03T09:00Z",
                "--to", "2026-11-03T12:00Z", "--duration", "60")  # fmt: skip
    assert human.exit_code == 4
    assert "signed-in user" in flat(human.output)
    machine = cli(config, "meeting-times", BOB, "--mailbox", ADA, "--from", "2026-11-03T09:00Z",
                  "--to", "2026-11-03T12:00Z", "--json")  # fmt: skip
    assert machine.exit_code == 4
    too_long = cli(config, "meeting-times", BOB, "--mailbox", ADA, "--from", "2026-11-03T09:00Z",
                   "--to", "2026-11-03T10:00Z", "--duration", "120")  # fmt: skip
    assert too_long.exit_code == 2
    assert "longer than the window" in flat(too_long.output)
