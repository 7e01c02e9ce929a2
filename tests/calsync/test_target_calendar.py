"""Target calendars (issue 10, item 2): a profile's own named calendar in each mailbox.

Against graphemu over TLS with the CLI, as an administrator would run it: the calendar is created once
(tagged, in its colour) and reused; a person's own calendar of that name is never written to; a lost
database finds the calendar again by its tag; purge removes it only when configured and only when
nothing else is left in it; two profiles keep two calendars.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from calsync.adapters.eventmap import Ownership
from calsync.cli.main import app
from tests.calsync.tenants import FEED, Tenant, calsync_toml, running_tenant

ADA = "ada@uni.example"
runner = CliRunner()

EXAMS = (
    "mailbox,source_id,subject,start,end,time_zone\n"
    f"{ADA},1,Exam: Algebra,2030-02-01T09:00,2030-02-01T11:00,UTC\n"
)
TIMETABLE = (
    'mailboxes = ["ada@uni.example"]\nics_file = "{folder}/feed.ics"\n'
    'calendar_name = "Timetable"\ncalendar_color = "lightTeal"\n'
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Tenant]:
    with running_tenant(tmp_path, [ADA]) as tenant:
        yield tenant


def config(folder: Path, world: Tenant, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "feed.ics").write_text(FEED)
    (folder / "exams.csv").write_text(EXAMS)
    return calsync_toml(folder, world, body.format(folder=folder))


def cli(path: Path, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["--config", str(path), *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args else result.output


def calendars(world: Tenant) -> dict[str, Any]:
    """ADA's calendars by name."""
    w = world[0]
    return {c.name: c for c in w.calendars[w.find_user(ADA).id].values()}


def subjects(world: Tenant, name: str) -> list[str]:
    """Subjects of the events in ADA's calendar `name`."""
    w = world[0]
    calendar = calendars(world)[name]
    return sorted(
        e.props["subject"] for e in w.events[w.find_user(ADA).id].values() if e.calendar_id == calendar.id
    )


def test_calendar_created_once_tagged_coloured_and_reused(tmp_path: Path, world: Tenant) -> None:
    path = config(tmp_path / "a", world, TIMETABLE)
    plan = cli(path, "plan", "--json")  # a plan changes nothing: no calendar yet
    assert sorted((a["action"], a["subject"]) for a in plan) == [("create", "Algebra"), ("create", "Ethics")]
    assert "Timetable" not in calendars(world)
    assert [r["created"] for r in cli(path, "sync", "--json")] == [2]
    made = calendars(world)["Timetable"]
    assert made.color == "lightTeal"
    assert made.extended == {Ownership("default").calendar_tag_id: "default"}
    assert subjects(world, "Timetable") == ["Algebra", "Ethics"]
    assert subjects(world, "Calendar") == []  # nothing in the default calendar
    again = cli(path, "sync", "--json", "--full")
    assert [(r["created"], r["updated"], r["deleted"]) for r in again] == [(0, 0, 0)]
    assert sorted(calendars(world)) == ["Calendar", "Timetable"]  # no second one

    # Renamed and recoloured in Outlook: still the profile's (its tag), not created again.
    made.name, made.color = "My lectures", "lightRed"
    assert [r["created"] for r in cli(path, "sync", "--json", "--full")] == [0]
    assert sorted(calendars(world)) == ["Calendar", "My lectures"]


def test_a_persons_own_calendar_of_that_name_is_never_written(tmp_path: Path, world: Tenant) -> None:
    w = world[0]
    own = w.add_calendar(w.find_user(ADA).id, "timetable")  # a person's, named in another case
    path = config(tmp_path / "p", world, TIMETABLE)
    result = runner.invoke(app, ["--config", str(path), "sync", "--json"])
    assert result.exit_code == 6, result.output
    [report] = json.loads(result.stdout)
    assert (report["status"], report["error_code"]) == ("failed", "calendar_name_taken")
    assert "'Timetable' that this profile did not create" in report["message"]
    assert not w.events[w.find_user(ADA).id]  # nothing written anywhere
    assert own.extended == {}
    # `purge` finds nothing of the profile's there and leaves the person's calendar alone.
    purged = cli(path, "purge", "--mailbox", ADA, "--yes", "--json")
    assert (purged["found"], purged["deleted"], purged["calendar"]) == (0, 0, None)
    assert calendars(world)["timetable"] is own


def test_the_calendar_is_found_again_after_a_lost_database(tmp_path: Path, world: Tenant) -> None:
    path = config(tmp_path / "r", world, TIMETABLE)
    cli(path, "sync", "--json")
    made = calendars(world)["Timetable"]
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / "r" / f"state.db{suffix}").unlink(missing_ok=True)
    adopted = cli(path, "sync", "--json", "--full")
    assert [(r["adopted"], r["created"], r["deleted"]) for r in adopted] == [(2, 0, 0)]
    assert calendars(world)["Timetable"] is made  # by its tag: no second calendar, no second event
    assert subjects(world, "Timetable") == ["Algebra", "Ethics"]


def test_purge_removes_the_calendar_only_when_configured_and_empty(tmp_path: Path, world: Tenant) -> None:
    w = world[0]
    keep = config(tmp_path / "k", world, TIMETABLE)
    cli(keep, "sync", "--json")
    purged = cli(keep, "purge", "--mailbox", ADA, "--yes", "--json")
    assert (purged["deleted"], purged["calendar"]) == (2, None)
    assert subjects(world, "Timetable") == []  # not configured: kept, empty

    remove = config(tmp_path / "d", world, TIMETABLE + "purge_removes_calendar = true\n")
    cli(remove, "sync", "--json")
    calendar = calendars(world)["Timetable"]  # the same calendar, found by its tag
    copied = next(e for e in w.events[w.find_user(ADA).id].values() if e.props["subject"] == "Ethics")
    copied.extended.clear()  # now an event calsync did not create (a person's copy, say)
    purged = cli(remove, "purge", "--mailbox", ADA, "--yes", "--json")
    assert (purged["deleted"], purged["calendar"]) == (1, "kept_not_empty")
    assert subjects(world, "Timetable") == ["Ethics"]  # the person's event and its calendar stay

    w.remove_event(w.find_user(ADA).id, copied.id)
    cli(remove, "sync", "--json", "--full")
    person = runner.invoke(app, ["--config", str(remove), "purge", "--mailbox", ADA, "--yes"])
    assert person.exit_code == 0, person.output
    assert "Removed the profile's calendar." in person.output
    assert calendar.id not in w.calendars[w.find_user(ADA).id]
    assert cli(remove, "purge", "--mailbox", ADA, "--yes", "--json")["calendar"] == "absent"


def test_two_profiles_write_to_two_calendars(tmp_path: Path, world: Tenant) -> None:
    body = (
        TIMETABLE
        + '\n[[profiles]]\nname = "exams"\ncsv_file = "{folder}/exams.csv"\ncalendar_name = "Exams"\n'
    )
    path = config(tmp_path / "t", world, body)
    reports = cli(path, "sync", "--json")
    assert [(r["profile"], r["created"]) for r in reports] == [("default", 2), ("exams", 1)]
    assert subjects(world, "Timetable") == ["Algebra", "Ethics"]
    assert subjects(world, "Exams") == ["Exam: Algebra"]
    assert calendars(world)["Exams"].extended == {Ownership("exams").calendar_tag_id: "exams"}
    assert calendars(world)["Exams"].color == "auto"  # the top level's colour is the top level's calendar's
    again = cli(path, "sync", "--json", "--full")
    assert sum(r["created"] + r["updated"] + r["deleted"] for r in again) == 0


def test_one_calendar_name_for_two_profiles_is_a_configuration_error(tmp_path: Path, world: Tenant) -> None:
    body = TIMETABLE + '\n[[profiles]]\nname = "exams"\ncsv_file = "{folder}/exams.csv"\n'  # inherits it
    path = config(tmp_path / "c", world, body)
    result = runner.invoke(app, ["--config", str(path), "sync"])
    assert result.exit_code == 3
    assert "profiles default and exams both write to the calendar 'Timetable'" in result.output
