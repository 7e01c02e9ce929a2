"""Safety rails: checks on a plan before anything destructive runs (pure).

A source that had events and is now empty, or shrank sharply, is far more often a broken export than a
cancelled semester; a plan that deletes many events at once deserves a human look (vdirsyncer's
StorageEmpty, OutlookGoogleCalendarSync #1989). Each rail raises `SafetyStop` with a stable code unless
the run is forced. A source that failed to load never reaches this point: it is unavailable, not empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from calsync.domain.series import SERIES_SUFFIX
from calsync.sync.ports import Action, Create, Delete


class SafetyStop(Exception):
    """A rail tripped; nothing was written for this mailbox. `code` is stable (docs/sync.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Limits:
    """Thresholds of the rails (configurable in calsync.toml)."""

    shrink_ratio: float = 0.5  # stop when the source lost more than this share of its events ...
    shrink_min_deletes: int = 20  # ... and the plan deletes more than this many
    max_deletes: int = 200  # mass-delete breaker, whatever the source says


def check(
    actions: Sequence[Action],
    *,
    desired_count: int,
    previous_count: int | None,
    force: bool = False,
    limits: Limits = Limits(),
) -> None:
    """Raise SafetyStop when the plan looks like data loss rather than intent, unless forced."""
    if force:
        return
    replaced = _replaced_by_series(actions)
    deletes = sum(
        1
        for a in actions
        if isinstance(a, Delete) and a.reason != "duplicate" and a.source_key not in replaced
    )
    if desired_count == 0 and deletes > 0:
        raise SafetyStop(
            "SourceUnexpectedlyEmpty",
            f"the source has no events but {deletes} synced events would be deleted; "
            "check the source, or run again with --force",
        )
    if (
        previous_count
        and desired_count < previous_count * (1 - limits.shrink_ratio)
        and deletes > limits.shrink_min_deletes
    ):
        raise SafetyStop(
            "SourceShrank",
            f"the source went from {previous_count} to {desired_count} events and {deletes} would be "
            "deleted; check the source, or run again with --force",
        )
    if deletes > limits.max_deletes:
        raise SafetyStop(
            "MassDelete",
            f"{deletes} deletions exceed the limit of {limits.max_deletes}; run again with --force to allow",
        )


def _replaced_by_series(actions: Sequence[Action]) -> set[str]:
    """Occurrence keys (`<item>/<start>`) whose item the plan creates as a series master (`<item>/series`):
    their deletes replace events, they lose none (a profile switched to `recurrence = "series"`), so the
    rails do not count them."""
    items = {
        a.desired.source_key[: -len(SERIES_SUFFIX)]
        for a in actions
        if isinstance(a, Create) and a.desired.series is not None
    }
    if not items:
        return set()
    return {
        a.source_key
        for a in actions
        if isinstance(a, Delete) and a.source_key[: a.source_key.rfind("/") + 1] in items
    }
