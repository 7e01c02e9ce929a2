"""Offboarding (issue 10, item 3), end to end with the CLI against graphemu over TLS.

A mailbox that leaves the selection keeps its events for the grace period, then loses them; one that
comes back inside the grace period keeps them; a mass departure trips the breaker until `calsync
offboard` confirms it; a selection that could not be read marks nobody; a profile removed from the
configuration is only offboarded by hand. Time passes by marking the departures again through the store
with a clock set back (the store's own API, as the rounds of the days before would have left them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from calsync.cli.main import app
from calsync.services.offboarding import breaker_trips
from calsync.store import ScopedStore, SqlStateStore, make_engine
from tests.calsync.tenants import FEED, PERMISSIONS, Tenant, calsync_toml, running_tenant

PEOPLE = ["ada@uni.example", "bob@uni.example", "cy@uni.example"]
ADA, BOB, CY = PEOPLE
runner = CliRunner()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Tenant]:
    with running_tenant(tmp_path, PEOPLE, (*PERMISSIONS, "GroupMember.Read.All")) as tenant:
        yield tenant


def config(folder: Path, world: Tenant, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "feed.ics").write_text(FEED)
    return calsync_toml(folder, world, f'ics_file = "{folder / "feed.ics"}"\n{body}')


def selecting(*mailboxes: str) -> str:
    return f"mailboxes = {json.dumps(list(mailboxes))}\n"


def cli(path: Path, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["--config", str(path), *args])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args else result.output


def events(world: Tenant, mailbox: str) -> int:
    w = world[0]
    return len(w.events[w.find_user(mailbox).id])


def days_pass(path: Path, days: float, profile: str = "default") -> None:
    """Every pending departure of the profile is dated `days` earlier: as if marked that long ago."""
    engine = make_engine(f"sqlite:///{path.parent / 'state.db'}")
    try:
        marks = ScopedStore(SqlStateStore(engine), profile).departures()
        for mailbox, since in marks.items():
            earlier = ScopedStore(
                SqlStateStore(engine, clock=lambda s=since: s - timedelta(days=days)), profile
            )
            earlier.clear_departed([mailbox])
            earlier.mark_departed([mailbox])
    finally:
        engine.dispose()


def departures(path: Path) -> dict[str, datetime]:
    engine = make_engine(f"sqlite:///{path.parent / 'state.db'}")
    try:
        return SqlStateStore(engine).departures()
    finally:
        engine.dispose()


def offboarded(reports: list[dict[str, Any]]) -> list[tuple[str, str, str | None, int]]:
    return [(r["mailbox"], r["status"], r["error_code"], r["deleted"]) for r in reports if r["offboarding"]]


def test_a_mailbox_that_left_is_offboarded_after_the_grace_period(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "grace"
    path = config(folder, world, selecting(ADA, BOB))
    cli(path, "sync", "--json")
    path = config(folder, world, selecting(ADA))  # bob left
    assert offboarded(cli(path, "sync", "--json")) == []
    assert list(departures(path)) == [BOB]
    assert "bob@uni.example: left the selection" in cli(path, "status")
    days_pass(path, 6.9)
    assert offboarded(cli(path, "sync", "--json")) == []
    assert events(world, BOB) == 2
    days_pass(path, 0.1)  # seven days now
    assert offboarded(cli(path, "sync", "--json")) == [(BOB, "ok", "Offboarded", 2)]
    assert (events(world, ADA), events(world, BOB)) == (2, 0)
    assert departures(path) == {}
    assert [s["mailbox"] for s in cli(path, "status", "--json")] == [ADA]  # its state is forgotten
    assert offboarded(cli(path, "sync", "--json")) == []


def test_a_mailbox_back_inside_the_grace_period_keeps_its_events(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "back"
    path = config(folder, world, selecting(ADA, BOB))
    cli(path, "sync", "--json")
    path = config(folder, world, selecting(ADA))
    cli(path, "sync", "--json")
    days_pass(path, 6)
    path = config(folder, world, selecting(ADA, BOB))  # bob is back
    reports = cli(path, "sync", "--json")
    assert offboarded(reports) == []
    assert sum(r["created"] + r["deleted"] for r in reports) == 0
    assert departures(path) == {}
    path = config(folder, world, selecting(ADA))  # and gone again: a new grace period
    cli(path, "sync", "--json")
    days_pass(path, 2)
    assert offboarded(cli(path, "sync", "--json")) == []
    assert events(world, BOB) == 2


def test_the_breaker_stops_a_mass_departure_until_offboard_confirms_it(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "breaker"
    path = config(folder, world, selecting(*PEOPLE))
    cli(path, "sync", "--json")
    path = config(folder, world, selecting(ADA))  # two of three leave at once
    cli(path, "sync", "--json")
    days_pass(path, 7)
    result = runner.invoke(app, ["--config", str(path), "sync", "--json"])
    assert result.exit_code == 6, result.output
    stops = offboarded(json.loads(result.stdout))
    assert stops == [(BOB, "stopped", "OffboardBreaker", 0), (CY, "stopped", "OffboardBreaker", 0)]
    assert (events(world, BOB), events(world, CY)) == (2, 2)
    status = {s["mailbox"]: s for s in cli(path, "status", "--json")}
    assert status[BOB]["error_code"] == "OffboardBreaker"
    assert "calsync offboard --profile default" in status[BOB]["message"]
    # --force overrides one mailbox's rails, not the breaker
    forced = runner.invoke(app, ["--config", str(path), "sync", "--json", "--force"])
    assert [s[1] for s in offboarded(json.loads(forced.stdout))] == ["stopped", "stopped"]
    declined = runner.invoke(app, ["--config", str(path), "offboard", "--profile", "default"], input="n\n")
    assert declined.exit_code == 0, declined.output
    assert BOB in declined.output
    assert CY in declined.output
    assert (events(world, BOB), events(world, CY)) == (2, 2)
    done = cli(path, "offboard", "--profile", "default", "--yes", "--json")
    assert [(r["mailbox"], r["status"], r["deleted"]) for r in done] == [(BOB, "ok", 2), (CY, "ok", 2)]
    assert (events(world, ADA), events(world, BOB), events(world, CY)) == (2, 0, 0)
    assert offboarded(cli(path, "sync", "--json")) == []


def test_a_selection_that_could_not_be_read_marks_nobody(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "failed"
    path = config(folder, world, selecting(ADA, BOB))
    cli(path, "sync", "--json")
    path = config(folder, world, 'group = "00000000-0000-4000-8000-00000000dead"\n')  # no such group
    result = runner.invoke(app, ["--config", str(path), "sync", "--json"])
    assert result.exit_code != 0, result.output
    assert departures(path) == {}
    assert (events(world, ADA), events(world, BOB)) == (2, 2)


def test_a_removed_profile_is_offboarded_only_by_hand(tmp_path: Path, world: Tenant) -> None:
    folder = tmp_path / "removed"
    exams = f'\n[[profiles]]\nname = "exams"\nics_file = "{folder / "feed.ics"}"\n'
    path = config(folder, world, selecting(ADA) + exams)
    cli(path, "sync", "--json")
    assert events(world, ADA) == 4
    path = config(folder, world, selecting(ADA))  # the exams profile is gone (or its name mistyped)
    cli(path, "sync", "--json")
    days_pass(path, 30, profile="exams")
    cli(path, "sync", "--json")
    assert events(world, ADA) == 4
    assert "profile 'exams' is no longer configured" in cli(path, "status")
    done = cli(path, "offboard", "--profile", "exams", "--yes", "--json")
    assert [(r["mailbox"], r["deleted"]) for r in done] == [(ADA, 2)]
    assert events(world, ADA) == 2
    assert "no longer configured" not in cli(path, "status")


@pytest.mark.parametrize(
    ("due", "known", "trips"),
    [(1, 1, False), (1, 100, False), (2, 3, True), (2, 100, False), (11, 100, True), (21, 10_000, True),
     (20, 10_000, False)],
)  # fmt: skip
def test_the_breaker_counts_mailboxes_and_their_share(due: int, known: int, trips: bool) -> None:
    """At the defaults (20 mailboxes, 10%): one mailbox leaving alone is a departure, not an accident."""
    assert breaker_trips(20, 0.1, due, known) is trips


def test_the_service_rounds_offboard_on_the_deployment_clock(tmp_path: Path, world: Tenant) -> None:
    """`calsync serve` and the workers list their work with `services.scopes`: the same round runs
    there, and the grace period is measured on the deployment's clock (injected here)."""
    import asyncio

    from calsync import services
    from calsync.settings import load_settings

    folder = tmp_path / "service"
    path = config(folder, world, selecting(ADA, BOB))
    cli(path, "sync", "--json")
    path = config(folder, world, selecting(ADA))

    async def rounds() -> None:
        async with services.open_deployment(load_settings(path, env={})) as deployment:
            marked = datetime.now(UTC)
            assert await services.scopes(deployment) == [ADA]
            assert list(deployment.store.departures()) == [BOB]
            deployment.clock = lambda: marked + timedelta(days=6, hours=23)
            await services.scopes(deployment)
            assert events(world, BOB) == 2
            deployment.clock = lambda: marked + timedelta(days=7, minutes=1)
            await services.scopes(deployment)
            assert events(world, BOB) == 0
            assert deployment.store.departures() == {}

    asyncio.run(rounds())
