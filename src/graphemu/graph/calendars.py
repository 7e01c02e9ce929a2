"""Calendar routes (graph-facts §2.1, §2.3) and the collection paging shared with the event routes.

    GET    users/{user}/calendars            list (paged; $top, $skip, $select, $filter, $orderby, $expand)
    POST   users/{user}/calendars            create: 201; a duplicate name (case-insensitive) is 409
                                             ErrorFolderExists (alcionai/corso#3318)
    GET    users/{user}/calendar             the default calendar
    GET    users/{user}/calendars/{id}       one calendar (ids are case-sensitive; $select, $expand)
    PATCH  users/{user}/calendars/{id}       name, color, isDefaultCalendar, singleValueExtendedProperties
                                             (also users/{user}/calendar)
    DELETE users/{user}/calendars/{id}       204; its events are deleted (and logged) with it

Calendar JSON follows the user-post-calendars.md example, property for property.
Paging (`collection`): Outlook's default page size is 10 (config.default_page_size); `$top` sets the page
size and is carried in `@odata.nextLink` with `$skip`, which clients follow verbatim (graph-facts §2.3).
CHOICE: `$top` above config.max_page_size is clamped, not refused (microsoft-graph-docs#12653: $top=1000000
  "does not fail"); `Prefer: odata.maxpagesize` caps the page size and is echoed in Preference-Applied.
CHOICE: deleting the default calendar is 403 ErrorCannotDeleteObject "Object cannot be deleted." (calendar-
  delete.md only says the default calendar cannot be deleted; that code and status are what Exchange answers
  for an undeletable folder, msgraph-sdk-powershell#2743).
CHOICE: a calendar without a name is 400 ErrorInvalidRequest; hexColor is "" and read-only (graph-facts §2.1).
Extended properties: a calendar takes singleValueExtendedProperties on create and update and gives them back
only through `$expand=singleValueExtendedProperties($filter=id eq '...')`, or matches them with
`$filter=singleValueExtendedProperties/any(...)` on the list, as events do (graph-facts §3; calendar is a
supported resource of singlevaluelegacyextendedproperty-post-singlevalueextendedproperties.md and -get.md).
A null value removes a property; the create's answer does not include them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from graphemu import ids
from graphemu.errors import GraphError, not_found
from graphemu.graph.eventmodel import apply_extended, check_expand, expanded_properties
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Router
from graphemu.odata import ODataError, apply_select, parse_filter, parse_orderby, parse_select, sort_items
from graphemu.world import Calendar, User

router = Router()
T = TypeVar("T")

CALENDAR_PROPERTIES = (
    "id", "name", "color", "hexColor", "isDefaultCalendar", "changeKey", "canShare", "canViewPrivateItems",
    "canEdit", "allowedOnlineMeetingProviders", "defaultOnlineMeetingProvider", "isTallyingResponses",
    "isRemovable", "owner",
)  # fmt: skip
COLORS = ("auto", "lightBlue", "lightGreen", "lightOrange", "lightGray", "lightYellow", "lightTeal",
          "lightPink", "lightBrown", "lightRed", "maxColor")  # fmt: skip
_WRITABLE = ("name", "color", "isDefaultCalendar", "singleValueExtendedProperties")
_READ_ONLY = (*(p for p in CALENDAR_PROPERTIES if p not in _WRITABLE), "calendarPermissions", "calendarView",
              "events", "multiValueExtendedProperties")  # fmt: skip
_EXTENDED = "Microsoft.OutlookServices.SingleValueLegacyExtendedProperty"


# -- collections (shared with events) --------------------------------------------------------------------


def odata_error(exc: ODataError) -> GraphError:
    """A query option Graph cannot parse: 400, ErrorInvalidUrlQueryFilter for $filter."""
    return GraphError(
        400, "ErrorInvalidUrlQueryFilter" if exc.option == "$filter" else "BadRequest", exc.message
    )


def _count(req: GraphRequest, option: str) -> int | None:
    text = req.param(option)
    if text is None:
        return None
    if not text.strip().isdigit():
        raise GraphError(
            400,
            "BadRequest",
            f"Invalid value '{text}' for {option} query option found. The {option} query option requires a "
            "non-negative integer value.",
        )
    return int(text)


def selected(req: GraphRequest, known: Sequence[str], type_name: str) -> list[str] | None:
    """The `$select` list (validated against the entity's properties), or None."""
    text = req.param("$select")
    if not text:
        return None
    try:
        fields = parse_select(text)
    except ODataError as exc:
        raise odata_error(exc) from None
    names = {k.lower() for k in known}
    for name in fields:
        if name != "*" and name.lower() not in names:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type 'Microsoft.OutlookServices.{type_name}'.",
            )
    return fields


def collection(
    ctx: Context,
    req: GraphRequest,
    objects: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    *,
    context: str,
    known: Sequence[str],
    type_name: str,
    extended: Callable[[T], Mapping[str, str]] = lambda _: {},
    always: Sequence[str] = ("id",),
    headers: dict[str, str] | None = None,
) -> GraphResponse:
    """Filter, order, page and select `objects` into a Graph collection; only what is needed is rendered."""
    fields = selected(req, known, type_name)
    try:
        keep = parse_filter(req.param("$filter") or "") if req.param("$filter") else None
        orderby = parse_orderby(req.param("$orderby") or "") if req.param("$orderby") else None
    except ODataError as exc:
        raise odata_error(exc) from None
    headers = dict(headers or {})
    size, top = ctx.config.default_page_size, _count(req, "$top")
    max_page = req.prefer().get("odata.maxpagesize", "") if "prefer" in req.headers else ""
    if max_page.isdigit() and int(max_page) > 0:
        size = min(int(max_page), ctx.config.max_page_size)
        applied = [headers.get("Preference-Applied", ""), f"odata.maxpagesize={size}"]
        headers["Preference-Applied"] = ", ".join(filter(None, applied))
        top = min(top, size) if top is not None else None
    size = min(top if top is not None else size, ctx.config.max_page_size)
    skip = _count(req, "$skip") or 0
    if keep is None and orderby is None:
        total, page = len(objects), [render(o) for o in objects[skip : skip + size]]
    else:
        values = [render(o) for o in objects]
        if keep is not None:
            values = [v for v, o in zip(values, objects, strict=True) if keep(v, extended(o))]
        values = sort_items(values, orderby) if orderby else values
        total, page = len(values), values[skip : skip + size]
    if fields:
        page = [apply_select(item, fields, always) for item in page]
        context = f"{context}({','.join(fields)})"
    body: dict[str, Any] = {"@odata.context": ctx.context_url(context), "value": page}
    if size and skip + size < total:
        query = {k: v for k, v in req.query.items() if k.lower() != "$skip"}
        query["$skip"] = str(skip + size)
        body["@odata.nextLink"] = ctx.url(req.path, query)
    return GraphResponse(200, body, headers)


# -- request bodies (shared with events) -------------------------------------------------------------------


def literal_error(value: Any, edm: str) -> GraphError:
    """400 RequestBodyRead for a value of the wrong type (OData's deserialiser wording)."""
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return GraphError(
        400, "RequestBodyRead", f"Cannot convert the literal '{text}' to the expected type '{edm}'."
    )


def unknown_property(key: str, type_name: str) -> GraphError:
    """400 RequestBodyRead for a property the type lacks (msgraph-sdk-dotnet#450 wording)."""
    return GraphError(
        400,
        "RequestBodyRead",
        f"The property '{key}' does not exist on type 'Microsoft.OutlookServices.{type_name}'. Make sure to "
        "only use property names that are defined by the type or mark the type as open type.",
    )


def check_object(
    value: Any, type_name: str, keys: Iterable[str], ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """A JSON object's known properties under their canonical names (matched case-insensitively);
    annotations and `ignore`d (read-only) names are dropped, anything else is 400."""
    if not isinstance(value, dict):
        raise literal_error(value, f"Microsoft.OutlookServices.{type_name}")
    names = _by_lower(keys) if isinstance(keys, tuple) else {k.lower(): k for k in keys}
    skip = _by_lower(ignore) if isinstance(ignore, tuple) else {k.lower(): k for k in ignore}
    out: dict[str, Any] = {}
    for key, item in value.items():
        lowered = key.lower()
        if "@" in key or lowered in skip:
            continue
        name = names.get(lowered)
        if name is None:
            raise unknown_property(key, type_name)
        out[name] = item
    return out


@functools.lru_cache(maxsize=256)
def _by_lower(keys: tuple[str, ...]) -> dict[str, str]:
    """{lower-cased name: name} of a constant key tuple, built once (check_object runs per nested object of
    every write). Callers only read it."""
    return {k.lower(): k for k in keys}


# -- calendars --------------------------------------------------------------------------------------------


def calendar_json(calendar: Calendar, owner: User, req: GraphRequest | None = None) -> dict[str, Any]:
    """A calendar as Graph returns it (user-post-calendars.md), with the extended properties `req`'s
    $expand asks for, when it carries them."""
    item = {
        "id": calendar.id,
        "name": calendar.name,
        "color": calendar.color,
        "hexColor": calendar.hex_color,
        "isDefaultCalendar": calendar.is_default,
        "changeKey": calendar.change_key,
        "canShare": calendar.can_share,
        "canViewPrivateItems": True,
        "canEdit": calendar.can_edit,
        "allowedOnlineMeetingProviders": list(calendar.allowed_online_meeting_providers),
        "defaultOnlineMeetingProvider": calendar.default_online_meeting_provider,
        "isTallyingResponses": calendar.can_edit,
        "isRemovable": calendar.is_removable and not calendar.is_default,
        "owner": {"name": owner.display_name, "address": owner.mail or owner.user_principal_name},
    }
    found = expanded_properties(calendar, req) if req is not None else None
    if found:
        item["singleValueExtendedProperties"] = found
    return item


def find_calendar(ctx: Context, mailbox: User, calendar_id: str | None) -> Calendar:
    """The mailbox's calendar by (case-sensitive) id, or its default calendar for None; 404 otherwise."""
    if calendar_id is None:
        return ctx.world.default_calendar(mailbox.id)
    calendar = ctx.world.calendars.get(mailbox.id, {}).get(calendar_id)
    if calendar is None:
        raise not_found()
    return calendar


def _entity(
    ctx: Context, req: GraphRequest, calendar: Calendar, mailbox: User, fragment: str
) -> dict[str, Any]:
    check_expand(req)
    item = calendar_json(calendar, mailbox, req)
    fields = selected(req, CALENDAR_PROPERTIES, "Calendar")
    if fields:
        item = apply_select(item, fields, ("id", "singleValueExtendedProperties"))
        fragment = f"{fragment}({','.join(fields)})"
    return {"@odata.context": ctx.context_url(f"{fragment}/$entity"), **item}


def _changes(body: Any) -> dict[str, Any]:
    """The writable properties of a calendar body, type-checked; read-only ones are ignored."""
    if body is None:
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    out = check_object(body, "Calendar", _WRITABLE, _READ_ONLY)
    if "name" in out and not isinstance(out["name"], str):
        raise literal_error(out["name"], "Edm.String")
    if "isDefaultCalendar" in out and not isinstance(out["isDefaultCalendar"], bool):
        raise literal_error(out["isDefaultCalendar"], "Edm.Boolean")
    if "color" in out:
        color = next(
            (c for c in COLORS if isinstance(out["color"], str) and c.lower() == out["color"].lower()), None
        )
        if color is None:
            raise literal_error(out["color"], "Microsoft.OutlookServices.CalendarColor")
        out["color"] = color
    if "singleValueExtendedProperties" in out:
        value = out["singleValueExtendedProperties"]
        if not isinstance(value, list):
            raise literal_error(value, f"Collection({_EXTENDED})")
        out["singleValueExtendedProperties"] = dict(_extended(item) for item in value)
    return out


def _extended(item: Any) -> tuple[str, str | None]:
    """One singleValueLegacyExtendedProperty of a body: (id, value or None to remove it)."""
    obj = check_object(item, "SingleValueLegacyExtendedProperty", ("id", "value"))
    prop_id, value = obj.get("id"), obj.get("value")
    if not isinstance(prop_id, str):
        raise literal_error(prop_id, "Edm.String")
    if value is not None and not isinstance(value, str):
        raise literal_error(value, "Edm.String")
    return prop_id, value


def _check_name(ctx: Context, mailbox: User, name: str, own_id: str | None) -> None:
    if not name.strip():
        raise GraphError(400, "ErrorInvalidRequest", "The calendar name must not be empty.")
    for other in ctx.world.calendars.get(mailbox.id, {}).values():
        if other.id != own_id and other.name.lower() == name.lower():
            raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")


@router.route("GET", "users/{user}/calendars", permission="Calendars.Read")
def list_calendars(ctx: Context, req: GraphRequest, mailbox: User) -> GraphResponse:
    calendars = list(ctx.world.calendars.get(mailbox.id, {}).values())
    check_expand(req)
    return collection(
        ctx,
        req,
        calendars,
        lambda c: calendar_json(c, mailbox, req),
        context=f"users('{mailbox.id}')/calendars",
        known=CALENDAR_PROPERTIES,
        type_name="Calendar",
        extended=lambda c: c.extended,
        always=("id", "singleValueExtendedProperties"),
    )


@router.route("POST", "users/{user}/calendars", permission="Calendars.ReadWrite")
def create_calendar(ctx: Context, req: GraphRequest, mailbox: User) -> GraphResponse:
    changes = _changes(req.body)
    if "name" not in changes:
        raise GraphError(400, "ErrorInvalidRequest", "The calendar name must not be empty.")
    _check_name(ctx, mailbox, changes["name"], None)
    calendar = ctx.world.add_calendar(mailbox.id, changes["name"], color=changes.get("color", "auto"))
    apply_extended(calendar.extended, changes.get("singleValueExtendedProperties", {}))
    if changes.get("isDefaultCalendar"):
        _make_default(ctx, mailbox, calendar)
    return GraphResponse(201, _entity(ctx, req, calendar, mailbox, f"users('{mailbox.id}')/calendars"))


@router.route("GET", "users/{user}/calendar", permission="Calendars.Read")
def get_default_calendar(ctx: Context, req: GraphRequest, mailbox: User) -> GraphResponse:
    calendar = find_calendar(ctx, mailbox, None)
    return GraphResponse(200, _entity(ctx, req, calendar, mailbox, f"users('{mailbox.id}')/calendar"))


@router.route("GET", "users/{user}/calendars/{calendar_id}", permission="Calendars.Read")
def get_calendar(ctx: Context, req: GraphRequest, mailbox: User, calendar_id: str) -> GraphResponse:
    calendar = find_calendar(ctx, mailbox, calendar_id)
    return GraphResponse(200, _entity(ctx, req, calendar, mailbox, f"users('{mailbox.id}')/calendars"))


def _make_default(ctx: Context, mailbox: User, calendar: Calendar) -> None:
    for other in ctx.world.calendars[mailbox.id].values():
        other.is_default = other.id == calendar.id


@router.route("PATCH", "users/{user}/calendars/{calendar_id}", permission="Calendars.ReadWrite")
def update_calendar(ctx: Context, req: GraphRequest, mailbox: User, calendar_id: str) -> GraphResponse:
    calendar = find_calendar(ctx, mailbox, calendar_id)
    changes = _changes(req.body)
    if "name" in changes:
        _check_name(ctx, mailbox, changes["name"], calendar.id)
        calendar.name = changes["name"]
    calendar.color = changes.get("color", calendar.color)
    apply_extended(calendar.extended, changes.get("singleValueExtendedProperties", {}))
    if changes.get("isDefaultCalendar"):
        _make_default(ctx, mailbox, calendar)
    calendar.change_key = ids.change_key()
    return GraphResponse(200, _entity(ctx, req, calendar, mailbox, f"users('{mailbox.id}')/calendars"))


@router.route("PATCH", "users/{user}/calendar", permission="Calendars.ReadWrite")
def update_default_calendar(ctx: Context, req: GraphRequest, mailbox: User) -> GraphResponse:
    """calendar-update.md lists PATCH /me/calendar, and its example renames the default calendar so."""
    return update_calendar(ctx, req, mailbox, find_calendar(ctx, mailbox, None).id)


@router.route("DELETE", "users/{user}/calendars/{calendar_id}", permission="Calendars.ReadWrite")
def delete_calendar(ctx: Context, req: GraphRequest, mailbox: User, calendar_id: str) -> GraphResponse:
    calendar = find_calendar(ctx, mailbox, calendar_id)
    if calendar.is_default:
        raise GraphError(403, "ErrorCannotDeleteObject", "Object cannot be deleted.")
    for event in [e for e in ctx.world.events.get(mailbox.id, {}).values() if e.calendar_id == calendar.id]:
        ctx.world.remove_event(mailbox.id, event.id)
    del ctx.world.calendars[mailbox.id][calendar.id]
    return GraphResponse(204)
