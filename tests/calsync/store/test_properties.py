"""Property: any sequence of mapping writes leaves the store equal to a plain dict (memory and SQLite)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calsync.domain import SourceKey
from calsync.store import MemoryStateStore, RuntimeStateStore, SqlStateStore, make_engine, upgrade
from calsync.sync.ports import Mapping

# A few fixed keys make collisions (replace, delete of a present key) common; the free text finds
# encoding problems (case, accents, astral characters).
keys = st.one_of(
    st.sampled_from(["a", "A", "a ", "é", "e\u0301", "ics:uid/2026-09-01T08:00"]),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=30),
).map(SourceKey)
optional = st.none() | st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20
)


@st.composite
def mappings(draw: st.DrawFn, key: SourceKey | None = None) -> Mapping:
    return Mapping(
        mailbox="placeholder",
        source_key=key if key is not None else draw(keys),
        state=draw(st.sampled_from(["creating", "synced", "user_deleted", "detached", "deleting"])),
        transaction_id=draw(st.text(st.characters(codec="ascii", exclude_characters="\x00"), min_size=1)),
        generation=draw(st.integers(0, 2**31 - 1)),
        remote_id=draw(optional),
        change_key=draw(optional),
        content_hash=draw(optional),
        failures=draw(st.integers(0, 1000)),
    )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), mappings()),
        st.tuples(st.just("put_many"), st.lists(mappings(), max_size=5)),
        st.tuples(st.just("delete"), keys),
    ),
    max_size=30,
)


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RuntimeStateStore]:
    """One store for all examples; each example writes to its own new mailbox, so examples are independent."""
    if request.param == "memory":
        yield MemoryStateStore()
        return
    path: Path = tmp_path_factory.mktemp("prop") / "state.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    yield SqlStateStore(engine)
    engine.dispose()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_mapping_writes_match_a_dict_model(
    shared_store: RuntimeStateStore, ops: list[tuple[str, object]]
) -> None:
    """put/put_many/delete in any order: mappings(mailbox) equals the dict after every step."""
    store = shared_store
    mailbox = f"{uuid.uuid4()}@contoso"
    model: dict[SourceKey, Mapping] = {}
    for op, arg in ops:
        if op == "put":
            assert isinstance(arg, Mapping)
            m = replace(arg, mailbox=mailbox)
            store.put_mapping(m)
            model[m.source_key] = m
        elif op == "put_many":
            assert isinstance(arg, list)
            batch = [replace(m, mailbox=mailbox) for m in arg]
            store.put_mappings(batch)
            model.update({m.source_key: m for m in batch})
        else:
            assert isinstance(arg, str)
            store.delete_mapping(mailbox, SourceKey(arg))
            model.pop(SourceKey(arg), None)
        assert store.mappings(mailbox) == model
    assert (mailbox in store.mailboxes()) == any(m.has_event for m in model.values())  # not tombstones
