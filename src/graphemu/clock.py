"""A controllable clock, so tests can expire tokens, codes and subscriptions without sleeping.

Everything in graphemu that depends on time asks `Clock.now()`; the control API can advance it.
Throttling windows use the same clock, so "wait for Retry-After" can also be simulated.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall time plus an adjustable offset (seconds)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def time(self) -> float:
        """Seconds since the epoch, shifted by the offset."""
        return time.time() + self.offset

    def now(self) -> datetime:
        """The current aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        """Move time forward (or back, with a negative value)."""
        self.offset += seconds

    def monotonic(self) -> float:
        """A monotonic reading shifted by the same offset, for rate windows and Retry-After."""
        return time.monotonic() + self.offset

    def shift(self, delta: timedelta) -> None:
        """Advance by a timedelta."""
        self.advance(delta.total_seconds())
