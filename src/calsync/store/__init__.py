"""calsync.store: the state store (mappings, runs, quarantine, fetch state, delta links, leases).

- `make_engine(url)`: an engine for SQLite (WAL, the default) or PostgreSQL (psycopg 3).
- `upgrade(url)`, `current_revision(url)`, `head_revision()`: the Alembic migrations, run from code.
- `SqlStateStore(engine)`: the store over SQL; `MemoryStateStore()`: the same contract in memory.
- `RuntimeStateStore`: the interface both implement (calsync.sync.ports.StateStore plus what the runtime,
  CLI and web pages need); `SourceState` and `source_state_key` for conditional fetches.

Imports only calsync.domain, calsync.sync.ports, SQLAlchemy and Alembic (docs/architecture.md).
"""

from __future__ import annotations

from calsync.store.engine import begin_write, database_url, make_engine, safe_url
from calsync.store.memory import MemoryStateStore
from calsync.store.migrate import current_revision, downgrade, head_revision, upgrade
from calsync.store.records import RunHealth, RuntimeStateStore, SourceState, source_state_key
from calsync.store.scoped import ScopedStore, scope_key, split_scope
from calsync.store.sqlstore import SqlStateStore

__all__ = [
    "MemoryStateStore",
    "RunHealth",
    "RuntimeStateStore",
    "ScopedStore",
    "SourceState",
    "SqlStateStore",
    "begin_write",
    "current_revision",
    "database_url",
    "downgrade",
    "head_revision",
    "make_engine",
    "safe_url",
    "scope_key",
    "source_state_key",
    "split_scope",
    "upgrade",
]
