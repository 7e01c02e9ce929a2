"""Engine set-up: SQLite pragmas and real transactions, URL handling, and no password in logs or errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from calsync.store import (
    SqlStateStore,
    begin_write,
    current_revision,
    database_url,
    make_engine,
    safe_url,
    upgrade,
)
from calsync.store.schema import leases

PASSWORD = "s3cr3t-Pa55word"


def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    """WAL, synchronous=NORMAL, foreign keys and a 5 s busy timeout on each pooled connection."""
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with engine.connect() as one, engine.connect() as two:
            for conn in (one, two):
                pragma = {
                    name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
                }
                assert pragma == {
                    "journal_mode": "wal",
                    "synchronous": 1,
                    "foreign_keys": 1,
                    "busy_timeout": 5000,
                }
    finally:
        engine.dispose()


def test_sqlite_transactions_roll_back(tmp_path: Path) -> None:
    """SQLAlchemy, not sqlite3, issues BEGIN: a failed write transaction leaves nothing behind."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:

        def write_then_fail() -> None:
            with begin_write(engine) as conn:
                conn.execute(sa.insert(leases).values(mailbox="m", owner="o", expires_at=sa.func.now()))
                raise RuntimeError("crash inside the transaction")

        with pytest.raises(RuntimeError):
            write_then_fail()
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(leases)).scalar() == 0
    finally:
        engine.dispose()


def test_sqlite_creates_the_database_folder(tmp_path: Path) -> None:
    """A fresh machine has no data folder yet; the demo must still start."""
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'state.db'}"
    upgrade(url)
    assert (tmp_path / "a" / "b" / "state.db").is_file()


def test_in_memory_sqlite_is_one_database() -> None:
    """sqlite:// (memory) shares one connection, so the migrated schema is the one the store uses."""
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
        store = SqlStateStore(engine)
        assert store.acquire_lease("m", "o", ttl_seconds=5)
        assert store.lease_owner("m") == "o"
    finally:
        engine.dispose()


def test_postgres_urls_mean_psycopg3() -> None:
    """postgresql:// and postgres:// use psycopg 3, the driver calsync installs."""
    assert database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert database_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert database_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    "url", ["mysql://u:{pw}@h/db", "postgresql+psycopg2://u:{pw}@h/db", "oracle://u:{pw}@h"]
)
def test_unsupported_databases_are_refused_without_showing_the_password(url: str) -> None:
    """Only SQLite and PostgreSQL are migrated and tested; the error names the URL, password hidden."""
    with pytest.raises(ValueError, match="unsupported database URL") as info:
        database_url(url.format(pw=PASSWORD))
    assert PASSWORD not in str(info.value)
    assert "***" in str(info.value)


def test_password_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    """Connecting to a dead server with a password: neither the error, the engine nor a log shows it."""
    url = f"postgresql+psycopg://calsync:{PASSWORD}@127.0.0.1:1/calsync?connect_timeout=2"
    caplog.set_level(logging.DEBUG)
    engine = make_engine(url)
    try:
        assert PASSWORD not in repr(engine)
        assert PASSWORD not in str(engine.url)
        assert PASSWORD not in safe_url(url)
        with pytest.raises(sa.exc.OperationalError) as connect_error:
            engine.connect()
        with pytest.raises(sa.exc.OperationalError) as migrate_error:
            upgrade(url)
        with pytest.raises(sa.exc.OperationalError) as revision_error:
            current_revision(url)
    finally:
        engine.dispose()
    for info in (connect_error, migrate_error, revision_error):
        assert PASSWORD not in str(info.value)
        assert PASSWORD not in repr(info.value)
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in repr(vars(record)) for record in caplog.records)  # `extra` fields too
    created = [r for r in caplog.records if r.getMessage() == "calsync.store.engine_created"]
    assert created
    assert (
        vars(created[0])["database"]
        == "postgresql+psycopg://calsync:***@127.0.0.1:1/calsync?connect_timeout=2"
    )


def test_sqlite_writers_of_one_process_queue_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers in threads of one process wait for each other in the process, not on SQLite's busy
    handler: with busy_timeout at 0 (a loaded machine, where a holder stalls past it), overlapping
    write transactions from eight threads all commit instead of failing with "database is locked"."""
    import threading
    import time

    import calsync.store.engine as store_engine

    monkeypatch.setattr(store_engine, "SQLITE_BUSY_TIMEOUT_MS", 0)
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with begin_write(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        start.wait()
        try:
            with begin_write(engine) as conn:
                conn.exec_driver_sql(f"INSERT INTO t VALUES ({n})")
                time.sleep(0.01)  # hold the write lock while the others arrive
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 8
