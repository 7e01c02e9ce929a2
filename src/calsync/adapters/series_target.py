"""The second step of writing a series master: its exceptions, then its real content hash.

A master is created (or updated) like any event: one POST (or PATCH) with its pattern, tag and state, in
the engine's batches, with the deterministic transactionId of its key. A master whose source cancels or
changes occurrences is written with the hash PENDING (calsync.adapters.eventmap.to_graph); then, for all
such masters of a chunk at once:

1. its instances are read (`/events/{master}/instances` over the exceptions' original starts), which
   gives each occurrence's id (Graph's instance ids are opaque: they must be read, never built);
2. one `$batch` cancels (DELETE) the occurrences the source cancels and changes (PATCH) those it
   overrides, for all masters together; an occurrence that is not listed is already cancelled;
3. one more `$batch` writes each master's real content hash (and the changeKey that comes back is the
   one the engine records, so the next run sees the master unchanged and writes nothing).

A master update sends its pattern again, which resets its exceptions in Graph (graphemu does as Outlook
does, see graphemu.graph.eventwrite), so steps 1-3 start from a clean series: an occurrence the source
no longer cancels comes back, an override it dropped is undone, and a person's deleted occurrence is
restored (the policy `source-wins`). If any step fails the master keeps PENDING and the action is
reported failed: the next run sees a hash that is not the desired one and updates it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from calsync.adapters.eventmap import Ownership, occurrence_body, state_value
from calsync.graph import BatchItem, GraphClient, GraphClientError
from calsync.graph.odata import segment, user_path
from calsync.sync.ports import ActionResult, Create, Update

_JSON = {"Content-Type": "application/json"}


@dataclass
class _Pending:
    index: int
    action: Create | Update
    master_id: str
    error: str | None = None


def needs_exceptions(action: object, result: ActionResult) -> bool:
    """True for a master with exceptions that was written ok (step 2 and 3 are due)."""
    return (
        isinstance(action, Create | Update)
        and action.desired.series is not None
        and action.desired.series.has_exceptions
        and result.status == "ok"
        and result.remote_id is not None
    )


async def _instance_ids(client: GraphClient, mailbox: str, pending: _Pending) -> dict[datetime, str]:
    series = pending.action.desired.series
    assert series is not None
    originals = [*series.cancelled, *(o for o, _ in series.overrides)]
    start, end = min(originals) - timedelta(days=1), max(originals) + timedelta(days=1)
    found: dict[datetime, str] = {}
    async for item in client.instances(
        mailbox, pending.master_id, start, end, select=["id", "originalStart", "type"]
    ):
        original = item.get("originalStart")
        if original:
            moment = datetime.fromisoformat(str(original).replace("Z", "+00:00")).astimezone(UTC)
            found[moment.replace(microsecond=0)] = str(item["id"])
    return found


def _exception_items(mailbox: str, pending: _Pending, ids: dict[datetime, str]) -> list[BatchItem]:
    series = pending.action.desired.series
    assert series is not None
    base = f"{user_path(mailbox)}/events"
    items = [BatchItem("DELETE", f"{base}/{segment(ids[c])}") for c in series.cancelled if c in ids]
    for original, event in series.overrides:
        if original not in ids:
            pending.error = f"the occurrence of {original.isoformat()} is not in the series"
            continue
        items.append(
            BatchItem("PATCH", f"{base}/{segment(ids[original])}", body=occurrence_body(event), headers=_JSON)
        )
    return items


async def finish_series(
    client: GraphClient,
    mailbox: str,
    owner: Ownership,
    actions: Sequence[object],
    results: list[ActionResult],
) -> list[ActionResult]:
    """Steps 1-3 for the chunk's masters with exceptions; the results with their final changeKeys, or
    failed where a step failed."""
    pending = [
        _Pending(i, a, r.remote_id or "")
        for i, (a, r) in enumerate(zip(actions, results, strict=True))
        if needs_exceptions(a, r) and isinstance(a, Create | Update)
    ]
    if not pending:
        return results
    out = list(results)
    try:
        found = await asyncio.gather(*(_instance_ids(client, mailbox, p) for p in pending))
    except GraphClientError as exc:
        return _failed(out, pending, f"the series' occurrences could not be read: {exc}")
    items: list[BatchItem] = []
    owners: list[_Pending] = []
    for p, ids in zip(pending, found, strict=True):
        mine = _exception_items(mailbox, p, ids)
        items.extend(mine)
        owners.extend([p] * len(mine))
    try:
        answers = await client.batch(items) if items else []
    except GraphClientError as exc:
        return _failed(out, pending, f"the series' exceptions could not be written: {exc}")
    for p, answer in zip(owners, answers, strict=True):
        if answer.error is not None and answer.status != 404:  # 404: already cancelled
            p.error = f"an exception could not be written: {answer.error}"
    done = [p for p in pending if p.error is None]
    finals = [_hash_item(mailbox, owner, p) for p in done]
    try:
        written = await client.batch(finals) if finals else []
    except GraphClientError as exc:
        return _failed(out, done, f"the series' state could not be written: {exc}")
    for p, answer in zip(done, written, strict=True):
        if answer.error is not None:
            p.error = f"the series' state could not be written: {answer.error}"
        else:
            body: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
            out[p.index] = replace(out[p.index], change_key=body.get("changeKey") or out[p.index].change_key)
    return _failed(out, [p for p in pending if p.error is not None], None)


def _hash_item(mailbox: str, owner: Ownership, p: _Pending) -> BatchItem:
    value = state_value(p.action.desired, p.action.content_hash)
    body = {"singleValueExtendedProperties": [{"id": owner.state_id, "value": value}]}
    path = f"{user_path(mailbox)}/events/{segment(p.master_id)}"
    return BatchItem("PATCH", path, body=body, headers=_JSON, keep=("changeKey",))


def _failed(out: list[ActionResult], pending: Sequence[_Pending], message: str | None) -> list[ActionResult]:
    for p in pending:
        out[p.index] = ActionResult(
            p.action,
            "failed",
            error_code="series_exceptions",
            message=message or p.error or "",
            retryable=True,
        )
    return out
