"""The connector routes of `/v1` beside Cronofy's: calendars create/update/delete, a series' occurrences,
free/busy and meeting times. Each is one use case of calsync.services.connector; this module only maps
ids (profile_id, calendar_id from calsync.services.unified_ids) to mailboxes and Graph ids, and answers.

Scopes: `write` to create, change or delete a calendar; `read` for the rest (they change nothing).
Errors: the use case's InvalidInput and Graph's refusals a caller can fix are 422 with the field named; an
unknown profile, calendar or series is 404; findMeetingTimes on an application-permission profile is 422
`errors.delegated_only` (Graph offers it only to a signed-in user).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime

from calsync.services import connector
from calsync.services.api_keys import ApiPrincipal
from calsync.services.unified import PROVIDER_NAME, NotFoundError, UnifiedApi, UnifiedApiOps
from calsync.services.unified_calendars import TEAMS, CalendarInfo
from calsync.web.api.auth import require_scope
from calsync.web.api.connector_models import (
    CalendarAnswer,
    CreateCalendar,
    FreeBusyAnswer,
    FreeBusyQuery,
    MeetingTimesAnswer,
    MeetingTimesQuery,
    OccurrencesAnswer,
    UpdateCalendar,
)
from calsync.web.api.errors import ApiError, responses

Reader = Annotated[ApiPrincipal, Depends(require_scope("read"))]
Writer = Annotated[ApiPrincipal, Depends(require_scope("write"))]
CalendarId = Annotated[str, Path(description="A calendar_id from GET /v1/calendars.", max_length=2000)]


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(422, "tzid", "errors.invalid", f"unknown time zone {tzid!r} (an IANA name)") from None


def _local(value: dict[str, Any] | None, zone: ZoneInfo) -> str:
    """Graph's UTC dateTimeTimeZone as ISO 8601 in `zone`, to the second."""
    text = str((value or {}).get("dateTime", ""))[:19]
    return datetime.fromisoformat(text).replace(tzinfo=UTC).astimezone(zone).isoformat()


def _info(mailbox: str, item: dict[str, Any]) -> CalendarInfo:
    return CalendarInfo(
        mailbox=mailbox,
        graph_id=str(item["id"]),
        name=str(item.get("name") or ""),
        can_edit=bool(item.get("canEdit", True)),
        primary=bool(item.get("isDefaultCalendar", False)),
        teams=TEAMS in (item.get("allowedOnlineMeetingProviders") or []),
    )


def _invalid(field: str, exc: Exception) -> ApiError:
    return ApiError(422, field, "errors.invalid", str(exc))


def connector_routes(api: UnifiedApi, ops: UnifiedApiOps) -> APIRouter:
    """The routes (include them in the `/v1` router)."""
    router = APIRouter(responses=responses(401, 403, 422, 502, 503))
    _calendar_routes(router, api, ops)
    _availability_routes(router, api, ops)
    return router


async def _mailbox_of(api: UnifiedApi, profile: str) -> str:
    try:
        return (await api.connection_of_profile(profile)).mailbox
    except NotFoundError as exc:
        raise ApiError(404, "profile_id", "errors.not_found", str(exc)) from None


async def _calendar_of(ops: UnifiedApiOps, cid: str) -> CalendarInfo:
    try:
        return await ops.calendar(cid)
    except NotFoundError as exc:
        raise ApiError(404, "calendar_id", "errors.not_found", str(exc)) from None


def _calendar_routes(router: APIRouter, api: UnifiedApi, ops: UnifiedApiOps) -> None:
    deployment = api.deployment

    @router.post("/calendars", status_code=201, response_model=CalendarAnswer, operation_id="createCalendar",
                 tags=["calendars"], responses=responses(404))  # fmt: skip
    async def create_calendar(principal: Writer, body: CreateCalendar) -> dict[str, Any]:
        """Create a calendar in a profile's mailbox (422 `errors.taken` when the name is in use)."""
        from calsync.graph import Conflict

        mailbox = await _mailbox_of(api, body.profile_id)
        graph = await deployment.graph()
        try:
            made = await connector.create_calendar(graph, mailbox, body.name, body.color)
        except connector.InvalidInput as exc:
            raise _invalid("name", exc) from None
        except Conflict:
            raise ApiError(422, "name", "errors.taken", "the mailbox has a calendar of this name") from None
        await ops.book.calendars(graph, mailbox, fresh=True)
        return {"calendar": _info(mailbox, made).as_api(PROVIDER_NAME, mailbox)}

    @router.patch("/calendars/{calendar_id}", response_model=CalendarAnswer, operation_id="updateCalendar",
                  tags=["calendars"], responses=responses(404))  # fmt: skip
    async def update_calendar(
        principal: Writer, calendar_id: CalendarId, body: UpdateCalendar
    ) -> dict[str, Any]:
        """Rename or recolour a calendar."""
        from calsync.graph import Conflict

        info = await _calendar_of(ops, calendar_id)
        graph = await deployment.graph()
        try:
            changed = await connector.update_calendar(
                graph, info.mailbox, info.graph_id, name=body.name, color=body.color
            )
        except connector.InvalidInput as exc:
            raise _invalid("name", exc) from None
        except Conflict:
            raise ApiError(422, "name", "errors.taken", "the mailbox has a calendar of this name") from None
        await ops.book.calendars(graph, info.mailbox, fresh=True)
        return {"calendar": _info(info.mailbox, changed).as_api(PROVIDER_NAME, info.mailbox)}

    deleted = {202: {"description": "Deleted, with its events."}, **responses(404)}

    @router.delete("/calendars/{calendar_id}", status_code=202, response_class=Response,
                   operation_id="deleteCalendar", tags=["calendars"], responses=deleted)  # fmt: skip
    async def delete_calendar(principal: Writer, calendar_id: CalendarId) -> Response:
        """Delete a calendar and its events (the mailbox's default calendar cannot be deleted: 422)."""
        info = await _calendar_of(ops, calendar_id)
        graph = await deployment.graph()
        try:
            await connector.delete_calendar(graph, info.mailbox, info.graph_id)
        except connector.InvalidInput as exc:
            raise _invalid("calendar_id", exc) from None
        await ops.book.calendars(graph, info.mailbox, fresh=True)
        return Response(status_code=202)


def _availability_routes(router: APIRouter, api: UnifiedApi, ops: UnifiedApiOps) -> None:
    deployment = api.deployment

    @router.get("/calendars/{calendar_id}/events/{event_uid}/occurrences", response_model=OccurrencesAnswer,
                operation_id="listOccurrences", tags=["events"], responses=responses(404))  # fmt: skip
    async def occurrences(
        *,
        principal: Reader,
        calendar_id: CalendarId,
        event_uid: Annotated[str, Path(max_length=2000, description="The series' event_uid (iCalUId).")],
        from_: Annotated[AwareDatetime, Query(alias="from", description="Start, ISO 8601 with an offset.")],
        to: Annotated[AwareDatetime, Query(description="End, ISO 8601 with an offset.")],
        tzid: Annotated[
            str, Query(max_length=64, description="IANA zone of the answer's times.")
        ] = "Etc/UTC",
        limit: Annotated[int, Query(ge=1, le=1000)] = 250,
    ) -> dict[str, Any]:
        """The occurrences of a recurring event in [from, to), moved ones (exceptions) included."""
        zone = _zone(tzid)
        info = await _calendar_of(ops, calendar_id)
        graph = await deployment.graph()
        try:
            master = await connector.series_by_uid(graph, info.mailbox, info.graph_id, event_uid)
            if master is None:
                raise ApiError(404, "event_uid", "errors.not_found", "no event with this uid in the calendar")
            found = await connector.occurrences(graph, info.mailbox, master["id"], from_, to, limit=limit)
        except connector.InvalidInput as exc:
            raise _invalid("from", exc) from None
        return {"occurrences": [_occurrence(o, zone) for o in found]}

    @router.post("/free_busy", response_model=FreeBusyAnswer, response_model_exclude_none=True,
                 operation_id="freeBusy", tags=["availability"], responses=responses(404))  # fmt: skip
    async def free_busy(principal: Reader, body: FreeBusyQuery) -> dict[str, Any]:
        """Free/busy of people, rooms or equipment of the profile's organisation (Graph's getSchedule)."""
        zone = _zone(body.tzid)
        mailbox = await _mailbox_of(api, body.profile_id)
        try:
            found = await connector.free_busy(
                await deployment.graph(), mailbox, body.emails, body.from_, body.to,
                interval_minutes=body.interval_minutes,
            )  # fmt: skip
        except connector.InvalidInput as exc:
            raise _invalid("emails" if "address" in str(exc) else "to", exc) from None
        return {"schedules": [_schedule(s, zone) for s in found]}

    @router.post("/meeting_times", response_model=MeetingTimesAnswer, operation_id="meetingTimes",
                 tags=["availability"], responses=responses(404))  # fmt: skip
    async def meeting_times(principal: Reader, body: MeetingTimesQuery) -> dict[str, Any]:
        """Meeting time suggestions with the profile's mailbox as organizer (Graph's findMeetingTimes).
        Graph offers this only to delegated (signed-in) connections: 422 errors.delegated_only otherwise."""
        from datetime import timedelta

        zone = _zone(body.tzid)
        mailbox = await _mailbox_of(api, body.profile_id)
        query = connector.MeetingQuery(
            attendees=body.attendees, start=body.from_, end=body.to,
            duration=timedelta(minutes=body.duration_minutes), activity_domain=body.activity_domain,
            max_candidates=body.max_candidates, minimum_attendee_percentage=body.minimum_attendee_percentage,
            organizer_optional=body.organizer_optional,
        )  # fmt: skip
        try:
            result = await connector.meeting_times(await deployment.graph(), mailbox, query)
        except connector.DelegatedOnly as exc:
            raise ApiError(422, "profile_id", "errors.delegated_only", str(exc)) from None
        except connector.InvalidInput as exc:
            raise _invalid("attendees" if "address" in str(exc) else "duration_minutes", exc) from None
        return {
            "empty_reason": result.get("emptySuggestionsReason") or None,
            "suggestions": [_suggestion(s, zone) for s in result.get("meetingTimeSuggestions") or []],
        }


def _occurrence(item: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    all_day = bool(item.get("isAllDay"))
    status = (
        "cancelled"
        if item.get("isCancelled")
        else "tentative"
        if item.get("showAs") == "tentative"
        else "confirmed"
    )
    start, end = item.get("start"), item.get("end")
    return {
        "event_uid": item.get("iCalUId") or item.get("id"),
        "summary": item.get("subject") or "",
        "start": str((start or {}).get("dateTime", ""))[:10] if all_day else _local(start, zone),
        "end": str((end or {}).get("dateTime", ""))[:10] if all_day else _local(end, zone),
        "original_start": item.get("originalStart") if item.get("type") == "exception" else None,
        "status": status,
        "exception": item.get("type") == "exception",
        "location": str((item.get("location") or {}).get("displayName") or ""),
    }


def _schedule(info: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    error = info.get("error")
    out: dict[str, Any] = {
        "email": info.get("scheduleId") or "",
        "free_busy_view": info.get("availabilityView") or "",
        "busy": [
            {
                "start": _local(i.get("start"), zone),
                "end": _local(i.get("end"), zone),
                "status": i.get("status") or "busy",
                "private": bool(i.get("isPrivate")),
                "summary": None if i.get("isPrivate") else i.get("subject"),
                "location": None if i.get("isPrivate") else i.get("location"),
            }
            for i in info.get("scheduleItems") or []
        ],
        "working_hours": info.get("workingHours"),
    }
    if error:
        out["error"] = {
            "code": str(error.get("responseCode") or ""),
            "description": str(error.get("message") or ""),
        }
    return out


def _suggestion(item: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    slot = item.get("meetingTimeSlot") or {}
    return {
        "start": _local(slot.get("start"), zone),
        "end": _local(slot.get("end"), zone),
        "confidence": float(item.get("confidence") or 0),
        "organizer_availability": str(item.get("organizerAvailability") or "unknown"),
        "attendees": [
            {
                "email": str(((a.get("attendee") or {}).get("emailAddress") or {}).get("address") or ""),
                "availability": str(a.get("availability") or "unknown"),
            }
            for a in item.get("attendeeAvailability") or []
        ],
    }
