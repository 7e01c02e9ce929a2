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
"""

from __future__ import annotations

import base64
import html
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from graphemu import ids
from graphemu.errors import GraphError
from graphemu.graph.calendars import check_object, literal_error, unknown_property
from graphemu.graph.eventmodel import html_to_text
from graphemu.odata import extended_property_key
from graphemu.recurrence import RecurrenceError, validate_recurrence
from graphemu.timezones import TimeZoneNotSupported, canonical_name, parse_graph_datetime, resolve, to_output

if TYPE_CHECKING:
    from collections.abc import Callable

    from graphemu.graph.router import Context
    from graphemu.world import Calendar, Event, User

VALIDATION = "At least one property failed validation."
DEFAULT_DURATION = timedelta(minutes=30)
NO_TIME = "0001-01-01T00:00:00Z"
ENUMS: dict[str, tuple[str, ...]] = {
    "importance": ("low", "normal", "high"),
    "sensitivity": ("normal", "personal", "private", "confidential"),
    "freeBusyStatus": ("unknown", "free", "tentative", "busy", "oof", "workingElsewhere"),
    "onlineMeetingProviderType": ("unknown", "skypeForBusiness", "skypeForConsumer", "teamsForBusiness"),
    "attendeeType": ("required", "optional", "resource"),
    "bodyType": ("text", "html"),
    "locationType": ("default", "conferenceRoom", "homeAddress", "businessAddress", "geoCoordinates",
                     "streetAddress", "hotel", "restaurant", "localBusiness", "postalAddress"),
    "locationUniqueIdType": ("unknown", "locationStore", "directory", "private", "bing"),
}  # fmt: skip
READ_ONLY = frozenset({
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "bodyPreview", "hasAttachments", "iCalUId",
    "isCancelled", "isDraft", "isOrganizer", "onlineMeeting", "onlineMeetingUrl", "organizer",
    "originalEndTimeZone", "originalStart", "originalStartTimeZone", "responseStatus", "seriesMasterId",
    "type", "webLink", "cancelledOccurrences", "attachments", "extensions", "multiValueExtendedProperties",
    "calendar", "instances", "exceptionOccurrences",
})  # fmt: skip
_LOCATION_KEYS = ("displayName", "locationType", "uniqueId", "uniqueIdType", "address", "coordinates",
                  "locationEmailAddress", "locationUri")  # fmt: skip
_ADDRESS_KEYS = ("street", "city", "state", "countryOrRegion", "postalCode")
_COORD_KEYS = ("latitude", "longitude", "accuracy", "altitude", "altitudeAccuracy")
_HTML = '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n{}\r\n</body>\r\n</html>\r\n'  # noqa: E501
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


# -- fields ---------------------------------------------------------------------------------------------

_SIMPLE = {
    "isAllDay": "Edm.Boolean", "isReminderOn": "Edm.Boolean", "responseRequested": "Edm.Boolean",
    "allowNewTimeProposals": "Edm.Boolean", "hideAttendees": "Edm.Boolean",
    "reminderMinutesBeforeStart": "Edm.Int32", "importance": "importance", "sensitivity": "sensitivity",
    "showAs": "freeBusyStatus",
}  # fmt: skip


_INT32_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")


def _typed(value: Any, edm: str) -> Any:
    """A primitive of the Edm type named (an Int32 in range, not a bool), else 400 RequestBodyRead.

    A JSON string for a Boolean or Int32 is converted as Graph's OData reader converts it
    (ODataPayloadValueConverter.ConvertStringValue falls back to .NET Convert.ChangeType, so "false",
    "True" and " 15" are accepted): python-o365 sends `"isOnlineMeeting": "false"` with every event.
    """
    if isinstance(value, str) and edm == "Edm.Boolean" and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, str) and edm == "Edm.Int32" and _INT32_TEXT.fullmatch(value):
        value = int(value)
    if edm == "Edm.Int32":
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    else:
        ok = isinstance(value, str if edm == "Edm.String" else bool)
    if not ok:
        raise literal_error(value, edm)
    return value


def _string(value: Any) -> str:
    return "" if value is None else str(_typed(value, "Edm.String"))


def _enum(value: Any, type_name: str) -> str:
    for member in ENUMS[type_name]:
        if isinstance(value, str) and value.lower() == member.lower():
            return member
    raise literal_error(value, f"Microsoft.OutlookServices.{type_name[0].upper()}{type_name[1:]}")


def _list(value: Any, name: str, convert: Callable[[Any], Any]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise literal_error(value, f"Collection({name})")
    return [convert(v) for v in value]


def empty_location() -> dict[str, Any]:
    """The location of an event without one (a fresh object each time)."""
    return {
        "displayName": "",
        "locationType": "default",
        "uniqueIdType": "unknown",
        "address": {},
        "coordinates": {},
    }


def _body(value: Any) -> dict[str, str]:
    """An itemBody as Graph returns it: HTML, wrapped in a document unless it already is one."""
    obj = check_object(value, "ItemBody", ("contentType", "content")) if value is not None else {}
    kind = _enum(obj.get("contentType") or "text", "bodyType")
    content = _string(obj.get("content"))
    if kind == "text" and content:
        content = html.escape(content, quote=False).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    if content and "<html" not in content.lower():
        content = _HTML.format(content)
    return {"contentType": "html", "content": content}


def preview(body: dict[str, str]) -> str:
    """bodyPreview: the body's text, whitespace collapsed, at most 255 characters."""
    return " ".join(html_to_text(body["content"]).split())[:255]


def _place(value: Any, *, entry: bool) -> dict[str, Any]:
    """A location as stored for `location`, or as an item of `locations` (entry; user-post-events.md)."""
    obj = check_object(value, "Location", _LOCATION_KEYS)
    display = _string(obj.get("displayName"))
    out: dict[str, Any] = {"displayName": display, "locationType": _enum(obj.get("locationType") or "default",
                                                                         "locationType")}  # fmt: skip
    for key in ("locationEmailAddress", "locationUri"):
        if obj.get(key) is not None:
            out[key] = _string(obj[key])
    detailed = obj.get("address") is not None or obj.get("coordinates") is not None
    if obj.get("uniqueId") is not None or (display and (detailed or not entry)):
        out["uniqueId"] = _string(obj.get("uniqueId") or display)
    out["uniqueIdType"] = _enum(obj.get("uniqueIdType") or ("private" if "uniqueId" in out else "unknown"),
                                "locationUniqueIdType")  # fmt: skip
    if obj.get("address") is not None:
        out["address"] = check_object(obj["address"], "PhysicalAddress", _ADDRESS_KEYS)
    if obj.get("coordinates") is not None:
        out["coordinates"] = check_object(obj["coordinates"], "OutlookGeoCoordinates", _COORD_KEYS)
    return out if display or detailed or entry else empty_location()


def _attendee(value: Any) -> dict[str, Any]:
    obj = check_object(value, "Attendee", ("emailAddress", "type", "status", "proposedNewTime"))
    email = check_object(obj.get("emailAddress") or {}, "EmailAddress", ("name", "address"))
    address = _string(email.get("address"))
    return {
        "type": _enum(obj.get("type") or "required", "attendeeType"),
        "status": {"response": "none", "time": NO_TIME},
        "emailAddress": {"name": _string(email.get("name")) or address, "address": address},
    }


def _extended(item: Any) -> tuple[str, str | None]:
    obj = check_object(item, "SingleValueLegacyExtendedProperty", ("id", "value"))
    value = obj.get("value")
    return _typed(obj.get("id"), "Edm.String"), None if value is None else _typed(value, "Edm.String")


def _convert(name: str, value: Any) -> Any:
    """A plain property's value in stored form."""
    kind = _SIMPLE.get(name)
    if kind is not None:
        return _enum(value, kind) if kind in ENUMS else _typed(value, kind)
    if name == "location":
        return _place(value, entry=False) if value is not None else empty_location()
    if name == "locations":
        return _list(value, "Microsoft.OutlookServices.Location", lambda x: _place(x, entry=True))
    if name == "attendees":
        return _list(value, "Microsoft.OutlookServices.Attendee", _attendee)
    if name == "categories":
        return _list(value, "Edm.String", lambda x: _typed(x, "Edm.String"))
    return _body(value) if name == "body" else _string(value)


_PLAIN = (*_SIMPLE, "subject", "body", "location", "locations", "attendees", "categories")
_SPECIAL = ("start", "end", "recurrence", "transactionId", "isOnlineMeeting", "onlineMeetingProvider",
            "singleValueExtendedProperties")  # fmt: skip
_NAMES = {n.lower(): n for n in (*_PLAIN, *_SPECIAL, *READ_ONLY)}


def defaults(mailbox: User) -> dict[str, Any]:
    """The props of an event nobody set anything on (values from the user-post-events.md examples)."""
    return {
        "subject": "", "body": {"contentType": "html", "content": ""}, "bodyPreview": "", "isAllDay": False,
        "location": empty_location(), "locations": [], "attendees": [], "categories": [],
        "importance": "normal", "sensitivity": "normal", "showAs": "busy", "isReminderOn": True,
        "reminderMinutesBeforeStart": 15, "responseRequested": True, "allowNewTimeProposals": True,
        "hideAttendees": False, "isOnlineMeeting": False, "onlineMeetingProvider": "unknown",
        "onlineMeeting": None, "recurrence": None,
        "organizer": {"emailAddress": {"name": mailbox.display_name,
                                       "address": mailbox.mail or mailbox.user_principal_name}},
    }  # fmt: skip


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


def apply_extended(extended: dict[str, str], updates: dict[str, str | None]) -> None:
    """Set or (null value) remove extended properties; a property keeps the id it was created with."""
    by_key = {extended_property_key(k): k for k in extended}
    for prop_id, value in updates.items():
        key = extended_property_key(prop_id)
        stored = by_key.setdefault(key, prop_id)
        if value is None:
            extended.pop(stored, None)
            by_key.pop(key)
        else:
            extended[stored] = value


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
