"""The state-store contract, run against every backend: memory, SQLite and (opt-in) PostgreSQL.

A behaviour belongs here if the engine, runtime or CLI may rely on it; backend-specific checks (pragmas,
migrations, crash recovery, index use) live in the other test modules.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from calsync.domain import SourceKey
from calsync.store import RuntimeStateStore, ScopedStore, SourceState, records, source_state_key
from calsync.sync.ports import Mapping, Quarantined, RunReport
from tests.calsync.store.conftest import Backend, FakeClock

MB = "adele@contoso.onmicrosoft.com"
OTHER = "megan@contoso.onmicrosoft.com"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def mapping(key: str = "ics:lecture-1", mailbox: str = MB, **changes: object) -> Mapping:
    base = Mapping(
        mailbox=mailbox,
        source_key=SourceKey(key),
        state="synced",
        transaction_id=f"tx-{key}",
        generation=0,
        remote_id=f"AAMk-{key}",
        change_key="ck-1",
        content_hash="0" * 32,
        failures=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def report(mailbox: str = MB, started: datetime = T0, **changes: object) -> RunReport:
    return replace(RunReport(mailbox=mailbox, started=started), **changes)  # type: ignore[arg-type]


# -- mappings -------------------------------------------------------------------------------------


def test_a_new_store_is_empty(store: RuntimeStateStore) -> None:
    """Nothing is known about any mailbox before anything is written."""
    assert store.mappings(MB) == {}
    assert store.quarantined(MB) == {}
    assert store.last_runs() == []
    assert store.mailboxes() == []


def test_put_mapping_then_read_it_back(store: RuntimeStateStore) -> None:
    """A stored mapping comes back equal, keyed by its source key."""
    m = mapping()
    store.put_mapping(m)
    assert store.mappings(MB) == {m.source_key: m}


def test_put_mapping_replaces_every_field(store: RuntimeStateStore) -> None:
    """Putting the same (mailbox, source key) again replaces the row, including fields set back to None."""
    store.put_mapping(mapping(state="creating", remote_id=None, change_key=None, content_hash=None))
    done = mapping(state="synced", generation=3, failures=2, remote_id="AAMk-x", change_key="ck-9")
    store.put_mapping(done)
    assert store.mappings(MB) == {done.source_key: done}
    cleared = replace(done, state="user_deleted", remote_id=None, change_key=None, content_hash=None)
    store.put_mapping(cleared)
    assert store.mappings(MB) == {done.source_key: cleared}


def test_mappings_are_per_mailbox(store: RuntimeStateStore) -> None:
    """The same source key in two mailboxes is two mappings."""
    mine, theirs = mapping(), mapping(mailbox=OTHER, remote_id="AAMk-theirs")
    store.put_mapping(mine)
    store.put_mapping(theirs)
    assert store.mappings(MB) == {mine.source_key: mine}
    assert store.mappings(OTHER) == {theirs.source_key: theirs}


def test_source_keys_are_compared_exactly(store: RuntimeStateStore) -> None:
    """Keys differing only in case, accents or trailing space are different keys."""
    keys = ["uid-a", "UID-A", "uid-a ", "uid-\u00e9", "uid-e\u0301", "\U0001f4c5"]
    for key in keys:
        store.put_mapping(mapping(key))
    assert sorted(store.mappings(MB)) == sorted(keys)


def test_delete_mapping(store: RuntimeStateStore) -> None:
    """Deleting removes only that key; deleting a missing key is a no-op."""
    store.put_mapping(mapping("a"))
    store.put_mapping(mapping("b"))
    store.delete_mapping(MB, SourceKey("a"))
    store.delete_mapping(MB, SourceKey("missing"))
    store.delete_mapping(OTHER, SourceKey("b"))
    assert list(store.mappings(MB)) == ["b"]


def test_put_mappings_is_one_batch_and_the_last_one_wins(store: RuntimeStateStore) -> None:
    """A batch with the same key twice keeps the later value, like two put_mapping calls."""
    store.put_mappings([mapping("a", change_key="1"), mapping("b"), mapping("a", change_key="2")])
    stored = store.mappings(MB)
    assert set(stored) == {"a", "b"}
    assert stored[SourceKey("a")].change_key == "2"
    store.put_mappings([])
    assert len(store.mappings(MB)) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"state": "bogus"},
        {"generation": -1},
        {"failures": -1},
        {"source_key": SourceKey("")},
        {"source_key": SourceKey("nul\x00key")},
        {"source_key": SourceKey("lone\ud800surrogate")},
        {"mailbox": ""},
        {"transaction_id": ""},
        {"remote_id": "bad\x00id"},
    ],
)
def test_invalid_mappings_are_refused_and_nothing_is_written(
    store: RuntimeStateStore, bad: dict[str, object]
) -> None:
    """Every backend refuses what PostgreSQL or the schema would refuse, with ValueError, atomically."""
    with pytest.raises(ValueError):
        store.put_mappings([mapping("good"), replace(mapping("x"), **bad)])  # type: ignore[arg-type]
    assert store.mappings(MB) == {}


def test_mapping_by_remote_id(store: RuntimeStateStore) -> None:
    """A remote id (from a change notification or delta page) finds its mapping within the mailbox."""
    store.put_mapping(mapping("a", remote_id="AAMk-1"))
    store.put_mapping(mapping("b", remote_id="AAMk-2"))
    store.put_mapping(mapping("c", mailbox=OTHER, remote_id="AAMk-1"))
    found = store.mapping_by_remote_id(MB, "AAMk-1")
    assert found is not None
    assert found.source_key == "a"
    assert store.mapping_by_remote_id(MB, "AAMk-404") is None


def test_writes_are_committed_on_return(backend: Backend) -> None:
    """Another handle (another worker, or the same one after a restart) sees each write at once."""
    writer, reader = backend.open(), backend.open()
    writer.put_mapping(mapping())
    assert reader.mappings(MB) == {SourceKey("ics:lecture-1"): mapping()}
    writer.delete_mapping(MB, SourceKey("ics:lecture-1"))
    assert reader.mappings(MB) == {}


# -- quarantine -----------------------------------------------------------------------------------


def test_quarantine_put_update_release(store: RuntimeStateStore) -> None:
    """An item is quarantined, its count and reason updated, then released; other mailboxes unaffected."""
    item = Quarantined(MB, SourceKey("bad"), "TimeZoneNotSupported", "400 from Graph", failures=5)
    store.put_quarantine(item)
    store.put_quarantine(Quarantined(OTHER, SourceKey("bad"), "x", "y", failures=1))
    assert store.quarantined(MB) == {SourceKey("bad"): item}
    again = replace(item, failures=6, message="still 400")
    store.put_quarantine(again)
    assert store.quarantined(MB) == {SourceKey("bad"): again}
    store.release_quarantine(MB, SourceKey("bad"))
    store.release_quarantine(MB, SourceKey("never-quarantined"))
    assert store.quarantined(MB) == {}
    assert list(store.quarantined(OTHER)) == ["bad"]


def test_releasing_an_item_gives_it_its_full_failure_budget(store: RuntimeStateStore) -> None:
    """Release resets the key's failure count, so the item is quarantined again only after max_failures
    new failures, not on the first; other keys and mailboxes keep theirs."""
    store.put_mapping(mapping("bad", failures=5))
    store.put_mapping(mapping("other", failures=2))
    store.put_mapping(mapping("bad", mailbox=OTHER, failures=5))
    store.put_quarantine(Quarantined(MB, SourceKey("bad"), "TimeZoneNotSupported", "400", failures=5))
    store.release_quarantine(MB, SourceKey("bad"))
    assert store.mappings(MB)[SourceKey("bad")].failures == 0
    assert store.mappings(MB)[SourceKey("other")].failures == 2
    assert store.mappings(OTHER)[SourceKey("bad")].failures == 5


def test_quarantine_messages_with_nul_are_cleaned_not_refused(store: RuntimeStateStore) -> None:
    """Recording why an item failed must not fail because the message quotes a NUL from the bad input."""
    store.put_quarantine(Quarantined(MB, SourceKey("k"), "bad_input", "saw \x00 here", failures=1))
    assert store.quarantined(MB)[SourceKey("k")].message == "saw \ufffd here"


# -- runs -----------------------------------------------------------------------------------------


def test_record_run_round_trips(store: RuntimeStateStore) -> None:
    """Every field of a run report comes back; datetimes as aware UTC."""
    cet = timezone(timedelta(hours=2))
    run = report(
        started=datetime(2026, 9, 1, 10, 0, 0, 123456, tzinfo=cet),
        finished=datetime(2026, 9, 1, 10, 1, 30, tzinfo=cet),
        status="partial",
        created=3,
        updated=2,
        deleted=1,
        adopted=4,
        unchanged=90,
        failed=1,
        quarantined=1,
        error_code=None,
        message="1 item failed",
        problems=["ics line 12: bad DTSTART", "ics:uid-9: unsupported zone"],
    )
    store.record_run(run)
    [back] = store.last_runs()
    assert back == run
    assert back.started.tzinfo is not None
    assert back.started.utcoffset() == timedelta(0)
    assert back.started == datetime(2026, 9, 1, 8, 0, 0, 123456, tzinfo=UTC)


def test_last_runs_gives_the_latest_run_per_mailbox(store: RuntimeStateStore) -> None:
    """Latest by start time, whatever the recording order; sorted by mailbox."""
    store.record_run(report(started=T0 + timedelta(hours=2), status="ok"))
    store.record_run(report(started=T0, status="failed"))
    store.record_run(
        report(mailbox=OTHER, started=T0, status="stopped", error_code="SourceUnexpectedlyEmpty")
    )
    latest = store.last_runs()
    assert [(r.mailbox, r.status) for r in latest] == [(MB, "ok"), (OTHER, "stopped")]
    assert latest[1].error_code == "SourceUnexpectedlyEmpty"


def test_recording_a_run_again_replaces_it(store: RuntimeStateStore) -> None:
    """A run recorded when it starts and again when it ends is one run."""
    run = report(status="partial")
    store.record_run(run)
    run.finished = T0 + timedelta(minutes=1)
    run.status = "ok"
    run.created = 7
    store.record_run(run)
    assert store.runs(MB) == [run]


def test_runs_history_newest_first_with_limit(store: RuntimeStateStore) -> None:
    """runs(mailbox) is the mailbox's history, newest first."""
    for hour in range(5):
        store.record_run(report(started=T0 + timedelta(hours=hour), created=hour))
    assert [r.created for r in store.runs(MB, limit=3)] == [4, 3, 2]
    assert store.runs(OTHER) == []
    with pytest.raises(ValueError):
        store.runs(MB, limit=-1)


def test_only_the_newest_runs_of_a_mailbox_are_kept(store: RuntimeStateStore) -> None:
    """A mailbox keeps its newest RUNS_KEPT runs (older ones go when a run is recorded); other mailboxes'
    runs are not touched, and recording an old run again does not bring it back."""
    kept = records.RUNS_KEPT
    store.record_run(report(mailbox=OTHER, started=T0 - timedelta(days=1)))
    for n in range(kept + 5):
        store.record_run(report(started=T0 + timedelta(minutes=15 * n), created=n))
    history = store.runs(MB, limit=kept + 10)
    assert [r.created for r in history] == list(range(kept + 4, 4, -1))
    store.record_run(report(started=T0, created=0))  # older than all kept: recorded, then pruned
    assert len(store.runs(MB, limit=kept + 10)) == kept
    assert [r.mailbox for r in store.last_runs()] == sorted([MB, OTHER])


def test_a_run_keeps_its_first_problems_and_counts_the_rest(store: RuntimeStateStore) -> None:
    """A feed with thousands of bad items stores MAX_PROBLEMS lines, the last saying how many were left."""
    cap = records.MAX_PROBLEMS
    store.record_run(report(problems=[f"BAD item {n}" for n in range(cap + 400)]))
    problems = store.last_runs()[0].problems
    assert len(problems) == cap
    assert problems[: cap - 1] == [f"BAD item {n}" for n in range(cap - 1)]
    assert problems[-1] == f"... and {400 + 1} more problems"
    store.record_run(report(started=T0 + timedelta(hours=1), problems=["one", "two"]))
    assert store.last_runs()[0].problems == ["one", "two"]


def test_stored_runs_are_copies(store: RuntimeStateStore) -> None:
    """Changing a report after recording it, or a report read back, changes nothing stored."""
    run = report(problems=["one"])
    store.record_run(run)
    run.problems.append("two")
    store.last_runs()[0].problems.append("three")
    assert store.last_runs()[0].problems == ["one"]


@pytest.mark.parametrize(
    "bad",
    [
        {"started": datetime(2026, 9, 1, 8, 0)},
        {"finished": datetime(2026, 9, 1, 8, 0)},
        {"status": "running"},
        {"created": -1},
    ],
)
def test_invalid_runs_are_refused(store: RuntimeStateStore, bad: dict[str, Any]) -> None:
    """Naive datetimes, unknown statuses and negative counts are refused by every backend."""
    with pytest.raises(ValueError):
        store.record_run(report(**bad))
    assert store.last_runs() == []


# -- source fetch state ---------------------------------------------------------------------------


def test_source_state_round_trip_and_replace(store: RuntimeStateStore) -> None:
    """Fetch validators and the last good count are kept per source key."""
    key = source_state_key("https://timetable.example.edu/ical/adele.ics?token=secret")
    assert store.source_state(key) is None
    state = SourceState(
        key=key,
        etag='W/"abc"',
        last_modified="Tue, 01 Sep 2026 08:00:00 GMT",
        last_ok_at=T0,
        last_item_count=300,
    )
    store.put_source_state(state)
    assert store.source_state(key) == state
    failed = replace(state, last_error="connection refused")
    store.put_source_state(failed)
    assert store.source_state(key) == failed
    with pytest.raises(ValueError):
        store.put_source_state(replace(state, last_ok_at=datetime(2026, 9, 1)))


def test_source_state_key_hides_the_url() -> None:
    """The key is a digest: a token in the feed URL never reaches the database."""
    key = source_state_key("https://x.example/feed.ics?token=s3cret")
    assert len(key) == 64
    assert "s3cret" not in key
    assert key == source_state_key("https://x.example/feed.ics?token=s3cret")


# -- delta links ----------------------------------------------------------------------------------


def test_delta_links_put_replace_drop(store: RuntimeStateStore) -> None:
    """One delta link per (mailbox, calendar); dropping one leaves the others."""
    assert store.delta_link(MB, "cal-1") is None
    store.put_delta_link(MB, "cal-1", "https://graph/delta?$deltatoken=1")
    store.put_delta_link(MB, "cal-2", "https://graph/delta?$deltatoken=a")
    store.put_delta_link(MB, "cal-1", "https://graph/delta?$deltatoken=2")
    assert store.delta_link(MB, "cal-1") == "https://graph/delta?$deltatoken=2"
    store.drop_delta_link(MB, "cal-1")
    store.drop_delta_link(MB, "cal-404")
    assert store.delta_link(MB, "cal-1") is None
    assert store.delta_link(MB, "cal-2") == "https://graph/delta?$deltatoken=a"
    assert store.delta_link(OTHER, "cal-2") is None


# -- leases ---------------------------------------------------------------------------------------


def test_a_lease_excludes_other_owners_until_released(store: RuntimeStateStore) -> None:
    """One owner per mailbox; the holder renews; a non-holder cannot release."""
    assert store.acquire_lease(MB, "worker-1", ttl_seconds=60)
    assert not store.acquire_lease(MB, "worker-2", ttl_seconds=60)
    assert store.acquire_lease(OTHER, "worker-2", ttl_seconds=60)  # other mailboxes are independent
    assert store.acquire_lease(MB, "worker-1", ttl_seconds=60)  # renewal
    assert store.lease_owner(MB) == "worker-1"
    assert not store.release_lease(MB, "worker-2")
    assert store.release_lease(MB, "worker-1")
    assert not store.release_lease(MB, "worker-1")
    assert store.lease_owner(MB) is None
    assert store.acquire_lease(MB, "worker-2", ttl_seconds=60)


def test_an_expired_lease_is_taken_over(store: RuntimeStateStore, clock: FakeClock) -> None:
    """A worker that died holding a lease blocks the mailbox for at most the TTL."""
    assert store.acquire_lease(MB, "dead-worker", ttl_seconds=60)
    clock.advance(59.999)
    assert not store.acquire_lease(MB, "worker-2", ttl_seconds=60)
    clock.advance(0.001)  # now == expires_at: the lease is over
    assert store.lease_owner(MB) is None
    assert store.acquire_lease(MB, "worker-2", ttl_seconds=60)
    assert store.lease_owner(MB) == "worker-2"
    assert not store.release_lease(MB, "dead-worker")  # the old holder can't release the new lease


def test_renewal_extends_the_lease(store: RuntimeStateStore, clock: FakeClock) -> None:
    """Renewing moves the expiry to now + ttl."""
    assert store.acquire_lease(MB, "w1", ttl_seconds=60)
    clock.advance(50)
    assert store.acquire_lease(MB, "w1", ttl_seconds=60)
    clock.advance(50)
    assert not store.acquire_lease(MB, "w2", ttl_seconds=60)
    assert store.lease_owner(MB) == "w1"


def test_renew_is_a_fence_against_a_takeover(store: RuntimeStateStore, clock: FakeClock) -> None:
    """A holder that stalled past its lease renews only if nobody took the mailbox over meanwhile."""
    assert store.acquire_lease(MB, "stalled", ttl_seconds=60)
    clock.advance(30)
    assert store.renew_lease(MB, "stalled", ttl_seconds=60)  # the heartbeat: expiry now at +90
    clock.advance(100)  # stalled past its lease, but nobody took it: it still holds it
    assert store.renew_lease(MB, "stalled", ttl_seconds=60)
    clock.advance(61)
    assert store.acquire_lease(MB, "other", ttl_seconds=60)  # taken over after expiry
    assert not store.renew_lease(MB, "stalled", ttl_seconds=60)  # fenced: its next write is refused
    assert store.lease_owner(MB) == "other"
    assert not store.renew_lease(OTHER, "stalled", ttl_seconds=60)  # no lease at all: nothing to renew
    assert store.release_lease(MB, "other")
    assert not store.renew_lease(MB, "other", ttl_seconds=60)  # released: a late heartbeat cannot revive it


def test_lease_arguments_are_checked(store: RuntimeStateStore) -> None:
    """A lease needs a positive TTL and a named owner."""
    with pytest.raises(ValueError):
        store.acquire_lease(MB, "w1", ttl_seconds=0)
    with pytest.raises(ValueError):
        store.acquire_lease(MB, "", ttl_seconds=10)


def test_concurrent_acquisition_has_exactly_one_winner(backend: Backend) -> None:
    """Two workers (separate connections) racing for the same free or expired lease: one wins, every time."""
    workers = [backend.open(), backend.open()]
    rounds = 25
    for round_ in range(rounds):
        mailbox = f"user{round_}@contoso.onmicrosoft.com"
        if round_ % 2:  # every other round, race for an expired lease instead of a free one
            assert workers[0].acquire_lease(mailbox, "old", ttl_seconds=1)
            backend.clock.advance(1)
        wins = race_for_lease(workers, mailbox)
        assert len(wins) == 1, (round_, wins)
        assert workers[0].lease_owner(mailbox) == wins[0]


def race_for_lease(workers: list[RuntimeStateStore], mailbox: str) -> list[str]:
    """Each worker tries to take the lease at the same instant (a barrier); returns the winners."""
    barrier = threading.Barrier(len(workers))
    wins: list[str] = []
    errors: list[BaseException] = []

    def race(store: RuntimeStateStore, owner: str) -> None:
        try:
            barrier.wait()
            if store.acquire_lease(mailbox, owner, ttl_seconds=300):
                wins.append(owner)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(w, f"worker-{i}")) for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return wins


# -- mailboxes and purge --------------------------------------------------------------------------


def test_mailboxes_lists_every_mailbox_with_state(store: RuntimeStateStore) -> None:
    """A mailbox is known once it has a mapping, a quarantined item, a run or a delta link."""
    store.put_mapping(mapping(mailbox="a@x"))
    store.put_quarantine(Quarantined("b@x", SourceKey("k"), "c", "m", 1))
    store.record_run(report(mailbox="c@x"))
    store.put_delta_link("d@x", "cal", "https://graph/delta")
    store.acquire_lease("e@x", "w", ttl_seconds=10)  # a lease alone does not make a mailbox known
    assert store.mailboxes() == ["a@x", "b@x", "c@x", "d@x"]


def test_purge_mailbox_forgets_only_that_mailbox(store: RuntimeStateStore) -> None:
    """Purge removes the mailbox's quarantine, runs and delta links and turns its mappings into
    tombstones (a mailbox with only tombstones is not listed); its lease stays."""
    for mb in (MB, OTHER):
        store.put_mapping(mapping(mailbox=mb))
        store.put_quarantine(Quarantined(mb, SourceKey("k"), "c", "m", 1))
        store.record_run(report(mailbox=mb))
        store.put_delta_link(mb, "cal", "https://graph/delta")
    store.acquire_lease(MB, "purger", ttl_seconds=60)
    store.purge_mailbox(MB)
    assert store.mailboxes() == [OTHER]
    assert store.mappings(MB) == {SourceKey("ics:lecture-1"): mapping().detached()}
    assert store.quarantined(MB) == {}
    assert store.runs(MB) == []
    assert store.delta_link(MB, "cal") is None
    assert store.lease_owner(MB) == "purger"
    assert len(store.mappings(OTHER)) == 1
    assert [r.mailbox for r in store.last_runs()] == [OTHER]


# -- departures (offboarding) ---------------------------------------------------------------------


def test_a_departure_keeps_its_first_time_until_cleared(store: RuntimeStateStore, clock: FakeClock) -> None:
    """Marking again does not restart the grace period; clearing forgets the mark (and clearing a
    mailbox never marked is no error); marks are per mailbox, in UTC, sorted."""
    assert store.departures() == {}
    store.mark_departed([OTHER, MB])
    first = clock.now
    clock.advance(86400)
    store.mark_departed([MB, MB])  # again, and twice in one batch
    store.mark_departed([])
    assert store.departures() == {MB: first, OTHER: first}
    assert list(store.departures()) == sorted([MB, OTHER])
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in store.departures().values())
    store.clear_departed([MB, "never@x"])
    store.clear_departed([])
    assert store.departures() == {OTHER: first}
    store.mark_departed([MB])  # back and gone again: a new grace period
    assert store.departures() == {MB: clock.now, OTHER: first}


def test_a_departure_alone_does_not_make_a_mailbox_known(store: RuntimeStateStore) -> None:
    """The mark is about a mailbox with state; on its own it lists nothing, and a purge forgets it."""
    store.mark_departed(["gone@x"])
    assert store.mailboxes() == []
    store.record_run(report(mailbox=MB))
    store.mark_departed([MB])
    store.purge_mailbox(MB)
    assert store.departures() == {"gone@x": T0}


def test_invalid_departures_are_refused_and_nothing_is_marked(store: RuntimeStateStore) -> None:
    with pytest.raises(ValueError, match="mailbox"):
        store.mark_departed([MB, "bad\x00name"])
    with pytest.raises(ValueError, match="mailbox"):
        store.mark_departed([""])
    assert store.departures() == {}


def test_departures_are_per_profile_through_a_scoped_store(store: RuntimeStateStore) -> None:
    """Each profile sees and clears only its own marks; the default profile's are the bare mailbox."""
    exams, default = ScopedStore(store, "exams"), ScopedStore(store, "default")
    exams.mark_departed([MB])
    default.mark_departed([OTHER])
    assert store.departures() == {OTHER: T0, f"exams:{MB}": T0}
    assert exams.departures() == {MB: T0}
    assert default.departures() == {OTHER: T0}
    default.clear_departed([MB])  # the default profile's MB was never marked: exams' mark stays
    assert exams.departures() == {MB: T0}
    exams.purge_mailbox(MB)
    assert exams.departures() == {}
    assert default.departures() == {OTHER: T0}


# -- tombstones -----------------------------------------------------------------------------------


def test_purge_turns_every_mapping_into_a_tombstone_once(store: RuntimeStateStore) -> None:
    """Each state becomes `detached` with no event, no failures and the next generation; a tombstone
    keeps its generation (it was never sent), so purging twice changes nothing more."""
    rows = [
        mapping("synced", generation=2, failures=3),
        mapping("creating", state="creating", generation=4, remote_id=None, change_key=None),
        mapping("user_deleted", state="user_deleted", generation=1),
        mapping(
            "detached", state="detached", generation=7, remote_id=None, change_key=None, content_hash=None
        ),
    ]
    store.put_mappings(rows)
    store.purge_mailbox(MB)
    expected = {
        m.source_key: replace(
            m, state="detached", remote_id=None, change_key=None, content_hash=None, failures=0
        )
        for m in rows
    }
    for key, generation in (("synced", 3), ("creating", 5), ("user_deleted", 2), ("detached", 7)):
        expected[SourceKey(key)] = replace(expected[SourceKey(key)], generation=generation)
    assert store.mappings(MB) == expected
    store.purge_mailbox(MB)
    assert store.mappings(MB) == expected
    assert all(m.detached() == m for m in expected.values())


def test_a_tombstone_is_kept_but_is_no_event(store: RuntimeStateStore) -> None:
    """A tombstone comes back from mappings() (its generation matters) but is never found by a remote id
    and does not make its mailbox known."""
    stone = mapping("gone", mailbox="t@x").detached()
    assert (stone.state, stone.generation, stone.remote_id, stone.has_event) == ("detached", 1, None, False)
    store.put_mapping(stone)
    store.put_mapping(replace(mapping("live", remote_id="AAMk-1"), state="synced"))
    assert store.mappings("t@x") == {stone.source_key: stone}
    assert store.mailboxes() == [MB]
    assert store.mapping_by_remote_id("t@x", "AAMk-gone") is None
    found = store.mapping_by_remote_id(MB, "AAMk-1")
    assert found is not None
    assert found.source_key == "live"


def test_run_health_counts_failures_since_the_last_good_run(store: RuntimeStateStore) -> None:
    """Consecutive failures are the runs after the newest good one; a mailbox never good counts all."""
    t = [T0 + timedelta(minutes=15 * i) for i in range(6)]
    for started, status in zip(t, ("failed", "ok", "partial", "failed", "stopped", "skipped"), strict=True):
        store.record_run(report(MB, started, status=status))
    store.record_run(report(OTHER, t[0], status="failed"))
    store.record_run(report(OTHER, t[1], status="skipped"))
    store.record_run(report("c@example.edu", t[0], status="ok"))
    store.record_run(report("c@example.edu", t[1], status="not_applicable"))
    health = store.run_health()
    assert health[MB].last_success == t[1]
    assert health[MB].failures_since == 4
    assert health[OTHER].last_success is None
    assert health[OTHER].failures_since == 2
    assert health["c@example.edu"].last_success == t[1]
    assert health["c@example.edu"].failures_since == 0


def test_profiles_views_of_one_store_do_not_see_each_other(backend: Backend) -> None:
    """Two profiles on the same mailbox and source key: mappings, quarantine, runs, feed validators and
    leases are each profile's own; the default profile's rows are those of a store without profiles."""
    base = backend.open()
    base = base.base if isinstance(base, ScopedStore) else base
    plain, exams, rooms = (ScopedStore(base, name) for name in ("default", "exams", "rooms"))
    for view, state in ((plain, "synced"), (exams, "creating")):
        view.put_mapping(mapping(state=state))
        view.put_quarantine(Quarantined(MB, SourceKey("ics:lecture-1"), "E", "m", 5))
        view.record_run(report(status="ok" if view is plain else "failed"))
        view.put_source_state(SourceState("feed-digest", "etag-" + view.profile, None, T0, 1))
    assert plain.mappings(MB)[SourceKey("ics:lecture-1")].state == "synced"
    assert exams.mappings(MB)[SourceKey("ics:lecture-1")].state == "creating"
    assert exams.mappings(MB)[SourceKey("ics:lecture-1")].mailbox == MB  # callers see plain mailboxes
    assert rooms.mappings(MB) == {}
    assert base.mappings(MB)[SourceKey("ics:lecture-1")].state == "synced"  # default = the plain rows
    assert [(r.mailbox, r.status) for r in exams.last_runs()] == [(MB, "failed")]
    assert [(r.mailbox, r.status) for r in plain.last_runs()] == [(MB, "ok")]
    assert set(exams.run_health()) == {MB}
    assert exams.mailboxes() == [MB]
    assert rooms.mailboxes() == []
    assert exams.source_state("feed-digest").etag == "etag-exams"  # type: ignore[union-attr]
    assert plain.source_state("feed-digest").etag == "etag-default"  # type: ignore[union-attr]
    assert exams.acquire_lease(MB, "w1", 60)
    assert plain.acquire_lease(MB, "w2", 60)  # another profile's lease on the same mailbox
    assert not exams.acquire_lease(MB, "w2", 60)
    exams.purge_mailbox(MB)
    assert exams.quarantined(MB) == {}
    assert set(plain.quarantined(MB)) == {SourceKey("ics:lecture-1")}
