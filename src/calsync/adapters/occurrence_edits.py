"""A person's edit of one occurrence of a managed series (a renamed or moved lecture), seen by its exceptions.

Why a read of its own: Graph lists a series master with the occurrences that were deleted
(`cancelledOccurrences`, part of the master's fingerprint, calsync.adapters.eventmap), but an occurrence
someone renamed or moved is an *exception*, which only the series' instances show. Reading them for every
series of every run would cost one request per series and run. It need not: an edit of one occurrence
moves the master's changeKey (service-facts, "Recurrence": msgraph-sdk-dotnet#2822; graphemu does the
same), so the engine asks here only about masters whose changeKey is not the one calsync recorded after
its own last write (calsync.sync.occurrences). In a steady state that is none, and a person's edit costs
one read of that series, once.

An exception is a person's edit when the source does not change that occurrence (no override at its
original start) and it does not look like the master's occurrence at that start, or when the source
changes it and it does not look like the override calsync wrote. "Looks like" compares the fingerprint of
what people see (calsync.adapters.eventmap), so an exception with no visible change (a dismissed
reminder) is not an edit, as for single events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from calsync.adapters.eventmap import fingerprint_desired, fingerprint_graph
from calsync.domain import DesiredEvent, Window
from calsync.domain.series import FOREVER
from calsync.graph import GraphClient, NotFound
from calsync.sync.ports import ObservedEvent

SLACK = timedelta(days=2)  # an exception moves at most to a neighbour's day; read a little beyond the span
_SELECT = [  # what tells an exception from an occurrence, and the fields of the fingerprint
    "type",
    "originalStart",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "subject",
    "start",
    "end",
    "isAllDay",
    "location",
    "categories",
    "showAs",
    "sensitivity",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "isOnlineMeeting",
]


def _original(item: dict[str, Any]) -> datetime | None:
    raw = item.get("originalStart")
    if not raw:
        return None
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).astimezone(UTC).replace(microsecond=0)


def expected_fingerprint(desired: DesiredEvent, original: datetime) -> str:
    """What the occurrence at `original` looks like as calsync wrote it: the source's override there,
    else the master's content at that start (the master's duration)."""
    series = desired.series
    assert series is not None
    for start, override in series.overrides:
        if start == original:
            return fingerprint_desired(override)
    occurrence = replace(desired, start=original, end=original + (desired.end - desired.start), series=None)
    return fingerprint_desired(occurrence)


def edited(desired: DesiredEvent, instances: Sequence[dict[str, Any]]) -> bool:
    """True when one of the series' exceptions is not what calsync wrote (see the module docstring)."""
    for item in instances:
        if item.get("type") != "exception":
            continue
        original = _original(item)
        if original is None or fingerprint_graph(item) != expected_fingerprint(desired, original):
            return True
    return False


async def _one(
    client: GraphClient, mailbox: str, observed: ObservedEvent, desired: DesiredEvent, window: Window
) -> bool:
    end = observed.end if observed.end < FOREVER else window.end  # a series without end: the window's part
    try:
        listing = client.instances(
            mailbox, observed.remote_id, observed.start - SLACK, end + SLACK, select=_SELECT, page_size=1000
        )
        instances = [item async for item in listing]
    except NotFound:  # deleted since it was listed: the next run sees it gone
        return False
    return edited(desired, instances)


async def edited_series(
    client: GraphClient,
    mailbox: str,
    masters: Sequence[tuple[ObservedEvent, DesiredEvent]],
    window: Window,
) -> set[str]:
    """Remote ids of the masters with an occurrence a person changed. Raises GraphClientError when a
    series cannot be read (the caller fails the mailbox's run rather than miss an edit for good)."""
    found = await asyncio.gather(*(_one(client, mailbox, o, d, window) for o, d in masters))
    return {o.remote_id for (o, _), hit in zip(masters, found, strict=True) if hit}
