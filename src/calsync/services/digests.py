"""The run digests of mailboxes' last good runs (calsync.sync.unchanged), kept in the state store.

Why in `source_state`: a run digest is, like a feed's validators, "what the source was when the mailbox
was last in step", per profile and mailbox, written after a good run and forgotten when a run begins.
The row's key is `source_state_key("run-digest|<mailbox>")` (scoped to the profile by ScopedStore, and
never equal to a feed's key, which hashes a URL), the digest is kept in its `etag` column. No migration:
a database without such rows simply plans every mailbox on its next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from calsync.store import RuntimeStateStore, SourceState, source_state_key


def digest_key(mailbox: str) -> str:
    return source_state_key(f"run-digest|{mailbox.lower()}")


@dataclass(frozen=True, slots=True)
class RunDigests:
    """calsync.sync.unchanged.DigestStore over a (profile's) state store."""

    store: RuntimeStateStore

    def run_digest(self, mailbox: str) -> str | None:
        found = self.store.source_state(digest_key(mailbox))
        return None if found is None else found.etag

    def put_run_digest(self, mailbox: str, digest: str | None) -> None:
        state = SourceState(
            digest_key(mailbox), etag=digest, last_ok_at=datetime.now(UTC) if digest else None
        )
        self.store.put_source_state(state)
