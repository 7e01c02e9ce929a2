"""The sync window and the one rule that decides whether an event is inside it.

The same rule is applied to source events and to events observed in Graph, so an event on the window's
edge is either in on both sides or out on both: a rule applied to one side only makes an edge event look
missing and re-created on every run (OutlookGoogleCalendarSync #2369).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("window end must be after its start")

    @classmethod
    def around(cls, now: datetime, *, days_back: int = 30, days_ahead: int = 180) -> Window:
        """The window for `now`, aligned to UTC midnight so that it moves by whole days between runs."""
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(midnight - timedelta(days=days_back), midnight + timedelta(days=days_ahead))

    def contains(self, start: datetime, end: datetime) -> bool:
        """True when the event overlaps the window: it starts before the window ends and ends after it
        starts. A zero-length event counts when its instant is in [start, end)."""
        if end <= start:
            return self.start <= start < self.end
        return start < self.end and end > self.start
