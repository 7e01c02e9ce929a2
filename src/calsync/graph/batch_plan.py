"""The pure half of `$batch`: the item and result values, how items are grouped into batches, and the
`requests` body of one batch. No I/O here, so every rule is tested without a server (batch.py runs them).

Rules (graph-facts §6), and why:
- **One mailbox per batch.** The per-mailbox concurrency accounting (limiter.py) treats a batch as
  holding all of its mailbox's slots; a batch mixing mailboxes would either break that accounting or have
  to hold slots of several mailboxes at once. Items that address no mailbox are batched together.
- **Chains stay together, and alone.** Items linked by `dependsOn` go into the same batch (Graph requires
  it), and into a batch of their own: Graph answers 400 "Batch should be either fully sequential or fully
  parallel" when items with and without dependsOn are mixed. A dependency must come before its dependent
  in the list given; a chain of more than 20 items, or one that spans mailboxes, is refused (ValueError).
- **Ids** are the caller's (`BatchItem.id`) or the item's index, unique case-insensitively (Graph's rule).
- Item URLs are relative to the version root and already encoded: build them with the `BatchItem.create_event`
  / `update_event` / `delete_event` factories or `calsync.graph.odata` helpers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from calsync.graph.errors import GraphClientError
from calsync.graph.limiter import mailbox_key
from calsync.graph.odata import if_match as if_match_header
from calsync.graph.odata import segment, user_path
from calsync.graph.retry import is_retry_safe

__all__ = [
    "MAX_BATCH_ITEMS",
    "BatchItem",
    "BatchResult",
    "Chunk",
    "item_ids",
    "plan_batches",
    "wire_item",
    "wire_requests",
]

MAX_BATCH_ITEMS = 20


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One request of a batch. `url` is relative to the version root, e.g. "/users/{id}/events".

    `keep`: the fields of a successful answer's body the caller reads (None: all of it). The rest is
    dropped as soon as the batch's answer is read: Graph answers a create or an update with the whole
    event, and a mailbox's hundred writes would otherwise hold a hundred parsed events (several KB each)
    until its last batch returns, times every mailbox in flight.
    """

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] | None = None
    id: str | None = None
    depends_on: tuple[str, ...] = ()
    idempotent: bool | None = None
    keep: tuple[str, ...] | None = None

    @property
    def retry_safe(self) -> bool:
        """Whether the item may be sent twice (see retry.is_retry_safe)."""
        return is_retry_safe(self.method, self.body, idempotent=self.idempotent)

    @classmethod
    def create_event(
        cls,
        mailbox: str,
        body: Mapping[str, Any],
        calendar_id: str | None = None,
        *,
        transaction_id: str | None = None,
        id: str | None = None,
    ) -> BatchItem:
        """A create, path-encoded like `GraphClient.create_event` (give a transactionId to make it safe)."""
        payload = dict(body)
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        base = user_path(mailbox) + (f"/calendars/{segment(calendar_id)}" if calendar_id else "")
        return cls("POST", f"{base}/events", payload, id=id)

    @classmethod
    def update_event(
        cls,
        mailbox: str,
        event_id: str,
        patch: Mapping[str, Any],
        *,
        if_match: str | None = None,
        id: str | None = None,
    ) -> BatchItem:
        """A PATCH of one event, with If-Match when given (a changeKey or an etag)."""
        headers = if_match_header(if_match) or None
        return cls("PATCH", f"{user_path(mailbox)}/events/{segment(event_id)}", dict(patch), headers, id=id)

    @classmethod
    def delete_event(cls, mailbox: str, event_id: str, *, id: str | None = None) -> BatchItem:
        """A DELETE of one event (a 404 result means it was already gone)."""
        return cls("DELETE", f"{user_path(mailbox)}/events/{segment(event_id)}", id=id)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one item. `status` is 0 when no answer is known (error is then Indeterminate)."""

    id: str
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: GraphClientError | None = None

    @property
    def ok(self) -> bool:
        """True for a 1xx-3xx answer."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Indexes of the items of one `$batch` call, all for `mailbox`."""

    mailbox: str | None
    indexes: tuple[int, ...]


def item_ids(items: Sequence[BatchItem]) -> list[str]:
    """The id of each item (its own, else its index), checked unique case-insensitively."""
    ids = [item.id if item.id is not None else str(n) for n, item in enumerate(items)]
    seen: set[str] = set()
    for item_id in ids:
        if item_id.lower() in seen:
            raise ValueError(f"duplicate batch item id {item_id!r}")
        seen.add(item_id.lower())
    return ids


def plan_batches(items: Sequence[BatchItem], max_items: int = MAX_BATCH_ITEMS) -> list[Chunk]:
    """Group items by mailbox, keep dependsOn chains together, and cut groups into chunks of `max_items`."""
    ids = item_ids(items)
    index_of = {item_id.lower(): n for n, item_id in enumerate(ids)}
    keys = [mailbox_key(item.url) for item in items]
    parent = list(range(len(items)))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for n, item in enumerate(items):
        for dep in item.depends_on:
            m = index_of.get(dep.lower())
            if m is None:
                raise ValueError(f"item {ids[n]!r} depends on unknown id {dep!r}")
            if keys[m] != keys[n]:
                raise ValueError(f"item {ids[n]!r} depends on {dep!r}, which addresses another mailbox")
            if m >= n:
                raise ValueError(f"item {ids[n]!r} depends on {dep!r}, which must come before it")
            parent[root(n)] = root(m)
    components: dict[int, list[int]] = {}
    for n in range(len(items)):
        components.setdefault(root(n), []).append(n)
    by_mailbox: dict[str | None, list[list[int]]] = {}
    for members in components.values():  # dicts keep insertion order: first appearance wins
        if len(members) > max_items:
            raise ValueError(f"a dependsOn chain of {len(members)} items does not fit in one batch")
        by_mailbox.setdefault(keys[members[0]], []).append(members)
    chunks: list[Chunk] = []
    for mailbox, groups in by_mailbox.items():
        current: list[int] = []
        for members in groups:
            if len(members) > 1:  # a chain: a batch of its own (sequential and parallel items don't mix)
                chunks.append(Chunk(mailbox, tuple(members)))
                continue
            if len(current) == max_items:
                chunks.append(Chunk(mailbox, tuple(current)))
                current = []
            current.extend(members)
        if current:
            chunks.append(Chunk(mailbox, tuple(current)))
    return chunks


def wire_requests(items: Sequence[BatchItem], ids: Sequence[str]) -> list[dict[str, Any]]:
    """The `requests` list for one round. dependsOn keeps only ids still being sent (done ones already
    ran); if that leaves several items without dependsOn next to items with it, each such item after the
    first is made to wait for the previous one, so the batch stays "fully sequential"."""
    pending = {i.lower() for i in ids}
    entries = [wire_item(item, item_id, pending) for item, item_id in zip(items, ids, strict=True)]
    roots = [e for e in entries if "dependsOn" not in e]
    if len(roots) > 1 and len(roots) < len(entries):
        for previous, entry in itertools.pairwise(roots):
            entry["dependsOn"] = [previous["id"]]
    return entries


def wire_item(item: BatchItem, item_id: str, pending: set[str]) -> dict[str, Any]:
    """One entry of `requests`; dependsOn keeps only ids in `pending` (lower-cased)."""
    url = item.url if item.url.startswith("/") else f"/{item.url}"
    entry: dict[str, Any] = {"id": item_id, "method": item.method.upper(), "url": url}
    headers = dict(item.headers or {})
    if item.body is not None:
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        entry["body"] = item.body
    if headers:
        entry["headers"] = headers
    depends = [d for d in item.depends_on if d.lower() in pending]
    if depends:
        entry["dependsOn"] = depends
    return entry
