"""Event writes: read a client's event JSON, validate and normalise it, create or update the stored Event.

Public API: `create_event`, `update_event` (both also reachable as `graphemu.graph.eventmodel.*`), and for
the occurrence writes in `graphemu.graph.events`: `read_changes`, `apply_times`, `sync_locations`,
`empty_location`. `Event.props` is kept in Graph's output shape (location/locations synced, body as HTML,
enums canonical, organizer included); start/end keep the zone the client gave, `start_utc`/`end_utc` are the
instants.

Errors follow graph-facts §9/§12 and observed answers: an unknown property is 400 RequestBodyRead "The
property 'x' does not exist on type 'Microsoft.OutlookServices.Event'. ..." (msgraph-sdk-dotnet#450,
msgraph-sdk-javascript#212); an unsupported zone is 400 TimeZoneNotSupportedException; end before start, a
non-midnight or zone-mixing all-day event and an unparsable dateTime are 400 ErrorPropertyValidationFailure
"At least one property failed validation." (microsoft-graph-docs#7919; event.md on isAllDay).
CHOICE: a missing start or end is filled in, not refused, as the service does (Softeria/ms-365-mcp-server#241:
  start "defaults to now"; vgrem/phpSPO#77): start = now to the minute (UTC), end = start + 30 minutes.
CHOICE: a dateTimeTimeZone without timeZone is UTC; a date-only dateTime is midnight
  (microsoft-graph-docs#6129).
CHOICE: read-only properties in a body (id, changeKey, organizer, type, ...) are ignored; the navigations
  attachments/extensions/multiValueExtendedProperties are accepted and not stored. Names match
  case-insensitively, enum values too (the docs send "Required", "HTML").
CHOICE: isOnlineMeeting (or a provider) where the calendar's allowedOnlineMeetingProviders lacks the provider
  leaves the event offline instead of failing; once online, it stays online (event.md).
CHOICE: changing transactionId after creation is 400 ErrorInvalidRequest (event.md: it "cannot" change).
CHOICE: changing a master's start, end or recurrence drops its exceptions and cancellations (Outlook does).

The per-property converters and the defaults of a new event are in `graphemu.graph.eventfields` (re-exported
here: `empty_location`, `preview`, `defaults`, `ENUMS`, `READ_ONLY`, `NO_TIME`).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graphemu import ids
from graphemu.errors import GraphError
from graphemu.graph.calendars import check_object, literal_error, unknown_property
from graphemu.graph.eventfields import (
    _NAMES,
    _PLAIN,
    _SIMPLE,
    ENUMS,
    NO_TIME,
    READ_ONLY,
    _convert,
    _enum,
    _extended,
    _list,
    _string,
    _typed,
    defaults,
    empty_location,
    preview,
)
from graphemu.graph.eventmodel import apply_extended
from graphemu.recurrence import RecurrenceError, validate_recurrence
from graphemu.timezones import TimeZoneNotSupported, canonical_name, parse_graph_datetime, resolve, to_output

if TYPE_CHECKING:
    from graphemu.graph.router import Context
    from graphemu.world import Calendar, Event, User

__all__ = [
    "DEFAULT_DURATION",
    "ENUMS",
    "NO_TIME",
    "READ_ONLY",
    "VALIDATION",
    "Changes",
    "apply_extended",
    "apply_times",
    "create_event",
    "defaults",
    "empty_location",
    "new_ical_uid",
    "preview",
    "read_changes",
    "sync_locations",
    "update_event",
]

VALIDATION = "At least one property failed validation."
DEFAULT_DURATION = timedelta(minutes=30)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


# -- a request body -------------------------------------------------------------------------------------


@dataclass
class Changes:
    """What a request body asks for, converted; `props` holds plain property values in stored form."""

    props: dict[str, Any] = field(default_factory=dict)
    start: tuple[datetime, str] | None = None
    end: tuple[datetime, str] | None = None
    extended: dict[str, str | None] = field(default_factory=dict)
    transaction_id: str | None = None
    online: bool | None = None
    provider: str | None = None


def _validation() -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", VALIDATION)


def _zone(name: Any) -> str:
    try:
        return canonical_name(name)
    except TimeZoneNotSupported as exc:
        raise GraphError(400, "TimeZoneNotSupportedException", str(exc)) from None


def _when(raw: Any) -> tuple[datetime, str]:
    """A client's dateTimeTimeZone as (UTC instant, canonical zone name)."""
    obj = check_object(raw, "DateTimeTimeZone", ("dateTime", "timeZone"))
    name = _zone(obj.get("timeZone") or "UTC")
    value = obj.get("dateTime")
    if not isinstance(value, str):
        raise literal_error(value, "Edm.String")
    if _DATE_ONLY.fullmatch(value):
        value += "T00:00:00"
    try:
        return parse_graph_datetime(value, name), name
    except ValueError:
        raise _validation() from None


read_when = _when  # public: getSchedule and findMeetingTimes read dateTimeTimeZone values the same way


def read_changes(body: Any, *, occurrence: bool) -> Changes:
    """Type-check and convert every property of a request body (an occurrence cannot take recurrence)."""
    if body is None:
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    if not isinstance(body, dict):
        raise literal_error(body, "Microsoft.OutlookServices.Event")
    changes = Changes()
    for key, value in body.items():
        name = _NAMES.get(key.lower())
        if "@" in key or name in READ_ONLY:
            continue
        if name is None or (occurrence and name in ("recurrence", "transactionId")):
            raise unknown_property(key, "Event") if name is None else _validation()
        if name in ("start", "end"):
            setattr(changes, name, _when(value))
        elif name == "singleValueExtendedProperties":
            changes.extended.update(
                _list(value, "Microsoft.OutlookServices.SingleValueLegacyExtendedProperty", _extended)
            )
        elif name == "transactionId":
            changes.transaction_id = _string(value) or None
        elif name == "recurrence":
            try:
                changes.props[name] = validate_recurrence(value) if value is not None else None
            except RecurrenceError as exc:
                raise GraphError(400, exc.code, exc.message) from None
        elif name == "isOnlineMeeting" and value is not None:
            changes.online = _typed(value, "Edm.Boolean")
        elif name == "onlineMeetingProvider" and value is not None:
            changes.provider = _enum(value, "onlineMeetingProviderType")
        elif name in _PLAIN and (value is not None or name not in _SIMPLE):
            changes.props[name] = _convert(name, value)
    return changes


def apply_times(
    props: dict[str, Any], changes: Changes, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """Merge new start/end into props (and the body preview), then check order and the all-day rules."""
    start_zone = props["start"]["timeZone"] if "start" in props else "UTC"
    end_zone = props["end"]["timeZone"] if "end" in props else "UTC"
    start, start_zone = changes.start or (start, start_zone)
    end, end_zone = changes.end or (end, end_zone)
    if end < start:
        raise _validation()
    props["start"] = {"dateTime": to_output(start, start_zone)[0], "timeZone": start_zone}
    props["end"] = {"dateTime": to_output(end, end_zone)[0], "timeZone": end_zone}
    props["originalStartTimeZone"], props["originalEndTimeZone"] = start_zone, end_zone
    if "body" in changes.props:
        props["bodyPreview"] = preview(props["body"])
    if props.get("isAllDay"):
        local_start, local_end = start.astimezone(resolve(start_zone)), end.astimezone(resolve(end_zone))
        midnight = all(t.hour == t.minute == t.second == t.microsecond == 0 for t in (local_start, local_end))
        if not midnight or start_zone != end_zone or local_end.date() <= local_start.date():
            raise _validation()
    recurrence = props.get("recurrence")
    if recurrence is not None:  # a copy: props may share the stored master's recurrence
        zone = recurrence["range"]["recurrenceTimeZone"]
        zone = start_zone if zone is None else _zone(zone)
        props["recurrence"] = {**recurrence, "range": {**recurrence["range"], "recurrenceTimeZone": zone}}
    return start, end


def sync_locations(props: dict[str, Any], changes: Changes) -> None:
    """Keep location and locations in step (event.md): a new location replaces all locations."""
    one, many = "location" in changes.props, "locations" in changes.props
    if one and not many:
        location = props["location"]
        entry = {k: v for k, v in location.items() if k not in ("uniqueId", "uniqueIdType")}
        entry["uniqueIdType"] = "unknown"
        props["locations"] = [entry] if location["displayName"] else []
    elif many and not one:
        names = "; ".join(loc["displayName"] for loc in props["locations"] if loc["displayName"])
        props["location"] = (
            {"displayName": names, "locationType": "default", "uniqueId": names, "uniqueIdType": "private"}
            if names
            else empty_location()
        )


def _online_meeting(ctx: Context, props: dict[str, Any], changes: Changes, calendar: Calendar) -> None:
    """Initialise onlineMeeting once isOnlineMeeting or a provider is set (event.md); it never turns off."""
    if props.get("onlineMeeting") is not None:
        return
    wanted = changes.online is True or (changes.online is None and changes.provider not in (None, "unknown"))
    provider = changes.provider if changes.provider not in (None, "unknown") else None
    provider = provider or calendar.default_online_meeting_provider
    if not wanted or provider == "unknown" or provider not in calendar.allowed_online_meeting_providers:
        props.update(isOnlineMeeting=False, onlineMeetingProvider="unknown", onlineMeeting=None)
        return
    user = ctx.world.users.get(calendar.owner_id)
    token = base64.urlsafe_b64encode(secrets.token_bytes(36)).decode().rstrip("=")
    url = (
        f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{token}%40thread.v2/0?context=%7b%22Tid%22"
        f"%3a%22{user.tenant_id if user else ''}%22%2c%22Oid%22%3a%22{calendar.owner_id}%22%7d"
        if provider == "teamsForBusiness"
        else f"https://join.skype.com/{token[:12]}"
    )
    meeting = {"joinUrl": url, "conferenceId": str(secrets.randbelow(900_000_000) + 100_000_000)}
    props.update(isOnlineMeeting=True, onlineMeetingProvider=provider, onlineMeeting=meeting)


def new_ical_uid(now: datetime) -> str:
    """An iCalUId shaped like Exchange's: class id, zero instance date, FILETIME, then a random GUID."""
    filetime = (now - datetime(1601, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10
    return (
        "040000008200E00074C5B7101A82E00800000000" + filetime.to_bytes(8, "little").hex().upper()
        + "0000000000000000" + "10000000" + secrets.token_hex(16).upper()
    )  # fmt: skip


# -- create and update ----------------------------------------------------------------------------------


def create_event(ctx: Context, mailbox: User, calendar: Calendar, body: Any) -> Event:
    """Validate a new event's JSON, store it in `calendar` and log the change. Raises GraphError."""
    from graphemu.world import Event

    changes = read_changes(body, occurrence=False)
    now = ctx.world.clock.now()
    props = defaults(mailbox)
    props.update(changes.props)
    start = now.replace(second=0, microsecond=0)
    if changes.start is None and changes.end is not None:
        start = min(start, changes.end[0])
    start = changes.start[0] if changes.start else start
    start, end = apply_times(props, changes, start, start + DEFAULT_DURATION)
    sync_locations(props, changes)
    _online_meeting(ctx, props, changes, calendar)
    event = Event(
        id=ids.exchange_id(), owner_id=mailbox.id, calendar_id=calendar.id, props=props, start_utc=start,
        end_utc=end, created=now, modified=now, transaction_id=changes.transaction_id,
        ical_uid=new_ical_uid(now),
    )  # fmt: skip
    apply_extended(event.extended, changes.extended)
    return ctx.world.put_event(event, "created")


def update_event(ctx: Context, event: Event, body: Any) -> Event:
    """Apply a PATCH body to a single instance or series master, store it (new changeKey) and log it."""
    changes = read_changes(body, occurrence=False)
    if changes.transaction_id is not None and changes.transaction_id != event.transaction_id:
        raise GraphError(400, "ErrorInvalidRequest", "The transactionId of an event cannot be changed.")
    props = {**event.props, **changes.props}
    start, end = apply_times(props, changes, event.start_utc, event.end_utc)
    sync_locations(props, changes)
    _online_meeting(ctx, props, changes, ctx.world.calendars[event.owner_id][event.calendar_id])
    if (start, end) != (event.start_utc, event.end_utc) or "recurrence" in changes.props:
        event.overrides.clear()
        event.cancelled.clear()
    event.props, event.start_utc, event.end_utc = props, start, end
    apply_extended(event.extended, changes.extended)
    return ctx.world.put_event(event, "updated")
