"""The rules that decide what a notification means, on their own: the echo check at run time
(`in_step`), the hints that accumulate per mailbox, duplicate ids, the clientState comparison, the
settings, and the subscriptions table on a migrated SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.services.notifications import Hints, RecentIds, in_step, merge_hints
from calsync.settings import SettingsError, load_settings
from calsync.store import make_engine, upgrade
from calsync.store.subscriptions import (
    SqlSubscriptions,
    SubscriptionRecord,
    client_state_hash,
    client_state_matches,
)
from calsync.sync.ports import Mapping, ObservedEvent

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def mapping(remote_id: str, change_key: str, state: str = "synced") -> Mapping:
    return Mapping("a@x", f"k/{remote_id}", state, "tx", 0, remote_id, change_key, "h", 0)  # type: ignore[arg-type]


def observed(remote_id: str, change_key: str, *, edited: bool = False) -> ObservedEvent:
    return ObservedEvent(remote_id, f"k/{remote_id}", change_key, "h", T0, T0 + timedelta(hours=1), edited)


# Each managed event: what calsync wrote (its changeKey) and what the calendar holds now.
events = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=4),
    st.tuples(
        st.sampled_from(["k1", "k2"]),  # stored changeKey
        st.sampled_from(["same", "other", "edited", "gone"]),  # what became of it
    ),
    max_size=8,
)


@given(events, st.sets(st.text("abcdef", min_size=1, max_size=4), max_size=4))
def test_a_mailbox_is_in_step_exactly_when_nothing_calsync_wrote_was_changed(
    found: dict[str, tuple[str, str]], named: set[str]
) -> None:
    mappings = [mapping(rid, key) for rid, (key, _) in found.items()]
    seen = [
        observed(rid, key if fate != "other" else key + "'", edited=fate == "edited")
        for rid, (key, fate) in found.items()
        if fate != "gone"
    ]
    changed = any(fate in ("other", "edited") for _, fate in found.values())
    deleted_named = any(fate == "gone" and rid in named for rid, (_, fate) in found.items())
    assert in_step(seen, mappings, named) == (not changed and not deleted_named)


def test_an_unknown_or_duplicated_tagged_event_is_not_in_step() -> None:
    written = [mapping("a", "1")]
    assert not in_step([observed("a", "1"), observed("b", "1")], written, set())  # a copy calsync never wrote
    assert not in_step([observed("a", "1"), observed("a", "1")], written, set())
    assert not in_step([observed("a", "1")], [mapping("a", "1", "creating")], set())
    assert in_step([observed("a", "1")], written, {"foreign-id"})  # a named event calsync does not manage


hint = st.tuples(
    st.sampled_from(["s1", "s2", "s3"]), st.one_of(st.none(), st.sampled_from(["e1", "e2", "e3"]))
)


@given(st.lists(st.lists(hint, max_size=6), max_size=5))
def test_hints_merged_in_any_grouping_name_every_event_and_none_wins(
    batches: list[list[tuple[str, str | None]]],
) -> None:
    merged: Hints = {}
    for batch in batches:
        one: Hints = {}
        for scope, event_id in batch:
            merge_hints(one, {scope: None if event_id is None else {event_id}})
        merge_hints(merged, one)
    flat = [h for batch in batches for h in batch]
    assert set(merged) == {scope for scope, _ in flat}
    for scope, ids in merged.items():
        mine = [e for s, e in flat if s == scope]
        assert ids == (None if None in mine else set(mine))


def test_a_notification_id_is_new_once_and_the_memory_is_bounded() -> None:
    seen = RecentIds(limit=2)
    assert [seen.first_time(i) for i in ("a", "a", "b", "c", "a")] == [True, False, True, True, True]
    assert seen.first_time(None)  # no id: never taken for a duplicate
    assert seen.first_time(None)


def test_client_state_is_kept_as_a_hash_and_compared_whole() -> None:
    stored = client_state_hash("s3cret")
    assert "s3cret" not in stored
    assert client_state_matches("s3cret", stored)
    assert not client_state_matches("s3cret ", stored)
    assert not client_state_matches(None, stored)
    assert not client_state_matches("s3cret", None)


def test_the_subscriptions_table_round_trips_and_counts_by_status(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        table = SqlSubscriptions(engine, clock=lambda: T0)
        record = SubscriptionRecord("a@x", "/users/a@x/events", "active", "id-1", T0, client_state_hash("c"))
        assert table.put(record).updated_at == T0
        table.put(SubscriptionRecord("p:b@x", "/users/b@x/events", "failed", error="refused"))
        table.put(SubscriptionRecord("c@x", "/users/c@x/events", "active", "id-1", T0))  # the id moved
        assert table.get("a@x") is None
        assert table.by_id("id-1") == SubscriptionRecord(
            "c@x", "/users/c@x/events", "active", "id-1", T0, updated_at=T0
        )
        assert table.counts() == {"active": 1, "reauthorization_required": 0, "removed": 0, "failed": 1}
        table.delete("c@x")
        assert [r.scope for r in table.all()] == ["p:b@x"]
    finally:
        engine.dispose()


def test_notifications_need_a_public_url_that_is_a_base_url(tmp_path: Path) -> None:
    config = tmp_path / "calsync.toml"
    base = 'tenant_id = "t"\nclient_id = "c"\nmailboxes = ["a@x.org"]\n'
    env = {"CALSYNC_CLIENT_SECRET": "s"}
    config.write_text(base + "change_notifications = true\n")
    with pytest.raises(SettingsError, match="public_url"):
        load_settings(config, env=env)
    config.write_text(base + 'public_url = "https://calsync.example.org/?x=1"\n')
    with pytest.raises(SettingsError, match="public_url"):
        load_settings(config, env=env)
    config.write_text(base + 'public_url = "https://calsync.example.org/"\nchange_notifications = true\n')
    settings = load_settings(config, env=env)
    assert settings.public_url == "https://calsync.example.org"
    assert settings.subscription_lifetime_minutes == 4230
