"""Meeting time suggestions: `user: findMeetingTimes` (user-findmeetingtimes.md, findmeetingtimes-example.md,
meetingtimesuggestionsresult.md).

    POST users/{user}/findMeetingTimes   {attendees, timeConstraint, meetingDuration, maxCandidates,
                                          isOrganizerOptional, returnSuggestionReasons,
                                          minimumAttendeePercentage, locationConstraint}
         -> 200 {emptySuggestionsReason, meetingTimeSuggestions: [meetingTimeSuggestion]}

Facts (docs): delegated only: Calendars.Read.Shared or Calendars.ReadWrite.Shared; "Application: Not
supported" (an app-only token is 403 ErrorAccessDenied "Access is denied...", the answer reported in
microsoft-graph-docs#559 and docs-contrib#7902 for a token without the right permission). Every parameter is
optional; the duration defaults to 30 minutes (ISO 8601, e.g. PT1H); activityDomain defaults to work:
Monday-Friday 08:00-17:00 in each mailbox's zone; personal: every day 08:00-17:00; unrestricted: any time.
A suggestion's confidence is the average chance of attendance (free 100, unknown 49, busy 0);
minimumAttendeePercentage defaults to 50; suggestions are ordered by confidence, high to low, then by time;
`suggestionReason` only with returnSuggestionReasons; times in UTC unless Prefer outlook.timezone. The
empty reasons are attendeesUnavailable, attendeesUnavailableOrUnknown, locationsUnavailable,
organizerUnavailable and unknown; emptySuggestionsReason is "" when there are suggestions.

CHOICE: candidates start on the half hour (UTC) and step by 30 minutes within each time slot; a candidate
  must lie inside the working hours of the organizer and of every attendee graphemu knows (work, personal).
CHOICE: tentative counts as available (100) for attendees, as the docs' example suggests times where the
  organizer is tentative; oof counts as busy (0). Resource attendees count like people.
CHOICE: without isOrganizerOptional, a time the organizer is busy or oof is not suggested; when that leaves
  none, the reason is organizerUnavailable. Without a timeConstraint the window is the next 7 days.
CHOICE: maxCandidates defaults to 5 (the docs' example answers five suggestions without it); a required
  location constraint without any location gives locationsUnavailable; no candidate time at all (e.g. a
  weekend with activityDomain work) gives attendeesUnavailable, or attendeesUnavailableOrUnknown when an
  attendee is unknown.
CHOICE: malformed values are 400 RequestBodyRead; a duration not above zero, a percentage outside 0-100,
  a negative maxCandidates or a time slot whose end is not after its start are 400 ErrorInvalidParameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from graphemu.errors import access_denied
from graphemu.graph import eventmodel
from graphemu.graph.calendars import check_object, literal_error
from graphemu.graph.calendarview import Window
from graphemu.graph.eventwrite import read_when
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Router
from graphemu.graph.schedule import STATUS_DIGIT, Busy, busy_items, find_address, invalid
from graphemu.timezones import resolve, to_output
from graphemu.world import User

router = Router()

STEP = timedelta(minutes=30)
DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_CANDIDATES = 5
MAX_STEPS = 10_000  # candidate times examined per request
CHANCE = {"free": 100.0, "tentative": 100.0, "busy": 0.0, "oof": 0.0, "unknown": 49.0}
AVAILABILITY = ("free", "tentative", "busy", "oof")  # by free/busy digit
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
_KEYS = ("attendees", "timeConstraint", "meetingDuration", "maxCandidates", "isOrganizerOptional",
         "returnSuggestionReasons", "minimumAttendeePercentage", "locationConstraint")  # fmt: skip
_ALL_AVAILABLE = "Suggested because it is one of the nearest times when all attendees are available."
_SOME_AVAILABLE = "Suggested because it is one of the nearest times when most attendees are available."


@dataclass
class Person:
    """An attendee (or the organizer): the address, the type, the user if known, and their items."""

    address: str
    type: str
    name: str | None
    user: User | None
    items: list[Busy]

    def status(self, start: datetime, end: datetime) -> str:
        if self.user is None:
            return "unknown"
        digit = max(
            (STATUS_DIGIT.get(i.status, 0) for i in self.items if i.start < end and i.end > start), default=0
        )
        return AVAILABILITY[digit]


def _bool(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):  # the docs' example sends "false"
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise literal_error(value, "Edm.Boolean")
    return value


def _number(value: Any, edm: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)  # the docs' example sends "100"
        except ValueError:
            raise literal_error(value, edm) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise literal_error(value, edm)
    return float(value)


def parse_duration(value: Any) -> timedelta:
    """An Edm.Duration (ISO 8601 `P[nD][T[nH][nM][nS]]`) as a timedelta."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value not in ("P", "PT") else None
    if match is None or value.endswith("T"):
        raise literal_error(value, "Edm.Duration")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _attendees(value: Any) -> list[tuple[str, str, str | None]]:
    if not isinstance(value, list):
        raise literal_error(value, "Collection(Microsoft.OutlookServices.AttendeeBase)")
    out = []
    for raw in value:
        obj = check_object(raw, "AttendeeBase", ("type", "emailAddress"))
        email = check_object(obj.get("emailAddress") or {}, "EmailAddress", ("name", "address"))
        address, kind = email.get("address"), obj.get("type") or "required"
        if not isinstance(address, str) or not address:
            raise invalid("Every attendee needs an emailAddress with an address.")
        if kind not in ("required", "optional", "resource"):
            raise literal_error(kind, "Microsoft.OutlookServices.AttendeeType")
        out.append((address, str(kind), email.get("name")))
    return out


def _time_constraint(ctx: Context, value: Any) -> tuple[str, list[Window]]:
    if value is None:
        now = ctx.world.clock.now().astimezone(UTC)
        return "work", [Window(now, now + DEFAULT_WINDOW)]
    obj = check_object(value, "TimeConstraint", ("activityDomain", "timeSlots"))
    domain = obj.get("activityDomain") or "work"
    if domain not in ("work", "personal", "unrestricted", "unknown"):
        raise literal_error(domain, "Microsoft.OutlookServices.ActivityDomain")
    slots = []
    for raw in obj.get("timeSlots") or []:
        slot = check_object(raw, "TimeSlot", ("start", "end"))
        if slot.get("start") is None or slot.get("end") is None:
            raise invalid("Every time slot needs a start and an end.")
        start, end = read_when(slot["start"])[0], read_when(slot["end"])[0]
        if end <= start:
            raise invalid("A time slot's end must be after its start.")
        slots.append(Window(start, end))
    if not slots:
        now = ctx.world.clock.now().astimezone(UTC)
        slots = [Window(now, now + DEFAULT_WINDOW)]
    return ("work" if domain == "unknown" else str(domain)), slots


def _in_hours(start: datetime, end: datetime, zone: str, domain: str) -> bool:
    """Whether [start, end) lies within one day's 08:00-17:00 in the zone (weekdays only for work)."""
    if domain == "unrestricted":
        return True
    local_start, local_end = start.astimezone(resolve(zone)), end.astimezone(resolve(zone))
    if local_start.date() != local_end.date() or (domain == "work" and local_start.weekday() >= 5):
        return False
    day_start = local_start.replace(hour=8, minute=0, second=0, microsecond=0)
    return day_start <= local_start and local_end <= local_start.replace(
        hour=17, minute=0, second=0, microsecond=0
    )


def _candidates(slots: list[Window], duration: timedelta) -> list[tuple[datetime, datetime]]:
    found: list[tuple[datetime, datetime]] = []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for slot in slots:
        start = epoch + -((epoch - slot.start) // STEP) * STEP  # round up to the half hour
        while start + duration <= slot.end and len(found) < MAX_STEPS:
            found.append((start, start + duration))
            start += STEP
    return found


def _person(ctx: Context, req: GraphRequest, attendee: tuple[str, str, str | None], span: Window) -> Person:
    address, kind, name = attendee
    user = find_address(ctx, req.principal.tenant_id, address)
    if user is None or not user.has_mailbox:
        return Person(address, kind, name, None, [])
    return Person(address, kind, name, user, busy_items(ctx, req, user, span))


def _slot_json(start: datetime, end: datetime, zone: str | None) -> dict[str, Any]:
    def when(moment: datetime) -> dict[str, str]:
        text, name = to_output(moment, zone)
        return {"dateTime": text, "timeZone": name}

    return {"start": when(start), "end": when(end)}


def _number_json(value: float) -> float | int:
    return int(value) if value == int(value) else round(value, 2)


@dataclass
class Query:
    """A findMeetingTimes body, checked and with its defaults applied."""

    attendees: list[tuple[str, str, str | None]]
    duration: timedelta
    wanted: int
    minimum: float
    organizer_optional: bool
    reasons: bool
    domain: str
    slots: list[Window]
    places: list[dict[str, str]]
    location_required: bool


def parse_query(ctx: Context, body: Any) -> Query:
    obj = check_object(body if body is not None else {}, "FindMeetingTimesRequest", _KEYS)
    duration = parse_duration(obj["meetingDuration"]) if obj.get("meetingDuration") is not None else STEP
    if duration <= timedelta(0):
        raise invalid("meetingDuration must be longer than zero.")
    wanted = _number(obj.get("maxCandidates", DEFAULT_CANDIDATES), "Edm.Int32")
    minimum = _number(obj.get("minimumAttendeePercentage", 50), "Edm.Double")
    if wanted < 0 or wanted != int(wanted):
        raise invalid("maxCandidates must be a non-negative integer.")
    if not 0 <= minimum <= 100:
        raise invalid("minimumAttendeePercentage must be between 0 and 100.")
    domain, slots = _time_constraint(ctx, obj.get("timeConstraint"))
    location = check_object(
        obj.get("locationConstraint") or {},
        "LocationConstraint",
        ("isRequired", "suggestLocation", "locations"),
    )
    places = [
        {"displayName": str((p or {}).get("displayName") or "")} for p in location.get("locations") or []
    ]
    return Query(
        attendees=_attendees(obj.get("attendees") or []),
        duration=duration,
        wanted=int(wanted),
        minimum=minimum,
        organizer_optional=_bool(obj.get("isOrganizerOptional", False)),
        reasons=_bool(obj.get("returnSuggestionReasons", False)),
        domain=domain,
        slots=slots,
        places=places,
        location_required=bool(location.get("isRequired")) and not location.get("suggestLocation"),
    )


def suggest(query: Query, organizer: Person, people: list[Person], zone: str | None) -> dict[str, Any]:
    """The meetingTimeSuggestionsResult for the people's items (without @odata.context)."""
    zones = [p.user.time_zone for p in (organizer, *people) if p.user is not None]
    times = [
        c
        for c in _candidates(query.slots, query.duration)
        if all(_in_hours(*c, z, query.domain) for z in zones)
    ]
    found: list[tuple[float, datetime, dict[str, Any]]] = []
    organizer_blocked = 0
    for start, end in times:
        own = organizer.status(start, end)
        if not query.organizer_optional and own in ("busy", "oof"):
            organizer_blocked += 1
            continue
        statuses = [p.status(start, end) for p in people]
        confidence = sum(CHANCE[s] for s in statuses) / len(statuses) if statuses else 100.0
        if confidence < query.minimum:
            continue
        item: dict[str, Any] = {
            "confidence": _number_json(confidence),
            "order": 0,
            "organizerAvailability": own,
        }
        if query.reasons:
            item["suggestionReason"] = _ALL_AVAILABLE if confidence == 100 else _SOME_AVAILABLE
        item["attendeeAvailability"] = [
            {"attendee": {"type": p.type, "emailAddress": {"address": p.address}}, "availability": s}
            for p, s in zip(people, statuses, strict=True)
        ]
        item["locations"] = query.places
        item["meetingTimeSlot"] = _slot_json(start, end, zone)
        found.append((confidence, start, item))
    found.sort(key=lambda s: (-s[0], s[1]))
    chosen = [item for _, _, item in found[: query.wanted]]
    for order, item in enumerate(chosen, start=1):
        item["order"] = order
    reason = ""
    if query.location_required and not query.places:
        chosen, reason = [], "locationsUnavailable"
    elif not chosen:
        if times and organizer_blocked == len(times):
            reason = "organizerUnavailable"
        elif any(p.user is None for p in people):
            reason = "attendeesUnavailableOrUnknown"
        else:
            reason = "attendeesUnavailable"
    return {"emptySuggestionsReason": reason, "meetingTimeSuggestions": chosen}


@router.route("POST", "users/{user}/findMeetingTimes()", permission="Calendars.Read.Shared")
def find_meeting_times(ctx: Context, req: GraphRequest, mailbox: User) -> GraphResponse:
    if not req.principal.delegated:
        raise access_denied()
    query = parse_query(ctx, req.body)
    span = Window(min(s.start for s in query.slots), max(s.end for s in query.slots))
    people = [_person(ctx, req, (a, k, n), span) for a, k, n in query.attendees]
    organizer = Person(
        mailbox.user_principal_name, "required", None, mailbox, busy_items(ctx, req, mailbox, span)
    )
    zone = eventmodel.output_zone(req)
    body = {
        "@odata.context": ctx.context_url("microsoft.graph.meetingTimeSuggestionsResult"),
        **suggest(query, organizer, people, zone),
    }
    headers = {"Preference-Applied": f'outlook.timezone="{zone}"'} if zone else {}
    return GraphResponse(200, body, headers)
