"""calendarView delta rounds (graph-facts §5).

A round starts from a `DeltaStart` (mailbox and window: the first call) or from the deltaLink saved after
the previous round, follows every nextLink verbatim, and ends at the page carrying `@odata.deltaLink`.

What a round reports:
- `changed`: events added or updated (full calendarView objects; `$select` is not supported on delta).
- `removed`: ids that came with `@removed`. Graph also sends `@removed` (reason "deleted") for events
  *outside* the window that were added, changed or deleted, and the client cannot tell those from real
  deletions by the id alone. Pass `known_ids` (the ids the caller holds) to keep only removals of events it
  knows; without it every @removed id is reported, and a caller that never saw an id simply ignores it.
- An id that appears more than once in a round (changed on one page, removed on a later one, or the
  reverse) is reported once, in its last state.
- `delta_link`: where the next round starts.

A saved deltaLink that Graph no longer knows raises `SyncStateNotFound` (410 Gone, or the error codes
syncStateNotFound/SyncStateNotFound/resyncRequired): the caller starts over with a full sync.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calsync.graph.errors import GraphClientError
from calsync.graph.odata import graph_datetime, segment, user_path
from calsync.graph.paging import pages
from calsync.graph.requester import Requester

__all__ = ["DeltaRound", "DeltaStart", "delta_round"]


@dataclass(frozen=True, slots=True)
class DeltaStart:
    """The first call of a delta sequence: a mailbox, a window, and optionally one calendar
    (per-calendar calendarView delta is allowed by Graph's metadata but not documented in v1.0)."""

    mailbox: str
    start: datetime | str
    end: datetime | str
    calendar_id: str | None = None

    def path(self) -> str:
        """The request path."""
        base = user_path(self.mailbox)
        if self.calendar_id:
            base += f"/calendars/{segment(self.calendar_id)}"
        return f"{base}/calendarView/delta"

    def params(self) -> dict[str, str]:
        """The window parameters (only the first call carries them)."""
        return {"startDateTime": graph_datetime(self.start), "endDateTime": graph_datetime(self.end)}


@dataclass(frozen=True, slots=True)
class DeltaRound:
    """The outcome of one round: see the module docstring."""

    changed: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    delta_link: str = ""


async def delta_round(
    client: Requester,
    start: DeltaStart | str,
    *,
    known_ids: Container[str] | None = None,
    page_size: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> DeltaRound:
    """Run one delta round from a `DeltaStart` or a saved deltaLink.

    Raises:
        SyncStateNotFound: the deltaLink expired; resync fully.
    """
    if isinstance(start, DeltaStart):
        path, params = start.path(), start.params()
    else:
        path, params = start, None
    latest: dict[str, dict[str, Any] | None] = {}
    delta_link: str | None = None
    async for page in pages(client, path, params=params, page_size=page_size, headers=headers):
        for item in page.get("value") or ():
            item_id = item.get("id")
            if not isinstance(item_id, str):
                continue
            latest.pop(item_id, None)  # re-insert so the order is that of the last appearance
            latest[item_id] = None if "@removed" in item else item
        link = page.get("@odata.deltaLink")
        if isinstance(link, str) and link:
            delta_link = link
    if delta_link is None:
        raise GraphClientError("the delta round ended without an @odata.deltaLink")
    changed = [item for item in latest.values() if item is not None]
    removed = [i for i, item in latest.items() if item is None and (known_ids is None or i in known_ids)]
    return DeltaRound(changed=changed, removed=removed, delta_link=delta_link)
