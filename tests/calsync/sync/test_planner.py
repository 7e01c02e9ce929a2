"""The planner: convergence, idempotence, window symmetry, policies and protection (property-based)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.domain import DesiredEvent, SourceKey, Window, content_hash
from calsync.sync.planner import PlanInput, Policy, plan, transaction_id
from calsync.sync.ports import Adopt, Create, Delete, Mapping, ObservedEvent, Skip, Update

WINDOW = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
T0 = datetime(2026, 8, 30, tzinfo=UTC)
_ids = itertools.count()


def desired(key: str, day: int, subject: str = "Lecture", hours: int = 1) -> DesiredEvent:
    start = T0 + timedelta(days=day)
    return DesiredEvent("m@x", SourceKey(key), subject, start, start + timedelta(hours=hours))


def observe(e: DesiredEvent, *, digest: str | None = None, user_modified: bool = False) -> ObservedEvent:
    return ObservedEvent(
        f"id{next(_ids)}", e.source_key, "ck", digest or content_hash(e), e.start, e.end, user_modified
    )


def apply(actions: list, calendar: dict[str, ObservedEvent], mappings: dict[SourceKey, Mapping]) -> None:
    """A model calendar: what Graph would hold after the writes (the test's oracle, not calsync code)."""
    for a in actions:
        if isinstance(a, Create):
            o = observe(a.desired, digest=a.content_hash)
            calendar[o.remote_id] = o
            mappings[a.desired.source_key] = Mapping(
                "m@x",
                a.desired.source_key,
                "synced",
                a.transaction_id,
                remote_id=o.remote_id,
                change_key="ck",
                content_hash=a.content_hash,
            )
        elif isinstance(a, Update):
            o = calendar[a.remote_id]
            calendar[a.remote_id] = ObservedEvent(
                o.remote_id, o.source_key, "ck2", a.content_hash, a.desired.start, a.desired.end
            )
            mappings[a.desired.source_key] = Mapping(
                "m@x",
                a.desired.source_key,
                "synced",
                "t",
                remote_id=o.remote_id,
                change_key="ck2",
                content_hash=a.content_hash,
            )
        elif isinstance(a, Delete):
            del calendar[a.remote_id]
        elif isinstance(a, Adopt):
            o = a.observed
            mappings[o.source_key] = Mapping(
                "m@x",
                o.source_key,
                "synced",
                "t",
                remote_id=o.remote_id,
                change_key=o.change_key,
                content_hash=o.content_hash,
            )


def run_plan(events, calendar, mappings, **kw) -> list:
    return plan(
        PlanInput("tenant", "m@x", WINDOW, tuple(events), tuple(calendar.values()), dict(mappings), **kw)
    )


def writes(actions: list) -> list:
    return [a for a in actions if isinstance(a, Create | Update | Delete)]


keys = st.sampled_from([f"ics:uid{i}" for i in range(12)])
days = st.integers(-5, 100)  # some before the window start (Sep 1 = day 2), some far ahead
events_st = st.dictionaries(
    keys, st.tuples(days, st.sampled_from(["A", "B"]), st.integers(1, 72)), max_size=12
)


@given(source=events_st, stale=events_st, dupes=st.lists(keys, max_size=4), lost_db=st.booleans())
def test_plan_converges_in_one_run_and_is_then_idempotent(source, stale, dupes, lost_db) -> None:
    """Whatever the calendar held, one run leaves one copy per in-window key; a second run writes nothing."""
    events = [desired(k, d, s, h) for k, (d, s, h) in source.items()]
    calendar: dict[str, ObservedEvent] = {}
    mappings: dict[SourceKey, Mapping] = {}
    for k, (d, s, h) in stale.items():  # a calendar from an older source version
        o = observe(desired(k, d, s, h))
        calendar[o.remote_id] = o
        if not lost_db:
            mappings[o.source_key] = Mapping(
                "m@x",
                o.source_key,
                "synced",
                "t",
                remote_id=o.remote_id,
                change_key="ck",
                content_hash=o.content_hash,
            )
    for k in dupes:
        if k in stale:
            o = observe(desired(k, *stale[k]))
            calendar[o.remote_id] = o
    apply(run_plan(events, calendar, mappings), calendar, mappings)
    second = run_plan(events, calendar, mappings)
    assert writes(second) == []
    in_window = {e.source_key: e for e in events if WINDOW.contains(e.start, e.end)}
    copies = [o for o in calendar.values() if WINDOW.contains(o.start, o.end)]
    assert sorted(o.source_key for o in copies) == sorted(in_window)
    for o in copies:
        assert o.content_hash == content_hash(in_window[o.source_key])


def test_window_edges_do_not_flap() -> None:
    """An event ending exactly at the window start is out on both sides: never created, never deleted."""
    edge = DesiredEvent("m@x", SourceKey("ics:edge"), "x", WINDOW.start - timedelta(hours=1), WINDOW.start)
    assert run_plan([edge], {}, {}) == []
    o = observe(edge)
    assert run_plan([], {o.remote_id: o}, {}) == []


def test_user_deleted_event_is_recreated_with_a_new_transaction_id() -> None:
    """recreate: a synced event missing from the calendar is created again under the next generation."""
    e = desired("ics:a", 10)
    mapping = Mapping(
        "m@x",
        e.source_key,
        "synced",
        transaction_id("tenant", "m@x", e.source_key, 0),
        remote_id="gone",
        content_hash=content_hash(e),
    )
    (action,) = run_plan([e], {}, {e.source_key: mapping})
    assert isinstance(action, Create)
    assert action.transaction_id == transaction_id("tenant", "m@x", "ics:a", 1)
    (respected,) = run_plan([e], {}, {e.source_key: mapping}, policy=Policy(user_deletes="respect"))
    assert respected == Skip(e.source_key, "user_deleted_respected")


def tombstone(e: DesiredEvent, generation: int) -> Mapping:
    """The row calsync keeps after deleting the key's event (state detached, the next generation)."""
    return Mapping(
        "m@x", e.source_key, "detached", transaction_id("tenant", "m@x", e.source_key, 0), generation
    )


def test_a_key_that_comes_back_uses_its_tombstones_generation_under_both_policies() -> None:
    """A tombstone is no user's delete: the key is created (under `respect` too) with the tombstone's
    generation as is, so its transaction id is new."""
    e = desired("ics:a", 10)
    for policy in (Policy(), Policy(user_deletes="respect")):
        (action,) = run_plan([e], {}, {e.source_key: tombstone(e, 1)}, policy=policy)
        assert isinstance(action, Create)
        assert action.transaction_id == transaction_id("tenant", "m@x", "ics:a", 1)


def test_an_event_whose_key_has_a_tombstone_is_an_unknown_copy() -> None:
    """A copy of a key with a tombstone (its delete was lost) is adopted if the source has the key, and
    deleted as removed from the source if not; it is never taken for the mapped copy."""
    e = desired("ics:a", 10)
    o, other = observe(e), observe(e)
    stones = {e.source_key: tombstone(e, 3)}
    assert run_plan([e], {o.remote_id: o}, stones) == [Adopt(o, o.content_hash or "")]
    assert run_plan([], {o.remote_id: o}, stones) == [
        Delete(e.source_key, o.remote_id, "ck", "removed_from_source")
    ]
    kept, dropped = sorted((o, other), key=lambda c: c.remote_id)  # the lowest id, as with no mapping
    assert run_plan([e], {o.remote_id: o, other.remote_id: other}, stones) == [
        Delete(e.source_key, dropped.remote_id, "ck", "duplicate"),
        Adopt(kept, kept.content_hash or ""),
    ]


def test_user_edits_follow_the_policy() -> None:
    """source-wins puts the timetable's version back; keep-user-changes leaves the user's edit alone."""
    e = desired("ics:a", 10)
    o = observe(e, user_modified=True)
    m = {
        e.source_key: Mapping(
            "m@x",
            e.source_key,
            "synced",
            "t",
            remote_id=o.remote_id,
            change_key="ck",
            content_hash=content_hash(e),
        )
    }
    assert [type(a) for a in run_plan([e], {o.remote_id: o}, m)] == [Update]
    kept = run_plan([e], {o.remote_id: o}, m, policy=Policy(user_changes="keep-user-changes"))
    assert kept == [Skip(e.source_key, "user_modified_kept")]


def test_protected_and_quarantined_keys_are_never_deleted() -> None:
    """A key the source had a problem with this run keeps its Graph copy; so does a quarantined one."""
    o = observe(desired("ics:bad/20261001T090000Z", 30))
    assert run_plan([], {o.remote_id: o}, {}, protected_prefixes=frozenset({"ics:bad"})) == []
    assert writes(run_plan([], {o.remote_id: o}, {}, quarantined=frozenset({o.source_key}))) == []


def test_same_inputs_same_plan() -> None:
    """The plan is deterministic: sorted by key, independent of input order."""
    events = [desired(f"ics:{i}", 10 + i) for i in range(5)]
    assert run_plan(events, {}, {}) == run_plan(list(reversed(events)), {}, {})


def test_a_switch_to_series_deletes_the_items_old_copies_behind_the_window_too() -> None:
    """The series shows its past occurrences as well, so the item's single occurrences (and a former single
    event) are deleted wherever they are; other items' copies behind the window, also one whose UID
    extends this one's with a slash, are left alone."""
    from dataclasses import replace

    from calsync.domain.series import SeriesSpec

    pattern = '{"pattern":{"type":"weekly"},"range":{"type":"noEnd","startDate":"2026-08-10"}}'
    master = replace(desired("ics:a/series", -20), series=SeriesSpec(pattern))
    past = {
        k: observe(desired(k, d))
        for k, d in [("ics:a/20260810T090000Z", -20), ("ics:a", -10), ("ics:a/b/20260810T090000Z", -20)]
    }
    inside = observe(desired("ics:a/20260915T090000Z", 16))
    calendar = {**past, "inside": inside}
    deleted = {a.source_key for a in run_plan([master], calendar, {}) if isinstance(a, Delete)}
    assert deleted == {"ics:a/20260810T090000Z", "ics:a", inside.source_key}
    assert {a.source_key for a in run_plan([], calendar, {}) if isinstance(a, Delete)} == {inside.source_key}
