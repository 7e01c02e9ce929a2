"""Desired events, their normalisation and their content hash.

A `DesiredEvent` is immutable and already normalised: two events that would look the same in Outlook
compare (and hash) equal. The content hash covers only what calsync writes to Graph; fields that must not
count are listed in `NOT_HASHED` with the reason, because a feed that regenerates them on every fetch
would otherwise make every sync rewrite every event (vdirsyncer's IGNORE_PROPS).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, NewType

from calsync.domain.series import SeriesSpec, series_payload

SourceKey = NewType("SourceKey", str)
"""The stable identity of a desired event within its mailbox, e.g. "ics:<UID>/<RECURRENCE-ID>"."""

ShowAs = Literal["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"]
Sensitivity = Literal["normal", "personal", "private", "confidential"]
SHOW_AS: tuple[str, ...] = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
SENSITIVITIES: tuple[str, ...] = ("normal", "personal", "private", "confidential")

# Limits applied by normalise(); Outlook truncates long subjects and Graph rejects huge bodies.
MAX_SUBJECT = 255
MAX_LOCATION = 255
MAX_BODY = 32_000
MAX_CATEGORIES = 25

NOT_HASHED: dict[str, str] = {
    "mailbox": "the hash compares content within one mailbox; the mailbox is part of the mapping key",
    "source_key": "it is the mapping key itself, not content",
    "source": "where an event came from does not change what the calendar shows",
    "DTSTAMP/LAST-MODIFIED/SEQUENCE": "feeds regenerate them on every fetch; they never reach Graph",
    "extras": "a source's raw fields for templates; only what a template makes of them reaches Graph",
}


def _clean(text: str | None, limit: int) -> str:
    """NFC, no control characters but newlines and tabs, LF line ends, trimmed and truncated."""
    if not text:
        return ""
    if text.isascii() and text.isprintable():  # the common case, already clean: NFC leaves ASCII as is
        return text.strip()[:limit]
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.isprintable():  # printable text has no character of category C (nor Z but spaces)
        text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()[:limit]


@dataclass(frozen=True, slots=True)
class DesiredEvent:
    """One event a source wants in one mailbox's calendar.

    `start` and `end` are aware datetimes; `time_zone` is the IANA name of the source's zone, used to send
    the event in local time (so Outlook shows it in the organiser's zone and DST is right). An all-day
    event has midnight start and end in `time_zone`, end exclusive.
    """

    mailbox: str
    source_key: SourceKey
    subject: str
    start: datetime
    end: datetime
    time_zone: str = "UTC"
    all_day: bool = False
    location: str = ""
    body: str = ""
    categories: tuple[str, ...] = ()
    show_as: ShowAs = "busy"
    sensitivity: Sensitivity = "normal"
    reminder_minutes: int | None = 15
    teams_meeting: bool = False
    source: str = field(default="", compare=False)
    # The source fields a profile's templates read beyond the ones above (a CSV's "module" column, an
    # iCalendar X- property), as sorted (name, value) pairs. Only the fields a profile names are carried,
    # so an event costs nothing more without templates; `apply_templates` consumes and drops them.
    extras: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # A series master (profile setting `recurrence = "series"`, calsync.domain.series): the pattern and
    # exceptions Graph gets; `start`/`end` are then the first occurrence's. None: a single event.
    series: SeriesSpec | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(f"{self.source_key}: start and end must be timezone-aware")
        if self.end < self.start:
            raise ValueError(f"{self.source_key}: end is before start")
        if self.show_as not in SHOW_AS:
            raise ValueError(f"{self.source_key}: show_as must be one of {', '.join(SHOW_AS)}")
        if self.sensitivity not in SENSITIVITIES:
            raise ValueError(f"{self.source_key}: sensitivity must be one of {', '.join(SENSITIVITIES)}")
        if self.reminder_minutes is not None and not 0 <= self.reminder_minutes <= 40_320:
            raise ValueError(f"{self.source_key}: reminder must be between 0 and 40320 minutes (4 weeks)")

    def extra_value(self, name: str) -> str:
        """The value of the extra source field `name`, or "" when the source gave none."""
        for key, value in self.extras:
            if key == name:
                return value
        return ""


def normalise(event: DesiredEvent) -> DesiredEvent:
    """The canonical form: cleaned text, sorted unique categories, UTC instants without microseconds."""
    categories = tuple(sorted({c for c in (_clean(c, 255) for c in event.categories) if c}))[:MAX_CATEGORIES]
    return replace(
        event,
        subject=_clean(event.subject, MAX_SUBJECT),
        location=_clean(event.location, MAX_LOCATION),
        body=_clean(event.body, MAX_BODY),
        categories=categories,
        start=event.start.astimezone(UTC).replace(microsecond=0),
        end=event.end.astimezone(UTC).replace(microsecond=0),
    )


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per call


def content_hash(event: DesiredEvent) -> str:
    """SHA-256 (hex, 32 chars) of the normalised synced fields; see NOT_HASHED for what is left out.

    The fields are normalised as `normalise` does, without building the normalised event (the planner
    hashes every desired event of every run)."""
    categories = sorted({c for c in (_clean(c, 255) for c in event.categories) if c})[:MAX_CATEGORIES]
    payload = [
        _clean(event.subject, MAX_SUBJECT),
        event.start.astimezone(UTC).replace(microsecond=0).isoformat(),
        event.end.astimezone(UTC).replace(microsecond=0).isoformat(),
        event.time_zone,
        event.all_day,
        _clean(event.location, MAX_LOCATION),
        _clean(event.body, MAX_BODY),
        categories,
        event.show_as,
        event.sensitivity,
        event.reminder_minutes,
        event.teams_meeting,
    ]
    if event.series is not None:  # appended only for series, so single events keep the hashes they had
        payload.append(series_payload(event.series, content_hash))
    return hashlib.sha256(_COMPACT.encode(payload).encode()).hexdigest()[:32]
