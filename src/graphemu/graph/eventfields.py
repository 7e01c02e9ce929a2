"""Event body converters: each plain property of a client's event JSON, type-checked, in stored form.

Split from `graphemu.graph.eventwrite` so the per-property conversions (Edm primitives, enums, itemBody as
HTML, location/locations, attendees, extended properties) and the default props of a new event live apart
from the request-level flow (start/end, online meetings, create and update). The CHOICEs they implement
are listed in the `graphemu.graph.eventwrite` module doc.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from graphemu.graph.calendars import check_object, literal_error
from graphemu.graph.eventmodel import html_to_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from graphemu.world import User

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
