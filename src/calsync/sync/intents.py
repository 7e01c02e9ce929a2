"""What the engine commits around a chunk of writes: the intents before it, the results after it.

Intent before effect (architecture.md invariants 2 and 3): whatever a write may leave behind must be
recoverable from the store alone if the process dies right after sending it. So before a chunk is sent,
one transaction commits each create's intent (state `creating` with the transaction id it carries) and
each removed key's tombstone (state `detached` with the next generation, calsync.sync.tombstones); after
the answers, one more transaction commits the chunk's results (`Outcome`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from calsync.domain import SourceKey
from calsync.sync.planner import transaction_id
from calsync.sync.ports import Create, Delete, Mapping, Quarantined, StateStore, Update
from calsync.sync.tombstones import detach


def intent(
    action: Create | Update | Delete, state: dict[SourceKey, Mapping], mailbox: str, tenant_id: str
) -> Mapping | None:
    """What to commit before `action` is sent: a create's intent, a removed key's tombstone, or nothing
    (an update, the delete of a duplicate copy, a key that already has its tombstone)."""
    if isinstance(action, Delete):
        return (
            detach(state.get(action.source_key), mailbox, action.source_key, tenant_id)
            if action.removes_key
            else None
        )
    if isinstance(action, Update):
        return None
    key = action.desired.source_key
    old = state.get(key)
    return Mapping(
        mailbox=mailbox,
        source_key=key,
        state="creating",
        transaction_id=action.transaction_id,
        generation=_generation(old, action.transaction_id, tenant_id, mailbox, key),
        content_hash=old.content_hash if old else None,
        failures=old.failures if old else 0,
    )


def _generation(old: Mapping | None, txid: str, tenant_id: str, mailbox: str, key: SourceKey) -> int:
    """The generation whose transaction id the planner used (it bumps it after a user delete; a
    tombstone's generation is used as is)."""
    base = old.generation if old else 0
    for generation in (base, base + 1):
        if transaction_id(tenant_id, mailbox, key, generation) == txid:
            return generation
    return base


@dataclass
class Outcome:
    """A chunk's results, committed together (quarantined keys were skipped by the planner, so a
    successful write never needs to release one)."""

    mappings: dict[SourceKey, Mapping] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)

    def put(self, mapping: Mapping, state: dict[SourceKey, Mapping]) -> None:
        self.mappings[mapping.source_key] = mapping
        state[mapping.source_key] = mapping

    def commit(self, store: StateStore) -> None:
        if self.mappings:
            store.put_mappings(self.mappings.values())
        for item in self.quarantined:
            store.put_quarantine(item)
