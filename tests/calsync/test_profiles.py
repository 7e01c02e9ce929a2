"""Profiles (issue 10, item 1): two sync jobs on the same mailboxes each own their events.

Against graphemu over TLS with the CLI, as an administrator would run it: a timetable feed (the top
level, profile "default", as configured before profiles existed) and an exams CSV (`[[profiles]]`
"exams") on the same mailbox, with equal source keys in both. Syncs leave each other's events alone; a
purge of one profile leaves the other's; a lost database is adopted by each profile with no duplicate;
a second deployment with another profile name on the same tenant never touches the first's events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from calsync.adapters.eventmap import TAG_ID, Ownership
from calsync.cli.main import app
from calsync.store import current_revision, downgrade, head_revision, make_engine
from tests.calsync.tenants import FEED, Tenant, calsync_toml, running_tenant

ADA = "ada@uni.example"
runner = CliRunner()

EXAMS = (
    "mailbox,source_id,subject,start,end,time_zone\n"
    f"{ADA},1,Exam: Algebra,2030-02-01T09:00,2030-02-01T11:00,UTC\n"
    f"{ADA},2,Exam: Ethics,2030-02-02T09:00,2030-02-02T11:00,UTC\n"
    f"{ADA},3,Exam: Logic,2030-02-03T09:00,2030-02-03T11:00,UTC\n"
)
EXAMS_TAG = Ownership("exams").tag_id


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Tenant]:
    with running_tenant(tmp_path, [ADA]) as tenant:
        yield tenant


def config(folder: Path, world: Tenant, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "feed.ics").write_text(FEED)
    (folder / "exams.csv").write_text(EXAMS)
    return calsync_toml(folder, world, body)


TIMETABLE_ONLY = 'mailboxes = ["ada@uni.example"]\nics_file = "{folder}/feed.ics"\n'
WITH_EXAMS = (
    TIMETABLE_ONLY + '\n[[profiles]]\nname = "exams"\ncsv_file = "{folder}/exams.csv"\nmax_deletes = 1\n'
)


def cli(path: Path, *args: str) -> Any:
    result = runner.invoke(app, ["--config", str(path), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.output


def events(world: Tenant) -> dict[str, list[str]]:
    """Subjects of ADA's events by whose tag they carry."""
    w = world[0]
    found: dict[str, list[str]] = {"default": [], "exams": [], "none": []}
    for event in w.events[w.find_user(ADA).id].values():
        owner = (
            "default" if event.extended.get(TAG_ID) else "exams" if event.extended.get(EXAMS_TAG) else "none"
        )
        found[owner].append(event.props["subject"])
    return {k: sorted(v) for k, v in found.items()}


def test_two_profiles_on_one_mailbox_own_their_events(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "a"
    before = config(folder, world, TIMETABLE_ONLY.format(folder=folder))
    reports = cli(before, "sync", "--json")  # a deployment as it was before profiles
    assert [(r["profile"], r["created"]) for r in reports] == [("default", 2)]
    path = config(folder, world, WITH_EXAMS.format(folder=folder))  # the exams profile is added
    reports = cli(path, "sync", "--json")
    assert [(r["profile"], r["created"], r["deleted"], r["updated"]) for r in reports] == [
        ("default", 0, 0, 0),  # the timetable's events, tagged before profiles existed, stay its own
        ("exams", 3, 0, 0),  # equal source keys (csv:1 / ics:1 apart, csv:1..3) in their own namespace
    ]
    assert events(world) == {
        "default": ["Algebra", "Ethics"],
        "exams": ["Exam: Algebra", "Exam: Ethics", "Exam: Logic"],
        "none": [],
    }
    again = cli(path, "sync", "--json", "--full")
    assert sum(r["created"] + r["updated"] + r["deleted"] for r in again) == 0
    status = cli(path, "status", "--json")
    assert sorted((s["profile"], s["mailbox"], s["status"]) for s in status) == [
        ("default", ADA, "ok"),
        ("exams", ADA, "ok"),
    ]
    only_exams = cli(path, "plan", "--json", "--profile", "exams")
    assert only_exams == []

    # A purge of one profile leaves the other's events and state.
    purged = cli(path, "purge", "--mailbox", ADA, "--profile", "exams", "--yes", "--json")
    assert (purged["found"], purged["deleted"]) == (3, 3)
    assert events(world)["default"] == ["Algebra", "Ethics"]
    assert events(world)["exams"] == []
    assert [s["profile"] for s in cli(path, "status", "--json")] == ["default"]

    # A lost database: each profile adopts its own events again, nothing is created twice.
    cli(path, "sync", "--json", "--profile", "exams", "--full")
    for suffix in ("", "-wal", "-shm"):
        (folder / f"state.db{suffix}").unlink(missing_ok=True)
    adopted = cli(path, "sync", "--json", "--full")
    assert [(r["profile"], r["adopted"], r["created"], r["deleted"]) for r in adopted] == [
        ("default", 2, 0, 0),
        ("exams", 3, 0, 0),
    ]


def test_the_rails_count_per_profile(tmp_path: Path, world: Tenant) -> None:
    """exams has max_deletes = 1: emptying two of its rows stops it, while the timetable syncs on."""
    folder = tmp_path / "r"
    path = config(folder, world, WITH_EXAMS.format(folder=folder))
    cli(path, "sync", "--json")
    (folder / "exams.csv").write_text(EXAMS.splitlines()[0] + "\n" + EXAMS.splitlines()[1] + "\n")
    result = runner.invoke(app, ["--config", str(path), "sync", "--json", "--full"])
    assert result.exit_code == 6, result.output
    reports = {r["profile"]: r for r in json.loads(result.stdout)}
    assert (reports["default"]["status"], reports["exams"]["status"]) == ("ok", "stopped")
    assert reports["exams"]["error_code"] == "MassDelete"
    assert len(events(world)["exams"]) == 3  # nothing deleted


def test_deployments_with_other_profile_names_never_meet(tmp_path: Path, world: Tenant) -> None:
    """Two deployments (two databases) on one tenant, their top-level profiles named apart: each syncs,
    purges and loses its database without touching the other's events."""
    one = config(
        tmp_path / "one", world, 'profile = "north"\n' + TIMETABLE_ONLY.format(folder=tmp_path / "one")
    )
    two = config(
        tmp_path / "two", world, 'profile = "south"\n' + TIMETABLE_ONLY.format(folder=tmp_path / "two")
    )
    assert [r["created"] for r in cli(one, "sync", "--json")] == [2]
    assert [(r["created"], r["deleted"]) for r in cli(two, "sync", "--json")] == [(2, 0)]
    assert [(r["created"], r["deleted"]) for r in cli(one, "sync", "--json", "--full")] == [(0, 0)]
    cli(two, "purge", "--mailbox", ADA, "--yes", "--json")
    w = world[0]
    north = Ownership("north").tag_id
    left = list(w.events[w.find_user(ADA).id].values())
    assert len(left) == 2
    assert all(e.extended.get(north) for e in left)


def test_an_unknown_profile_is_a_configuration_error(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "u"
    path = config(folder, world, WITH_EXAMS.format(folder=folder))
    result = runner.invoke(app, ["--config", str(path), "sync", "--profile", "exam"])
    assert result.exit_code == 3
    assert "no profile named 'exam'" in result.output
    assert "default, exams" in result.output


def sync_json(path: Path, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["--config", str(path), "sync", "--json", *args])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_a_database_of_the_first_release_takes_a_second_profile(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "old"
    before = config(folder, world, TIMETABLE_ONLY.format(folder=folder))
    assert [r["created"] for r in sync_json(before)] == [2]
    url = f"sqlite:///{folder / 'state.db'}"
    downgrade(url, "0001")  # the shape the first release left: its tables, its rows
    assert current_revision(url) == "0001"
    engine = make_engine(url)
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM mappings WHERE mailbox = :m"), {"m": ADA}).scalar_one()
            == 2
        )
    engine.dispose()

    after = config(folder, world, WITH_EXAMS.format(folder=folder))
    reports = sync_json(after, "--full")
    assert current_revision(url) == head_revision()
    assert [(r["profile"], r["created"], r["updated"], r["deleted"], r["adopted"]) for r in reports] == [
        ("default", 0, 0, 0, 0),
        ("exams", 3, 0, 0, 0),
    ]
    assert events(world)["default"] == ["Algebra", "Ethics"]
    assert len(events(world)["exams"]) == 3
