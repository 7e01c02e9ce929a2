"""The REST API's routes (`/v1`): thin, each a call of a use case in calsync.services.unified.

`api_router(deployment, request_run=...)` builds them for one deployment; `require_scope` (auth.py)
guards each: `read` for profiles, calendars and events, `write` for upserts and deletes. The answers'
shapes follow Cronofy's (service-facts §1); errors are errors.py's one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response

from calsync.services import Deployment
from calsync.services.api_keys import ApiPrincipal
from calsync.services.unified import ConnectionSource, NotFoundError, UnifiedApi, UnifiedApiOps
from calsync.services.unified_events import EventRefused, RequestRun
from calsync.services.unified_models import UpsertEvent
from calsync.services.unified_reads import BadQuery, encode_page, query
from calsync.web.api.auth import require_scope
from calsync.web.api.errors import ApiError, responses
from calsync.web.api.models import CalendarsAnswer, DeleteEvent, EventsAnswer, ProfilesAnswer

Reader = Annotated[ApiPrincipal, Depends(require_scope("read"))]
Writer = Annotated[ApiPrincipal, Depends(require_scope("write"))]
CalendarId = Annotated[str, Path(description="A calendar_id from GET /v1/calendars.", max_length=2000)]
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted: stored, and written to the calendar shortly."}
}


def _not_found(exc: NotFoundError) -> ApiError:
    return ApiError(404, "calendar_id", "errors.not_found", str(exc))


def api_router(
    deployment: Deployment,
    *,
    request_run: RequestRun | None = None,
    connection_sources: Sequence[ConnectionSource] | None = None,
) -> APIRouter:
    """The `/v1` routes of one deployment (include them with prefix "/v1"). `connection_sources`: where
    the profiles come from (default: the deployment's application-permission mailboxes)."""
    api = UnifiedApi(deployment)
    if connection_sources is not None:
        api.sources = list(connection_sources)
    ops = UnifiedApiOps(api, request_run)
    router = APIRouter(responses=responses(401, 403, 422, 502, 503))

    @router.get("/profiles", response_model=ProfilesAnswer, operation_id="listProfiles", tags=["profiles"])
    async def list_profiles(principal: Reader) -> dict[str, object]:
        """Each connected mailbox, with Cronofy's provider name for Microsoft 365 ("exchange")."""
        return {"profiles": await api.profiles()}

    @router.get(
        "/calendars", response_model=CalendarsAnswer, operation_id="listCalendars", tags=["calendars"]
    )
    async def list_calendars(principal: Reader) -> dict[str, object]:
        """Every calendar of every connected mailbox: read-only, primary, Teams available."""
        return {"calendars": await ops.calendars()}

    @router.post(
        "/calendars/{calendar_id}/events",
        status_code=202,
        response_class=Response,
        responses={**ACCEPTED, **responses(404)},
        operation_id="upsertEvent",
        tags=["events"],
    )
    async def upsert_event(principal: Writer, calendar_id: CalendarId, event: UpsertEvent) -> Response:
        """Create or update the event with your `event_id` (202; written to Graph shortly after).

        The first call for a calendar and event_id creates the event, later calls update it. A retry of
        the same request changes nothing more. Read-only calendars are refused (422 calendar_id), so is
        `conferencing.profile_id: default` where the calendar offers no Teams (422)."""
        try:
            await ops.upsert(principal.key_id, calendar_id, event)
        except NotFoundError as exc:
            raise _not_found(exc) from None
        except EventRefused as exc:
            raise ApiError(422, exc.field, exc.key, str(exc)) from None
        return Response(status_code=202)

    @router.delete(
        "/calendars/{calendar_id}/events",
        status_code=202,
        response_class=Response,
        responses={**ACCEPTED, **responses(404)},
        operation_id="deleteEvent",
        tags=["events"],
    )
    async def delete_event(
        principal: Writer, calendar_id: CalendarId, body: Annotated[DeleteEvent, Body()]
    ) -> Response:
        """Delete the event with your `event_id` (202; removed from Graph shortly after). Deleting an
        event that is not there (never written, or already deleted) is accepted too."""
        try:
            await ops.delete(principal.key_id, calendar_id, body.event_id)
        except NotFoundError as exc:
            raise _not_found(exc) from None
        except EventRefused as exc:
            raise ApiError(422, exc.field, exc.key, str(exc)) from None
        return Response(status_code=202)

    @router.get(
        "/events",
        response_model=EventsAnswer,
        response_model_exclude_none=True,
        responses=responses(404),
        operation_id="readEvents",
        tags=["events"],
    )
    async def read_events(
        *,
        request: Request,
        principal: Reader,
        from_: Annotated[
            date | None, Query(alias="from", description="First day (in tzid); default today.")
        ] = None,
        to: Annotated[
            date | None, Query(description="Day after the last (in tzid); default from + 30 days.")
        ] = None,
        tzid: Annotated[str, Query(description="IANA zone of from and to.", max_length=64)] = "Etc/UTC",
        calendar_ids: Annotated[
            list[str] | None, Query(alias="calendar_ids[]", description="Only these.")
        ] = None,
        only_managed: Annotated[bool, Query(description="Only events calsync wrote.")] = False,
        include_managed: Annotated[bool, Query(description="Also your own managed events.")] = False,
        last_modified: Annotated[
            datetime | None, Query(description="Changed at or after (ISO 8601).")
        ] = None,
        page: Annotated[str | None, Query(description="From pages.next_page.", max_length=200)] = None,
    ) -> dict[str, Any]:
        """Events overlapping [from, to) of the calendars (all by default), managed ones told apart."""
        try:
            q = query(
                from_, to, tzid, only_managed=only_managed, include_managed=include_managed,
                last_modified=last_modified, page=page, today=datetime.now(UTC).date(),
            )  # fmt: skip
            events, following = await ops.events(principal.key_id, calendar_ids or [], q)
        except BadQuery as exc:
            raise ApiError(422, exc.field, "errors.invalid", str(exc)) from None
        except NotFoundError as exc:
            raise _not_found(exc) from None
        pages: dict[str, Any] = {"current": _page_number(request)}
        if following is not None:
            params = [
                (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "page_number")
            ]
            params += [("page", encode_page(following)), ("page_number", str(pages["current"] + 1))]
            pages["next_page"] = str(request.url.replace(query=urlencode(params)))
        return {"pages": pages, "events": events}

    from calsync.web.api.connector import connector_routes  # calendars create/update/delete, availability

    router.include_router(connector_routes(api, ops))
    return router


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page_number", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1
