"""calsync.sync.unchanged: when a mailbox may skip parsing and planning (pure parts)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from calsync.domain import SourceKey, Window
from calsync.sync.ports import Mapping
from calsync.sync.unchanged import in_step, run_digest

WINDOW = Window(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 7, 1, tzinfo=UTC))
states = st.sampled_from(("synced", "synced", "synced", "user_deleted", "detached"))


@st.composite
def mailbox_state(draw: st.DrawFn) -> dict[SourceKey, Mapping]:
    keys = draw(st.lists(st.text("abc/:", min_size=1, max_size=5), unique=True, max_size=8))
    found = {}
    for n, key in enumerate(keys):
        state = draw(states)
        remote = None if state == "detached" else f"id-{n}"
        change_key, digest = (None, None) if remote is None else (f"ck{n}", "h")
        found[SourceKey(key)] = Mapping(
            "ada@uni.example", SourceKey(key), state, f"tx{n}", 0, remote, change_key, digest
        )
    return found


def listed(mappings: dict[SourceKey, Mapping]) -> list[tuple[SourceKey, str, str]]:
    """What the calendar lists when it holds exactly the synced mappings' events."""
    return [(k, m.remote_id or "", m.change_key or "") for k, m in mappings.items() if m.state == "synced"]


@given(mailbox_state())
def test_the_calendar_as_mapped_is_in_step_and_any_one_difference_is_not(
    mappings: dict[SourceKey, Mapping],
) -> None:
    versions = listed(mappings)
    assert in_step(versions, mappings)
    assert in_step(list(reversed(versions)), mappings)  # order does not matter
    for i, (key, remote_id, change_key) in enumerate(versions):
        edited = [*versions[:i], (key, remote_id, change_key + "'"), *versions[i + 1 :]]
        assert not in_step(edited, mappings)  # a person's edit moves the changeKey
        assert not in_step(versions[:i] + versions[i + 1 :], mappings)  # a person deleted it
        assert not in_step([*versions, (key, remote_id + "-copy", change_key)], mappings)  # a second copy
    assert not in_step([*versions, (SourceKey("unmapped"), "id-x", "ck")], mappings)
    for key, m in mappings.items():
        if m.state == "synced":
            assert not in_step(versions, {**mappings, key: replace(m, state="creating")})  # an intent


@given(mailbox_state(), st.sampled_from(("state", "generation", "change_key", "content_hash", "failures")))
def test_the_run_digest_changes_with_any_mapping_the_source_or_the_window(
    mappings: dict[SourceKey, Mapping], field: str
) -> None:
    base = run_digest("src", WINDOW, ("tenant", "source-wins", "recreate"), mappings)
    assert base == run_digest(
        "src", WINDOW, ("tenant", "source-wins", "recreate"), dict(reversed(mappings.items()))
    )
    assert base != run_digest("src2", WINDOW, ("tenant", "source-wins", "recreate"), mappings)
    assert base != run_digest("src", WINDOW, ("tenant", "keep-user-changes", "recreate"), mappings)
    moved = Window(WINDOW.start.replace(day=2), WINDOW.end.replace(day=2))
    assert base != run_digest("src", moved, ("tenant", "source-wins", "recreate"), mappings)
    values = {"state": "creating", "generation": 7, "change_key": "other", "content_hash": "x", "failures": 3}
    for key, m in mappings.items():
        changed = {**mappings, key: replace(m, **{field: values[field]})}
        if changed[key] != m:
            assert base != run_digest("src", WINDOW, ("tenant", "source-wins", "recreate"), changed)
    if mappings:  # a purge or a lost database: the mappings are gone
        assert base != run_digest("src", WINDOW, ("tenant", "source-wins", "recreate"), {})
