"""A feed's HTTP validators are kept only while the mailbox is fully in step with the feed (issue 10).

A plain `sync` asks the feed conditionally and skips the mailbox on 304. That is only right when the last
run left the mailbox exactly as the feed says: after `purge`, or after a run in which some item failed,
the next plain `sync` must download the feed again and finish the job, without needing `--full`.

graphemu over TLS (tests/calsync/cli/conftest.py) and a loopback feed server that answers 304 to a
matching If-None-Match (tests/calsync/feedserver.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.calsync.cli.conftest import ADA, Emulator
from tests.calsync.cli.test_exit_codes import Env


@pytest.fixture
def served(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """ada's 7 events served by URL, synced once: the feed's validators are stored."""
    for name in [n for n in os.environ if n.startswith("CALSYNC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")  # must not override ca_file
    with ExitStack() as resources:
        env = Env(emulator, tmp_path, resources)
        try:
            env.write(source=env.served_feed())
            assert env.synced()["created"] == 7
            yield env
        finally:
            env.restore_faults()
            world = emulator.world
            for owner, events in world.events.items():
                for event_id in list(events):
                    world.remove_event(owner, event_id)


def test_purge_then_a_plain_sync_recreates_the_events(served: Env) -> None:
    """`purge` forgets the mailbox's feed validators: the unchanged feed is downloaded and all 7 return."""
    assert served.server is not None
    downloads = served.server.full_downloads
    purge = served.cli("purge", "--mailbox", ADA, "--yes")
    assert purge.exit_code == 0, purge.output
    assert served.events() == []
    again = served.synced()
    assert (again["status"], again["created"]) == ("ok", 7)
    assert len(served.events()) == 7
    assert served.server.full_downloads == downloads + 1
    assert served.synced()["message"] == "the source is unchanged since the last good run"


def test_an_item_that_failed_is_retried_by_the_next_plain_sync(served: Env) -> None:
    """A user deletes an event; `sync --full` cannot create it again (Graph refuses, 400): that run is
    partial, so the feed's validators are dropped and the next plain sync downloads it and re-creates."""
    world = served.emulator.world
    user = world.find_user(ADA)
    world.remove_event(user.id, next(iter(world.events[user.id])))
    served.faults(rate=1.0, statuses=[400], methods=["POST"])
    partial = served.cli("sync", "--full", "--json")
    assert partial.exit_code == 6, partial.output
    assert len(served.events()) == 6
    served.restore_faults()
    again = served.synced()
    assert (again["status"], again["created"]) == ("ok", 1)
    assert len(served.events()) == 7
    assert served.synced()["message"] == "the source is unchanged since the last good run"


def test_a_plan_keeps_the_validators(served: Env) -> None:
    """A dry run changes nothing, so it forgets nothing: the next plain sync still skips on the 304."""
    assert served.server is not None
    plan = served.cli("plan", "--json")
    assert plan.exit_code == 0, plan.output
    downloads = served.server.full_downloads
    assert served.synced()["message"] == "the source is unchanged since the last good run"
    assert served.server.full_downloads == downloads
