"""Free/busy: `calendar: getSchedule` (calendar-getschedule.md, outlook-get-free-busy-schedule.md).

    POST users/{user}/calendar/getSchedule     {schedules, startTime, endTime, availabilityViewInterval}
         -> 200 {"value": [scheduleInformation]}, one per address, in the order asked

Facts (docs): permission Calendars.Read or Calendars.ReadWrite, delegated or application; the body's
`availabilityViewInterval` is minutes per slot, default 30, minimum 5, maximum 1440; `startTime`/`endTime`
are dateTimeTimeZone; the answer's times are in UTC unless `Prefer: outlook.timezone` names a zone (then it
is echoed in Preference-Applied). scheduleInformation = {scheduleId, availabilityView, scheduleItems,
workingHours, error}; each availabilityView character is one slot: 0 free or working elsewhere, 1
tentative, 2 busy, 3 out of office (scheduleinformation.md). scheduleItem = {status, isPrivate, subject,
location, start, end} with status a freeBusyStatus (free, tentative, busy, oof, workingElsewhere, unknown).

What a schedule is made of: the default calendar of the mailbox the address names (by userPrincipalName or
mail, in the caller's tenant), expanded like calendarView (series into occurrences, exceptions applied).

CHOICE: a slot's digit is the highest status of the items overlapping it (oof 3 > busy 2 > tentative 1 >
  free 0); an item overlaps a slot when it starts before the slot ends and ends after it starts. The last
  slot is cut at endTime when the window is not a whole number of slots. `unknown` counts as free (0).
CHOICE: cancelled events are not items; free and workingElsewhere items are listed (they make no digit).
CHOICE: a private item (sensitivity private) carries isPrivate true and neither subject nor location.
CHOICE: an address graphemu cannot resolve, or a user without a mailbox, gets an entry with an empty view
  and `error: {message, responseCode: "ErrorMailRecipientNotFound"}` (freeBusyError); an application outside
  its access policy for that mailbox gets responseCode "ErrorAccessDenied". The call itself still succeeds.
CHOICE: workingHours are the Outlook defaults (Monday-Friday 08:00-17:00) in the mailbox's time zone.
CHOICE: 400 ErrorInvalidParameter for a missing or empty `schedules`, more than 100 of them, a missing
  start or end, an end not after the start, a window over 62 days, or an interval outside 5-1440; type
  errors are 400 RequestBodyRead like every body graphemu reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from graphemu.errors import GraphError
from graphemu.graph import eventmodel
from graphemu.graph.calendars import check_object, literal_error
from graphemu.graph.calendarview import Window, view
from graphemu.graph.eventwrite import read_when
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Router
from graphemu.timezones import to_output
from graphemu.world import User

router = Router()

STATUS_DIGIT = {"free": 0, "workingElsewhere": 0, "unknown": 0, "tentative": 1, "busy": 2, "oof": 3}
MAX_SCHEDULES = 100
MAX_WINDOW = timedelta(days=62)
WORK_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
WORK_START, WORK_END = "08:00:00.0000000", "17:00:00.0000000"
_KEYS = ("schedules", "startTime", "endTime", "availabilityViewInterval")


class Busy(NamedTuple):
    """One item of a schedule: an instance of the mailbox's default calendar, as free/busy sees it."""

    start: datetime
    end: datetime
    status: str
    subject: str
    location: str
    private: bool


def invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidParameter", message)


def find_address(ctx: Context, tenant_id: str, address: str) -> User | None:
    """A tenant's user by userPrincipalName, mail or id (case-insensitive), as free/busy resolves SMTP."""
    user = ctx.world.find_user(address, tenant_id)
    if user is not None:
        return user
    lowered = address.lower()
    return next(
        (
            u
            for u in ctx.world.users.values()
            if u.tenant_id == tenant_id and (u.mail or "").lower() == lowered
        ),
        None,
    )


def busy_items(ctx: Context, req: GraphRequest, user: User, window: Window) -> list[Busy]:
    """The not-cancelled instances of the user's default calendar overlapping the window, by start."""
    calendar = ctx.world.default_calendar(user.id)
    events = ctx.world.events.get(user.id, {})
    found: list[Busy] = []
    for item in view(ctx, user.id, calendar.id, window):
        body = eventmodel.event_json(ctx, events[item.event_id], req, occurrence_start=item.original)
        if body.get("isCancelled"):
            continue
        location = (body.get("location") or {}).get("displayName") or ""
        found.append(
            Busy(
                item.start,
                item.end,
                str(body.get("showAs") or "busy"),
                str(body.get("subject") or ""),
                location,
                body.get("sensitivity") == "private",
            )
        )
    return found


def availability_view(items: Iterable[Busy], window: Window, interval: timedelta) -> str:
    """One digit per slot of `interval` from the window's start: the highest status overlapping it."""
    slots = math.ceil((window.end - window.start) / interval)
    digits = [0] * slots
    for item in items:
        digit = STATUS_DIGIT.get(item.status, 0)
        if digit == 0 or item.end <= window.start or item.start >= window.end:
            continue
        first = max(0, (item.start - window.start) // interval)
        last = min(slots, math.ceil((item.end - window.start) / interval))
        for slot in range(first, last):
            digits[slot] = max(digits[slot], digit)
    return "".join(map(str, digits))


def _when(moment: datetime, zone: str | None) -> dict[str, str]:
    text, name = to_output(moment, zone)
    return {"dateTime": text, "timeZone": name}


def _item_json(item: Busy, zone: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"isPrivate": item.private, "status": item.status}
    if not item.private:
        out["subject"] = item.subject
        out["location"] = item.location
    out["start"], out["end"] = _when(item.start, zone), _when(item.end, zone)
    return out


def _interval(value: Any) -> timedelta:
    if value is None:
        return timedelta(minutes=30)
    if isinstance(value, str) and value.strip().isdigit():  # the how-to guide sends "15"
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise literal_error(value, "Edm.Int32")
    if not 5 <= value <= 1440:
        raise invalid("availabilityViewInterval must be between 5 and 1440 minutes.")
    return timedelta(minutes=value)


def _schedules(value: Any) -> list[str]:
    if value is None or value == []:
        raise invalid("The 'schedules' parameter must name at least one address.")
    if not isinstance(value, list):
        raise literal_error(value, "Collection(Edm.String)")
    for address in value:
        if not isinstance(address, str):
            raise literal_error(address, "Edm.String")
    if len(value) > MAX_SCHEDULES:
        raise invalid(f"At most {MAX_SCHEDULES} schedules can be requested at once.")
    return value


def parse_body(body: Any) -> tuple[list[str], Window, timedelta]:
    """The addresses, the window (UTC) and the slot length of a getSchedule body."""
    if body is None:
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    obj = check_object(body, "GetScheduleRequest", _KEYS)
    schedules = _schedules(obj.get("schedules"))
    if obj.get("startTime") is None or obj.get("endTime") is None:
        raise invalid("Both 'startTime' and 'endTime' are required.")
    start, end = read_when(obj["startTime"])[0], read_when(obj["endTime"])[0]
    if end <= start:
        raise invalid("The 'endTime' must be after the 'startTime'.")
    if end - start > MAX_WINDOW:
        raise invalid("The requested time window exceeds the maximum of 62 days.")
    return schedules, Window(start, end), _interval(obj.get("availabilityViewInterval"))


def _failed(address: str, code: str, message: str) -> dict[str, Any]:
    return {
        "scheduleId": address,
        "availabilityView": "",
        "scheduleItems": [],
        "error": {"message": message, "responseCode": code},
    }


def schedule_information(
    ctx: Context, req: GraphRequest, address: str, window: Window, interval: timedelta
) -> dict[str, Any]:
    """One scheduleInformation: the address's items, its view and working hours, or its error."""
    user = find_address(ctx, req.principal.tenant_id, address)
    if user is None or not user.has_mailbox:
        return _failed(address, "ErrorMailRecipientNotFound", f"The mailbox '{address}' could not be found.")
    if not req.principal.delegated and not ctx.world.app_may_access(req.principal.client_id, user.id):
        return _failed(address, "ErrorAccessDenied", "Access to OData is disabled.")
    items = busy_items(ctx, req, user, window)
    zone = eventmodel.output_zone(req)
    return {
        "scheduleId": address,
        "availabilityView": availability_view(items, window, interval),
        "scheduleItems": [_item_json(i, zone) for i in items],
        "workingHours": working_hours(user),
    }


def working_hours(user: User) -> dict[str, Any]:
    return {
        "daysOfWeek": list(WORK_DAYS),
        "startTime": WORK_START,
        "endTime": WORK_END,
        "timeZone": {"name": user.time_zone},
    }


@router.route("POST", "users/{user}/calendar/getSchedule()", permission="Calendars.Read")
def get_schedule(ctx: Context, req: GraphRequest, mailbox: User) -> GraphResponse:
    schedules, window, interval = parse_body(req.body)
    zone = eventmodel.output_zone(req)
    values: Sequence[dict[str, Any]] = [
        schedule_information(ctx, req, address, window, interval) for address in schedules
    ]
    body = {
        "@odata.context": ctx.context_url("Collection(microsoft.graph.scheduleInformation)"),
        "value": list(values),
    }
    headers = {"Preference-Applied": f'outlook.timezone="{zone}"'} if zone else {}
    return GraphResponse(200, body, headers)
