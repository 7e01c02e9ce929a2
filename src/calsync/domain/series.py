"""A recurring series as one desired event: its Graph pattern, its exceptions, and the window rule for it.

With a profile's `recurrence = "series"`, a source series whose rule Graph's `patternedRecurrence` expresses
exactly becomes ONE `DesiredEvent` (the series master: its first occurrence's times and content) carrying
a `SeriesSpec`: the pattern calsync writes, the occurrences the source cancelled (EXDATE, a cancelled
RECURRENCE-ID) and the ones it changed (a RECURRENCE-ID override, with its own content). The content hash
covers all of it, so a resync of an unchanged series writes nothing, and any change to the pattern or to
one exception is one change of the master.

The window rule for a series (docs/sync.md, "Recurring series"): a series is synced whole while its *span*
overlaps the window: from its first occurrence's start to two days after its range's end date (the end
date is a local date in the series' zone; two days cover any UTC offset), without end for a series with
no end. The span is computed from the pattern alone (`pattern_span_end`), so the source side (the pattern
calsync would write) and the calendar side (the pattern Graph returns on the master) agree exactly and a
series on the window's edge never flaps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calsync.domain.events import DesiredEvent

FOREVER = datetime(9999, 1, 1, tzinfo=UTC)  # the span end of a series without end
# A master's key is its item's key with this last segment (`ics:<UID>/series`): never a single event's
# key (the UID's own) nor an occurrence's (`ics:<UID>/<start>`), so a feed that adds or drops an RRULE, or
# a profile that switches between "series" and "occurrences", replaces one kind of event by the other
# (a delete and a create in one run; the rails do not count such deletes) instead of patching a single
# event into a series or back, which Graph does not do reliably.
SERIES_SUFFIX = "series"
SPAN_SLACK = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What makes a desired event a series master.

    `pattern` is the canonical JSON of the `patternedRecurrence` calsync writes (sorted keys);
    `cancelled` the original starts (UTC) of occurrences the source cancelled, each a real occurrence of
    the pattern; `overrides` (original start UTC, the occurrence's own content) the occurrences it changed.
    Both are sorted by original start, so equal series compare and hash equal.
    """

    pattern: str
    cancelled: tuple[datetime, ...] = ()
    overrides: tuple[tuple[datetime, DesiredEvent], ...] = ()

    @property
    def recurrence(self) -> dict[str, Any]:
        """The patternedRecurrence as a JSON object, to send to Graph."""
        value: dict[str, Any] = json.loads(self.pattern)
        return value

    @property
    def span_end(self) -> datetime | None:
        return pattern_span_end(self.recurrence)

    @property
    def has_exceptions(self) -> bool:
        return bool(self.cancelled or self.overrides)


def canonical_pattern(recurrence: Mapping[str, Any]) -> str:
    """The canonical text of a patternedRecurrence (for `SeriesSpec.pattern` and the content hash)."""
    return json.dumps(recurrence, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pattern_span_end(recurrence: Mapping[str, Any] | None) -> datetime | None:
    """Two days after the range's end date (UTC midnight), or None for a range without end date.

    Only `range.type == "endDate"` has an end known without expanding the pattern; calsync writes every
    bounded series that way (a COUNT becomes the date of its last occurrence), so only "noEnd" is open.
    """
    rng = (recurrence or {}).get("range") or {}
    if rng.get("type") != "endDate" or not rng.get("endDate"):
        return None
    try:
        end = date.fromisoformat(str(rng["endDate"]))
    except ValueError:
        return None
    return datetime.combine(end, time(), tzinfo=UTC) + SPAN_SLACK


def event_span(event: DesiredEvent) -> tuple[datetime, datetime]:
    """The (start, end) the window rule looks at: the event's own times, or a series' span."""
    if event.series is None:
        return event.start, event.end
    return event.start, max(event.series.span_end or FOREVER, event.end)


def series_payload(spec: SeriesSpec, digest: Any) -> list[Any]:
    """The part of a master's content hash that the series adds; `digest` hashes one override's event."""
    return [
        spec.pattern,
        [c.astimezone(UTC).isoformat() for c in spec.cancelled],
        [[o.astimezone(UTC).isoformat(), digest(e)] for o, e in spec.overrides],
    ]
