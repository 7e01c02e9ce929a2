"""Typed calls for calendars and events (graph-facts §2-4).

They return Graph's JSON as plain dicts, and collections as async iterators over every page: the adapters
(calsync.adapters) map Graph JSON to domain values, so a second model of the event schema here would only
duplicate `graph/calendar-event-schema.v1.0.json`. What the calls add is the part that is easy to get
wrong: encoded path segments (ids are case-sensitive and contain '=', '-', '_'), the OData filter and
expand expressions for extended properties, the transactionId on creates, If-Match, the calendarView window,
and "404 on delete means already gone".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any

from calsync.graph.errors import NotFound
from calsync.graph.odata import (
    expand_extended_properties,
    extended_property_filter,
    graph_datetime,
    segment,
    user_path,
)
from calsync.graph.odata import (
    if_match as if_match_header,
)
from calsync.graph.requester import Requester

__all__ = ["CalendarApi"]


def _events_path(mailbox: str, calendar_id: str | None) -> str:
    base = user_path(mailbox)
    return f"{base}/calendars/{segment(calendar_id)}/events" if calendar_id else f"{base}/events"


def _query(
    *,
    filter: str | None = None,
    select: Iterable[str] | None = None,
    expand_extended: Iterable[str] | None = None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if filter:
        params["$filter"] = filter
    if select:
        params["$select"] = ",".join(select)
    ids = list(expand_extended or ())
    if ids:
        params["$expand"] = expand_extended_properties(ids)
    return params


class CalendarApi(Requester):
    """Calendars and events of a mailbox (`mailbox` is a user id, a UPN, or "me")."""

    # -- calendars --------------------------------------------------------------------------------

    def list_calendars(
        self, mailbox: str, *, expand_extended: Iterable[str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every calendar of the mailbox, each with those of the named extended properties it carries."""
        return self.paginate(
            f"{user_path(mailbox)}/calendars", params=_query(expand_extended=expand_extended)
        )

    async def get_calendar(self, mailbox: str, calendar_id: str | None = None) -> dict[str, Any]:
        """One calendar, or the default calendar when `calendar_id` is None."""
        path = (
            f"{user_path(mailbox)}/calendars/{segment(calendar_id)}"
            if calendar_id
            else f"{user_path(mailbox)}/calendar"
        )
        result: dict[str, Any] = await self.request_json("GET", path)
        return result

    async def create_calendar(self, mailbox: str, name: str, **properties: Any) -> dict[str, Any]:
        """Create a calendar (409 Conflict, ErrorFolderExists, when the name is taken). Not retried after
        an unknown outcome: look it up by name instead."""
        result: dict[str, Any] = await self.request_json(
            "POST", f"{user_path(mailbox)}/calendars", json={"name": name, **properties}
        )
        return result

    async def update_calendar(
        self, mailbox: str, calendar_id: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PATCH a calendar's properties (name, color, ...)."""
        result: dict[str, Any] = await self.request_json(
            "PATCH", f"{user_path(mailbox)}/calendars/{segment(calendar_id)}", json=dict(patch)
        )
        return result

    async def delete_calendar(self, mailbox: str, calendar_id: str) -> bool:
        """Delete a calendar; False if it was already gone."""
        return await self._delete(f"{user_path(mailbox)}/calendars/{segment(calendar_id)}", {})

    # -- events -----------------------------------------------------------------------------------

    def list_events(
        self,
        mailbox: str,
        calendar_id: str | None = None,
        *,
        filter: str | None = None,
        select: Iterable[str] | None = None,
        expand_extended: Iterable[str] | None = None,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Single instances and series masters (no occurrences: use `calendar_view` for those)."""
        params = _query(filter=filter, select=select, expand_extended=expand_extended)
        return self.paginate(
            _events_path(mailbox, calendar_id), params=params, page_size=page_size, headers=headers
        )

    async def get_event(
        self,
        mailbox: str,
        event_id: str,
        *,
        select: Iterable[str] | None = None,
        expand_extended: Iterable[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One event; `expand_extended` returns those extended properties with it."""
        params = _query(select=select, expand_extended=expand_extended)
        result: dict[str, Any] = await self.request_json(
            "GET", f"{user_path(mailbox)}/events/{segment(event_id)}", params=params or None, headers=headers
        )
        return result

    async def create_event(
        self,
        mailbox: str,
        body: Mapping[str, Any],
        calendar_id: str | None = None,
        *,
        transaction_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create an event. With a `transaction_id` (or a `transactionId` in the body) the create is safe
        to repeat, so it is retried after timeouts and resets; without one, an unknown outcome raises
        Indeterminate. Note that the response omits extended properties sent with the body."""
        payload = dict(body)
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        result: dict[str, Any] = await self.request_json(
            "POST", _events_path(mailbox, calendar_id), json=payload, headers=headers
        )
        return result

    async def update_event(
        self,
        mailbox: str,
        event_id: str,
        patch: Mapping[str, Any],
        *,
        if_match: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """PATCH an event; `if_match` (changeKey or etag) makes a concurrent change answer 412."""
        result: dict[str, Any] = await self.request_json(
            "PATCH",
            f"{user_path(mailbox)}/events/{segment(event_id)}",
            json=dict(patch),
            headers={**if_match_header(if_match), **(headers or {})},
        )
        return result

    async def delete_event(self, mailbox: str, event_id: str, *, if_match: str | None = None) -> bool:
        """Delete an event; False when it was already gone (404 on the item itself)."""
        return await self._delete(
            f"{user_path(mailbox)}/events/{segment(event_id)}", if_match_header(if_match)
        )

    def calendar_view(
        self,
        mailbox: str,
        start: datetime | str,
        end: datetime | str,
        calendar_id: str | None = None,
        *,
        select: Iterable[str] | None = None,
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Occurrences, exceptions and single instances overlapping [start, end)."""
        base = user_path(mailbox) + (f"/calendars/{segment(calendar_id)}" if calendar_id else "")
        params = {
            "startDateTime": graph_datetime(start),
            "endDateTime": graph_datetime(end),
            **_query(select=select),
        }
        return self.paginate(f"{base}/calendarView", params=params, page_size=page_size, headers=headers)

    def instances(
        self,
        mailbox: str,
        event_id: str,
        start: datetime | str,
        end: datetime | str,
        *,
        select: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Occurrences and exceptions of a series master within [start, end)."""
        params = {
            "startDateTime": graph_datetime(start),
            "endDateTime": graph_datetime(end),
            **_query(select=select),
        }
        path = f"{user_path(mailbox)}/events/{segment(event_id)}/instances"
        return self.paginate(path, params=params, page_size=page_size)

    def find_events_by_extended_property(
        self,
        mailbox: str,
        prop_id: str,
        value: str,
        *,
        calendar_id: str | None = None,
        select: Iterable[str] | None = None,
        expand: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Events whose single-value extended property `prop_id` equals `value` (e.g. calsync's ownership
        tag); with `expand` the property comes back on each event."""
        return self.list_events(
            mailbox,
            calendar_id,
            filter=extended_property_filter(prop_id, value),
            select=select,
            expand_extended=[prop_id] if expand else None,
        )

    async def _delete(self, path: str, headers: Mapping[str, str]) -> bool:
        try:
            await self.request("DELETE", path, headers=headers or None)
        except NotFound as exc:
            if exc.code == "ResourceNotFound":  # the path itself is wrong (e.g. unknown user): not "gone"
                raise
            return False
        return True
