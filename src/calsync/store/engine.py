"""Engines for the state store: SQLite (the embedded default) and PostgreSQL (at scale), nothing else.

SQLite settings, applied to every new connection by a `connect` listener:

- `journal_mode=WAL`: readers (status pages, the CLI) never block the writer, and a commit is one append
  to the WAL file. WAL needs a local file system (not NFS/SMB).
- `busy_timeout=5000`: a connection that finds the database locked by another worker waits up to 5 s
  instead of failing at once with "database is locked".
- `synchronous=NORMAL`: in WAL mode a commit is not fsynced; the WAL is synced at checkpoints. The SQLite
  docs (reliability-targets.md S12) say what that buys and costs: every committed transaction survives an
  *application* crash (kill -9, an exception, an OOM kill), which is what the state store must survive;
  a *power loss or OS crash* may roll back the last few commits, but the database stays consistent. That
  loss is safe here because the store is a cache of observations: creates carry a deterministic
  transactionId and an ownership tag, so a lost mapping is re-adopted by its tag on the next run, never
  duplicated. A deployment that wants durability across power loss too can run PostgreSQL.
- `foreign_keys=ON`: SQLite ignores foreign keys unless asked, per connection.

SQLite transactions: the Python `sqlite3` module (3.11) starts transactions itself, lazily and only before
DML, so a read followed by a write is not one transaction and DDL is not transactional. As the SQLAlchemy
docs recommend, the driver's handling is turned off and a `begin` listener emits `BEGIN` itself. Writes
ask for `BEGIN IMMEDIATE` (see `begin_write`): the write lock is taken up front, so two workers queue on
busy_timeout instead of one failing with SQLITE_BUSY when it upgrades a read snapshot to a write.

A database URL may carry a password: it is only ever rendered with `safe_url` (password hidden).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

log = logging.getLogger("calsync.store")

SQLITE_BUSY_TIMEOUT_MS = 5_000

_BEGIN_OPTION = "calsync_sqlite_begin"  # a custom execution option read by the `begin` listener
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE"})
# One writer at a time per SQLite engine, queued in the process (see `begin_write`).
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()
_QUEUE_SECONDS = 60.0  # bounded, so a writer stuck in a transaction can never hang the others for good


def safe_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ***, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def database_url(url: str | URL) -> URL:
    """Parse and check a database URL; `postgresql://` and `postgres://` mean psycopg 3.

    Raises:
        ValueError: the URL names a database other than SQLite or PostgreSQL-with-psycopg.
    """
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver in {"sqlite", "pysqlite"}:
        return parsed
    if backend == "postgresql" and driver == "psycopg":
        return parsed
    raise ValueError(
        f"unsupported database URL {safe_url(parsed)}: use sqlite:///path/to/calsync.db "
        "or postgresql+psycopg://user@host/dbname"
    )


def make_engine(url: str | URL) -> Engine:
    """An engine for the state store, configured for its backend (see the module docstring).

    The schema is not created here: run `calsync.store.upgrade(url)` (migrations) first.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
    else:
        # pre-ping: a worker that sat idle across a PostgreSQL restart gets a fresh connection, not an error.
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    log.debug("calsync.store.engine_created", extra={"database": safe_url(parsed)})
    return engine


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    kwargs: dict[str, Any] = {}
    if database in {"", ":memory:"}:
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif not database.startswith("file:"):
        # `calsync demo` on a fresh machine points at ~/.local/share/calsync/…; SQLite won't make the folder.
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _switch_to_wal(cursor: Any) -> None:
    """PRAGMA journal_mode=WAL, retried: while another connection switches a new database to WAL, SQLite
    can answer "database is locked" at once, without waiting on busy_timeout (seen with two workers
    migrating a fresh file at the same moment)."""
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # sqlite3 must not emit BEGIN itself; _sqlite_on_begin does
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so that switching to WAL waits for a lock held by another process.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    if mode not in _BEGIN_MODES:  # pragma: no cover - only begin_write sets the option
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed on normal exit and rolled back on an exception.

    On SQLite the transaction starts with BEGIN IMMEDIATE (the write lock, waiting up to busy_timeout);
    on PostgreSQL the option is ignored and the transaction is READ COMMITTED as usual.

    On SQLite the writers of one process first queue on a lock of their own: SQLite has one writer
    anyway, and its busy handler polls with sleeps of up to 100 ms, so 64 mailboxes' threads waiting on
    it lost time between commits, and under a loaded machine one could wait past busy_timeout and fail
    with "database is locked" although the holder was this very process. busy_timeout still covers
    other processes (a `serve` and a CLI on one file).
    """
    lock = _writer_lock(engine) if engine.dialect.name == "sqlite" else None
    if lock is not None and not lock.acquire(timeout=_QUEUE_SECONDS):
        lock = None  # a writer of ours held it for a minute: let SQLite's busy_timeout decide, as before
    try:
        with engine.connect() as conn:
            conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn
    finally:
        if lock is not None:
            lock.release()


def _writer_lock(engine: Engine) -> threading.RLock:
    with _WRITERS_GUARD:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.RLock()
        return lock
