"""API keys in SQL: create, list, revoke, look up by public prefix, note the last use.

Only the key's hash is stored (calsync.services.api_keys makes and checks keys); this module is plain
storage and knows nothing about how a key is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from calsync.store.api_tables import api_keys
from calsync.store.engine import begin_write


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    name: str
    prefix: str
    hash: str
    scopes: tuple[str, ...]
    created: datetime
    last_used: datetime | None = None
    revoked: datetime | None = None


def _record(row: sa.Row[tuple[object, ...]]) -> ApiKeyRecord:
    m = row._mapping
    return ApiKeyRecord(
        id=m["id"],
        name=m["name"],
        prefix=m["prefix"],
        hash=m["hash"],
        scopes=tuple(m["scopes"]),
        created=m["created"],
        last_used=m["last_used"],
        revoked=m["revoked"],
    )


class ApiKeyStore:
    """The `api_keys` table over the state database's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, record: ApiKeyRecord) -> None:
        with begin_write(self._engine) as conn:
            conn.execute(
                api_keys.insert().values(
                    id=record.id,
                    name=record.name,
                    prefix=record.prefix,
                    hash=record.hash,
                    scopes=list(record.scopes),
                    created=record.created,
                )
            )

    def all(self) -> list[ApiKeyRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created, api_keys.c.id))
            return [_record(r) for r in rows]

    def by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix)).first()
        return _record(row) if row is not None else None

    def get(self, key_id: str) -> ApiKeyRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        return _record(row) if row is not None else None

    def revoke(self, key_id: str, when: datetime) -> bool:
        """Mark the key revoked (once: the first revocation's time is kept). False: no such key."""
        with begin_write(self._engine) as conn:
            found = conn.execute(sa.select(api_keys.c.revoked).where(api_keys.c.id == key_id)).first()
            if found is None:
                return False
            if found[0] is None:
                conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked=when))
            return True

    def touch(self, key_id: str, when: datetime) -> None:
        with begin_write(self._engine) as conn:
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used=when))
