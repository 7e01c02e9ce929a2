"""API keys of the REST API: made, listed, revoked, and checked on each request.

A key reads `csk_<id>_<secret>`: `id` (10 lowercase base32 characters) is public, names the key in
listings and logs, and finds its row; `secret` is 256 random bits, so a plain SHA-256 of the whole key
is as good as a slow password hash (nothing to brute-force) and costs microseconds per request. The key
is shown once, when it is made; only the hash is stored and it is compared in constant time. A key that
does not exist is checked against a dummy hash, so the answer takes the same time either way.

Scopes: `read` (profiles, calendars, events), `write` (upsert and delete events), `admin` (everything,
including operations on the whole deployment). `admin` implies the other two; `read` and `write` are
independent, so a timetable system that only pushes events can hold a key that cannot read mailboxes.
Each key writes as API profiles of its own (calsync.services.unified_ids.scope_profile): the events
it writes carry its own ownership tags.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calsync.store.apikeys import ApiKeyRecord, ApiKeyStore

SCOPES: tuple[str, ...] = ("read", "write", "admin")
KEY_PREFIX = "csk_"
_DUMMY_HASH = hashlib.sha256(b"calsync: no such key").hexdigest()
_TOUCH_EVERY = timedelta(minutes=1)  # last_used is a hint, not an audit log: one write a minute at most
_REMEMBER = 2.0  # seconds a key found valid is not read again: how long a revocation may take


class ApiKeyError(Exception):
    """A key cannot be made or changed as asked (an unknown scope, an unknown key)."""


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """Who is calling: the key, by its public id, with its scopes."""

    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: `key` is the only time the secret exists outside the caller's hands."""

    record: ApiKeyRecord
    key: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip().lower() for s in scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise ApiKeyError(f"unknown scope {', '.join(unknown)} (scopes are {', '.join(SCOPES)})")
    if not chosen:
        raise ApiKeyError(f"a key needs at least one scope ({', '.join(SCOPES)})")
    return tuple(s for s in SCOPES if s in chosen)


class ApiKeys:
    """The use cases on keys, over their table."""

    def __init__(self, store: ApiKeyStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock
        self._touched: dict[str, datetime] = {}
        self._valid: dict[str, tuple[float, ApiPrincipal]] = {}

    def create(self, name: str, scopes: Iterable[str] = ("read", "write")) -> NewKey:
        name = name.strip()
        if not name or len(name) > 200:
            raise ApiKeyError("a key needs a name of 1 to 200 characters")
        chosen = _check_scopes(scopes)
        key_id = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        key = f"{KEY_PREFIX}{key_id}_{secret}"
        record = ApiKeyRecord(key_id, name, f"{KEY_PREFIX}{key_id}", _hash(key), chosen, self._clock())
        self._store.add(record)
        return NewKey(record, key)

    def list(self) -> list[ApiKeyRecord]:
        return self._store.all()

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (by id, or by its public prefix `csk_<id>`); revoking twice is not an error."""
        key_id = key_id.removeprefix(KEY_PREFIX)
        if not self._store.revoke(key_id, self._clock()):
            raise ApiKeyError(f"no API key {key_id!r} (see `calsync api-keys list`)")
        record = self._store.get(key_id)
        assert record is not None
        return record

    def authenticate(self, presented: str) -> ApiPrincipal | None:
        """The principal of a presented key, or None: unknown, malformed, wrong secret or revoked, all
        alike (the caller learns nothing about which).

        A key found valid is remembered (by its hash) for `_REMEMBER`, so a client sending a burst of
        requests costs one database read, not one per request; a revocation therefore takes effect in
        every process within that time."""
        digest = _hash(presented)
        remembered = self._valid.get(digest)
        now = time.monotonic()
        if remembered is not None and now - remembered[0] < _REMEMBER:
            return remembered[1]
        found = self._authenticate(presented, digest)
        if found is None:
            self._valid.pop(digest, None)
        else:
            if len(self._valid) > 10_000:
                self._valid.clear()
            self._valid[digest] = (now, found)
        return found

    def _authenticate(self, presented: str, digest: str) -> ApiPrincipal | None:
        key_id, _, _ = presented.removeprefix(KEY_PREFIX).partition("_")
        well_formed = presented.startswith(KEY_PREFIX) and len(key_id) == 10 and key_id.isalnum()
        record = self._store.by_prefix(f"{KEY_PREFIX}{key_id}") if well_formed else None
        expected = record.hash if record is not None else _DUMMY_HASH
        matches = hmac.compare_digest(digest.encode(), expected.encode())
        if record is None or not matches or record.revoked is not None:
            return None
        self._note_use(record.id)
        return ApiPrincipal(record.id, record.name, frozenset(record.scopes))

    def _note_use(self, key_id: str) -> None:
        now = self._clock()
        last = self._touched.get(key_id)
        if last is None or now - last >= _TOUCH_EVERY:
            self._touched[key_id] = now
            self._store.touch(key_id, now)
