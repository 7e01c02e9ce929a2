"""Pure values of calsync's main job: what a mailbox's calendar should contain.

Vocabulary (docs/architecture.md): a **source key** identifies a desired event within its source and
mailbox; a **desired event** is what the source says should be in the calendar; the **window** is the time
range kept in sync; the **content hash** says whether two versions differ in anything calsync syncs.
"""

from __future__ import annotations

from calsync.domain.events import (
    SENSITIVITIES,
    SHOW_AS,
    DesiredEvent,
    SourceKey,
    content_hash,
    normalise,
)
from calsync.domain.series import SeriesSpec, canonical_pattern, event_span, pattern_span_end
from calsync.domain.window import Window
from calsync.domain.zones import UnknownTimeZone, windows_zone

__all__ = [
    "SENSITIVITIES",
    "SHOW_AS",
    "DesiredEvent",
    "SeriesSpec",
    "SourceKey",
    "UnknownTimeZone",
    "Window",
    "canonical_pattern",
    "content_hash",
    "event_span",
    "normalise",
    "pattern_span_end",
    "windows_zone",
]
