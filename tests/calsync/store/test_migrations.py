"""Migrations: the migrated schema is the models' schema on SQLite and PostgreSQL; upgrade is idempotent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL

from calsync.store import SqlStateStore, current_revision, downgrade, head_revision, make_engine, upgrade
from calsync.store.schema import NAMING_CONVENTION, metadata
from calsync.sync.ports import RunReport


def schema_diff(url: str | URL, target: sa.MetaData = metadata) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, target))
    finally:
        engine.dispose()


def table_names(url: str | URL) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> str | URL:
    """A database calsync has never seen."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'state.db'}"
    url: URL = request.getfixturevalue("pg_empty_url")
    return url


def test_migrated_schema_equals_the_models(empty_db: str | URL) -> None:
    """Alembic's compare_metadata finds no difference between the migrated database and schema.py."""
    assert current_revision(empty_db) is None
    assert upgrade(empty_db) == head_revision()
    assert schema_diff(empty_db) == []
    assert table_names(empty_db) == {t.name for t in metadata.sorted_tables} | {"alembic_version"}


def test_the_comparison_would_see_a_difference(empty_db: str | URL) -> None:
    """The check above is not vacuous: a changed column type or a missing index shows up as a diff."""
    upgrade(empty_db)
    changed = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["leases"].c.owner.type = sa.Integer()
    changed.tables["mappings"].indexes.clear()
    kinds = {diff[0][0] if isinstance(diff, list) else diff[0] for diff in schema_diff(empty_db, changed)}
    assert kinds == {"modify_type", "remove_index"}


def test_upgrade_is_idempotent(empty_db: str | URL) -> None:
    """Upgrading a current database changes nothing (every start may call it)."""
    first = upgrade(empty_db)
    second = upgrade(empty_db)
    assert first == second == current_revision(empty_db) == head_revision()
    assert schema_diff(empty_db) == []


def test_downgrade_to_base_and_up_again(empty_db: str | URL) -> None:
    """Every migration can be undone, so the downgrade paths are exercised too."""
    upgrade(empty_db)
    assert downgrade(empty_db, "base") is None
    assert table_names(empty_db) == {"alembic_version"}
    upgrade(empty_db)
    assert schema_diff(empty_db) == []


def test_concurrent_upgrades_of_a_fresh_database_both_succeed(empty_db: str | URL) -> None:
    """Two workers starting at once: one migrates, the other waits and finds the schema current."""
    results: list[str | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def start_worker() -> None:
        try:
            barrier.wait()
            results.append(upgrade(empty_db))
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=start_worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == [head_revision(), head_revision()]
    assert schema_diff(empty_db) == []


def test_migrations_ship_inside_the_package() -> None:
    """The wheel needs the migration scripts next to the code, with no alembic.ini."""
    from calsync.store.migrate import MIGRATIONS

    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert (MIGRATIONS / "versions" / "0001_initial.py").is_file()
    assert (MIGRATIONS / "versions" / "0002_run_status_not_applicable.py").is_file()
    assert (MIGRATIONS / "versions" / "0003_departures.py").is_file()
    for name in (
        "0004_connections",
        "0005_admin_audit",
        "0006_api_keys",
        "0007_channels_outbox",
        "0008_graph_subscriptions",
    ):
        assert (MIGRATIONS / "versions" / f"{name}.py").is_file()
    assert head_revision() == "0008"


def test_a_database_of_the_first_release_accepts_not_applicable_runs(tmp_path: Path) -> None:
    """0001 -> 0002 keeps the runs it had and lets a run end `not_applicable`; going down turns those
    runs into failures, so the old CHECK constraint holds again."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, revision="0001")
    engine = make_engine(url)
    try:
        store = SqlStateStore(engine)
        started = datetime(2026, 12, 1, tzinfo=UTC)
        store.record_run(RunReport("a@x", started, started, status="ok", created=3))
        upgrade(url)
        store.record_run(RunReport("b@x", started, started, status="not_applicable"))
        assert {r.mailbox: (r.status, r.created) for r in store.last_runs()} == {
            "a@x": ("ok", 3),
            "b@x": ("not_applicable", 0),
        }
        downgrade(url, "0001")
        assert {r.mailbox: r.status for r in store.last_runs()} == {"a@x": "ok", "b@x": "failed"}
    finally:
        engine.dispose()


def test_departures_arrive_and_leave_without_touching_other_state(tmp_path: Path) -> None:
    """0002 -> 0003 adds the departures table and keeps every run; going down drops only it."""
    url = f"sqlite:///{tmp_path / 'before-offboarding.db'}"
    upgrade(url, revision="0002")
    engine = make_engine(url)
    try:
        store = SqlStateStore(engine)
        started = datetime(2026, 12, 1, tzinfo=UTC)
        store.record_run(RunReport("a@x", started, started, status="ok", created=3))
        upgrade(url)
        store.mark_departed(["a@x"])
        assert list(store.departures()) == ["a@x"]
        downgrade(url, "0002")
        assert "departures" not in table_names(url)
        assert [(r.mailbox, r.created) for r in store.last_runs()] == [("a@x", 3)]
    finally:
        engine.dispose()


def test_the_shipped_head_read_without_alembic_is_alembics_head() -> None:
    """`upgrade` skips Alembic on a current database by reading the scripts' revision lines: they must
    name the head Alembic itself finds (a new migration in another form makes shipped_head None)."""
    from calsync.store.migrate import shipped_head

    assert shipped_head() in (head_revision(), None)
    assert shipped_head() is not None  # calsync's own scripts are one plain chain


def test_upgrading_a_current_database_imports_no_alembic(tmp_path: Path) -> None:
    """Every start of `calsync sync`, `serve` and `worker` but the first: no Alembic import, no write."""
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert upgrade(url) == head_revision()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def upgraded(database: str) -> list[str]:
        probe = (
            "import sys; from calsync.store import upgrade; "
            f"print(upgrade({database!r})); print('alembic' in sys.modules)"
        )
        run = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
        )
        return run.stdout.split()

    assert upgraded(url) == [head_revision(), "False"]
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert upgraded(fresh) == [head_revision(), "True"]  # a new database is migrated by Alembic
