"""DesiredEvent <-> Graph event JSON, calsync's ownership tag, and the fingerprint of what users see.

Ownership: every event calsync creates carries two named single-value extended properties in calsync's
own GUID namespace (graph-facts §3): `calsync.sourceKey` (the tag: the source key) and `calsync.state`
("<content hash> <fingerprint>"). Graph never returns them unless asked with $expand, and they survive
edits in Outlook, so they identify calsync's events after a lost database, and only those.

User edits: the *fingerprint* hashes what a person sees and can change (subject, times, all-day, location,
categories, show-as, sensitivity, reminder, Teams) from both sides: from the desired event when calsync
writes it, and from Graph's JSON when calsync reads it. They differ only when someone edited the event;
a changeKey that moved without a visible change (a dismissed reminder) is not an edit. The body is left
out: Graph returns it re-wrapped in HTML, so comparing it would see edits that are not there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from calsync.domain import DesiredEvent, SourceKey, UnknownTimeZone, pattern_span_end, windows_zone
from calsync.domain.series import FOREVER
from calsync.domain.zones import iana_zone
from calsync.sync.ports import ObservedEvent

NAMESPACE = "{6c1f3e2a-5b7d-4e09-9f3a-2d8c41b7a0e5}"  # calsync's property set GUID (never change it)
DEFAULT_PROFILE = "default"


@dataclass(frozen=True, slots=True)
class Ownership:
    """The two properties that make an event a profile's own (docs/profiles.md).

    The default profile keeps the names calsync always wrote (`calsync.sourceKey`, `calsync.state`), so
    the events of a deployment made before profiles stay its own; any other profile `p` writes
    `calsync.sourceKey.p` and `calsync.state.p`. A profile lists, adopts, updates and deletes only events
    with its own tag, so profiles (and deployments with different profile names) never touch each
    other's events, and Graph filters by the property server-side."""

    profile: str = DEFAULT_PROFILE

    @property
    def tag_id(self) -> str:
        suffix = "" if self.profile == DEFAULT_PROFILE else f".{self.profile}"
        return f"String {NAMESPACE} Name calsync.sourceKey{suffix}"

    @property
    def state_id(self) -> str:
        suffix = "" if self.profile == DEFAULT_PROFILE else f".{self.profile}"
        return f"String {NAMESPACE} Name calsync.state{suffix}"

    @property
    def calendar_tag_id(self) -> str:
        """The tag of the calendar the profile creates (calsync.adapters.calendars), holding its name."""
        return f"String {NAMESPACE} Name calsync.calendar.{self.profile}"


DEFAULT_OWNERSHIP = Ownership()
TAG_ID = DEFAULT_OWNERSHIP.tag_id
STATE_ID = DEFAULT_OWNERSHIP.state_id
SELECT = (
    "subject,start,end,isAllDay,location,categories,showAs,sensitivity,isReminderOn,"
    "reminderMinutesBeforeStart,isOnlineMeeting,changeKey,type,originalStartTimeZone,originalEndTimeZone,"
    "recurrence,cancelledOccurrences"
)
PENDING = "pending"  # the content hash of a series master whose exceptions are not all written yet


def _zone_name(event: DesiredEvent) -> tuple[str, ZoneInfo]:
    """The Windows zone to send and the zone to express local times in (UTC when unknown)."""
    try:
        return windows_zone(event.time_zone), iana_zone(event.time_zone)
    except UnknownTimeZone:
        return "UTC", ZoneInfo("UTC")


def _local(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")


def to_graph(event: DesiredEvent, content_hash: str, owner: Ownership = DEFAULT_OWNERSHIP) -> dict[str, Any]:
    """The body of a create or update: local times in the source's zone (Windows name), text body, tags;
    a series master's pattern. A master with exceptions is written with the hash PENDING: the adapter
    writes the real one after the exceptions (calsync.adapters.series_target), so a run that dies in
    between leaves a master the next run updates, never one that looks done."""
    body = occurrence_body(event)
    state_hash = content_hash
    if event.series is not None:
        body["recurrence"] = event.series.recurrence
        if event.series.has_exceptions:
            state_hash = PENDING
    body["singleValueExtendedProperties"] = [
        {"id": owner.tag_id, "value": event.source_key},
        {"id": owner.state_id, "value": state_value(event, state_hash)},
    ]
    return body


def state_value(event: DesiredEvent, content_hash: str) -> str:
    """The value of the state property: the content hash and the fingerprint of what people see."""
    return f"{content_hash} {fingerprint_desired(event)}"


def occurrence_body(event: DesiredEvent) -> dict[str, Any]:
    """The visible fields of an event: all of a single event's body but its tags; an exception's PATCH."""
    zone_name, zone = _zone_name(event)
    body: dict[str, Any] = {
        "subject": event.subject,
        "body": {"contentType": "text", "content": event.body},
        "start": {"dateTime": _local(event.start, zone), "timeZone": zone_name},
        "end": {"dateTime": _local(event.end, zone), "timeZone": zone_name},
        "isAllDay": event.all_day,
        "location": {"displayName": event.location},
        "categories": list(event.categories),
        "showAs": event.show_as,
        "sensitivity": event.sensitivity,
        "isReminderOn": event.reminder_minutes is not None,
        "reminderMinutesBeforeStart": event.reminder_minutes if event.reminder_minutes is not None else 0,
    }
    if event.teams_meeting:
        body["isOnlineMeeting"] = True
        body["onlineMeetingProvider"] = "teamsForBusiness"
    return body


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)  # built once


def _fingerprint(fields: list[Any]) -> str:
    return hashlib.sha256(_COMPACT.encode(fields).encode()).hexdigest()[:16]


def fingerprint_desired(event: DesiredEvent) -> str:
    """The visible fields of a desired event (see the module docstring); for a series master also the
    local dates of the occurrences it cancels, which Graph lists on the master (cancelledOccurrences): a
    person who deletes one occurrence changes them, and the user-change policies apply to the series."""
    cancelled: list[str] = []
    if event.series is not None:
        _, zone = _zone_name(event)
        cancelled = sorted({c.astimezone(zone).date().isoformat() for c in event.series.cancelled})
    return _fingerprint(
        [
            event.subject,
            event.start.astimezone(UTC).replace(microsecond=0).isoformat(),
            event.end.astimezone(UTC).replace(microsecond=0).isoformat(),
            event.all_day,
            event.location,
            sorted(event.categories),
            event.show_as,
            event.sensitivity,
            event.reminder_minutes,
            event.teams_meeting,
            *([cancelled] if event.series is not None else []),
        ]
    )


def parse_graph_time(value: dict[str, Any]) -> datetime:
    """A Graph dateTimeTimeZone as an aware UTC datetime (calsync reads in UTC; Windows names accepted)."""
    raw = str(value["dateTime"])
    head, _, fraction = raw.partition(".")
    naive = datetime.fromisoformat(head.rstrip("Z"))
    micro = int((fraction.rstrip("Z") + "000000")[:6]) if fraction else 0
    try:
        zone = iana_zone(value.get("timeZone") or "UTC")
    except UnknownTimeZone:
        zone = ZoneInfo("UTC")
    return naive.replace(microsecond=micro, tzinfo=zone).astimezone(UTC)


def event_time(item: dict[str, Any], which: str) -> datetime:
    """An event's start or end as an aware UTC instant. All-day events are the exception: Graph returns
    their local midnight labelled with the requested zone (UTC unless `Prefer: outlook.timezone`), so
    their instant is that wall time in the event's own zone (originalStartTimeZone/originalEndTimeZone),
    the same instant calsync wrote (a DesiredEvent's all-day start is midnight in its time zone)."""
    value = item[which]
    original = item.get("originalStartTimeZone" if which == "start" else "originalEndTimeZone")
    if item.get("isAllDay") and original:
        try:
            zone = iana_zone(original)
        except UnknownTimeZone:  # "tzone://Microsoft/Custom" and the like: keep the labelled zone
            return parse_graph_time(value)
        wall = parse_graph_time({"dateTime": value["dateTime"], "timeZone": "UTC"}).replace(tzinfo=None)
        return wall.replace(tzinfo=zone).astimezone(UTC)
    return parse_graph_time(value)


def fingerprint_graph(item: dict[str, Any]) -> str:
    """The same visible fields read from Graph's JSON."""
    location = (item.get("location") or {}).get("displayName") or ""
    reminder = item.get("reminderMinutesBeforeStart") if item.get("isReminderOn") else None
    series: list[Any] = []
    if item.get("recurrence"):  # "OID.<master id>.<local date>" (event.md, cancelledOccurrences)
        series = [sorted({str(o).rsplit(".", 1)[-1] for o in item.get("cancelledOccurrences") or []})]
    return _fingerprint(
        [
            item.get("subject") or "",
            event_time(item, "start").replace(microsecond=0).isoformat(),
            event_time(item, "end").replace(microsecond=0).isoformat(),
            bool(item.get("isAllDay")),
            location,
            sorted(item.get("categories") or []),
            item.get("showAs") or "busy",
            item.get("sensitivity") or "normal",
            reminder,
            bool(item.get("isOnlineMeeting")),
            *series,
        ]
    )


def extended(item: dict[str, Any]) -> dict[str, str]:
    """The expanded extended properties of an event, by id."""
    return {p["id"]: p.get("value", "") for p in item.get("singleValueExtendedProperties") or []}


def observe(item: dict[str, Any], owner: Ownership = DEFAULT_OWNERSHIP) -> ObservedEvent | None:
    """The profile's managed event from Graph JSON (properties expanded); None for anything else."""
    props = extended(item)
    key = props.get(owner.tag_id)
    if not key:
        return None
    content_hash, _, written = props.get(owner.state_id, "").partition(" ")
    start, end = event_time(item, "start"), event_time(item, "end")
    if item.get("recurrence"):  # the window rule looks at a series' span (calsync.domain.series)
        end = max(pattern_span_end(item["recurrence"]) or FOREVER, end)
    return ObservedEvent(
        remote_id=item["id"],
        source_key=SourceKey(key),
        change_key=item.get("changeKey") or "",
        content_hash=content_hash or None,
        start=start,
        end=end,
        user_modified=bool(written) and written != fingerprint_graph(item),
    )
