"""Tombstones: the mapping row kept for a key whose event calsync deleted, so the key never reuses an id.

Every create carries the deterministic transactionId of (tenant, mailbox, source key, generation). When
the source drops a key, calsync deletes its event; if the row went too, a key that comes back (a
cancelled lecture reinstated) would be created with generation 0 again, the transactionId of the event
that was deleted. What Graph answers to a reused transactionId is undocumented (graph-facts §4): the
deleted original, or 409 ErrorDuplicateTransactionId, and with 409 the event would never come back. So
the row stays, in state `detached`: no event, and the next generation (calsync.sync.ports, Mapping
states). The same goes for `calsync purge`, and for a create answered 409 when no event carries its tag
(its transactionId is spent: the event was created once and has been deleted since).

Intent before effect: the tombstone is committed *before* the DELETE is sent, as a create's intent is.
A crash after the DELETE then loses nothing: the key already has its next generation. A crash before it,
or a delete that fails, leaves the event with a tombstone, which the planner treats as an event the
mapping does not know: deleted again while the source lacks the key, adopted if the key came back.

Tombstones are one small row per key ever removed; nothing removes them (`calsync purge` keeps them too).
"""

from __future__ import annotations

from collections.abc import Sequence

from calsync.domain import SourceKey
from calsync.sync.planner import transaction_id
from calsync.sync.ports import CalendarTarget, Delete, Mapping, ObservedEvent, StateStore


def detach(old: Mapping | None, mailbox: str, key: SourceKey, tenant_id: str) -> Mapping | None:
    """The tombstone to commit before the key's event is deleted; None when `old` already is one (its
    generation was never sent, so it stays). A key without a row was adopted or made by a calsync that
    lost its database: its event most likely carries generation 0's transaction id, so the next is 1."""
    if old is None:
        return Mapping(mailbox, key, "detached", transaction_id(tenant_id, mailbox, key, 0), generation=1)
    return None if old.state == "detached" else old.detached()


async def purge(
    target: CalendarTarget,
    store: StateStore,
    tenant_id: str,
    mailbox: str,
    managed: Sequence[ObservedEvent],
) -> int:
    """Delete the mailbox's managed events (`calsync purge`); the number that are gone.

    Every key of the mailbox (its rows and the events found) gets its tombstone first, in one
    transaction, so a later sync creates each event with a new transaction id, and a crash part-way
    leaves events that the next sync adopts or deletes. The caller then forgets the mailbox's other
    state (`purge_mailbox`, which keeps the tombstones)."""
    rows = store.mappings(mailbox)
    keys = sorted(set(rows) | {o.source_key for o in managed})
    stones = [stone for key in keys if (stone := detach(rows.get(key), mailbox, key, tenant_id)) is not None]
    if stones:
        store.put_mappings(stones)
    results = await target.apply(mailbox, [Delete(o.source_key, o.remote_id, None, "purge") for o in managed])
    return sum(1 for r in results if r.status in ("ok", "gone"))
