"""Directory routes: users, groups and transitive membership, plus two mailbox lookups calsync needs.

Why: a sync service resolves its mailboxes from the directory (a group's transitive members, users by UPN)
before it touches calendars, so graphemu answers those calls with Graph's shapes (graph-facts §9, §11,
§12). Directory calls are served by Entra, not Exchange, so their errors use Entra's codes
(`Authorization_RequestDenied`, `Request_ResourceNotFound`, `Request_UnsupportedQuery`).

    GET users, users/{id | upn}, me     User.Read.All (app), User.ReadBasic.All+ or own User.Read (delegated)
    GET groups, groups/{id}             GroupMember.Read.All (or Group.Read.All, Directory.Read.All)
    GET groups/{id}/transitiveMembers[/microsoft.graph.user | /microsoft.graph.group]
    GET users/{u}/outlook/supportedTimeZones[(TimeZoneStandard=microsoft.graph.timeZoneStandard'Iana')]
    GET users/{u}/mailboxSettings/timeZone
Collections take $top (1..999), $select, $filter, $orderby and $count, and page by an opaque $skiptoken.

CHOICE: the casts on transitiveMembers, $filter there and $count=true are accepted without
`ConsistencyLevel: eventual`, which the cited docs require (advanced queries).
CHOICE: cast results carry no per-item `@odata.type` (the docs' cast examples have none); the uncast list
marks every member `#microsoft.graph.user` / `#microsoft.graph.group`.
CHOICE: $search and $expand answer 400 Request_UnsupportedQuery instead of being ignored, so a client never
mistakes an unfiltered page for a filtered one.
CHOICE: supportedTimeZones needs User.Read (delegated, own mailbox) or User.Read.All (app), as its doc page
lists, and a mailbox; access policies do not apply to User.* (graph-facts §10). mailboxSettings/timeZone
needs MailboxSettings.Read and goes through the policy.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Iterable
from typing import Any

from graphemu import timezones
from graphemu.errors import GraphError
from graphemu.graph.access import IMPLIED, resolve_mailbox, resolve_user
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Principal, Router
from graphemu.odata import ODataError, apply_select, parse_filter, parse_orderby, parse_select, sort_items
from graphemu.odata_core import KEYWORDS, tokenize
from graphemu.world import Group, User

router = Router()
Item = dict[str, Any]

_UNMODELLED_USER = ("department", "companyName", "city", "country", "usageLocation", "employeeId")
_FILTERABLE = {
    "User": {"id", "userprincipalname", "mail", "displayname", "givenname", "surname", "jobtitle",
             "accountenabled", "usertype", "mailnickname"},
    "Group": {"id", "displayname", "mail", "mailenabled", "securityenabled", "mailnickname"},
    "DirectoryObject": {"id", "displayname"},
}  # fmt: skip
_LITERALS = KEYWORDS | {"true", "false", "null"}
_ANY_USER = ("User.ReadBasic.All", *IMPLIED["User.Read.All"])
_OWN_USER = ("User.Read", "User.ReadWrite")
_CAST = re.compile(r"^microsoft\.graph\.(user|group)$", re.IGNORECASE)
_TZ_FUNCTION = re.compile(
    r"^supportedTimeZones(?:\(\s*TimeZoneStandard\s*=\s*(?:microsoft\.graph\.timeZoneStandard)?'(\w+)'\s*\))?$",
    re.IGNORECASE,
)


def _denied() -> GraphError:
    return GraphError(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def _no_mailbox_rights() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def _granted(principal: Principal, accepted: Iterable[str]) -> bool:
    return not (principal.scopes if principal.delegated else principal.roles).isdisjoint(accepted)


def _may_read_user(principal: Principal, target: User | None) -> bool:
    """Any user needs User.Read.All-like rights; a delegated caller may read itself with User.Read."""
    own = target is not None and principal.delegated and target.id == principal.user_id
    return _granted(principal, _ANY_USER) or (own and _granted(principal, _OWN_USER))


def _bad(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


# -- JSON ----------------------------------------------------------------------------------------


def user_json(user: User) -> Item:
    """A user: v1.0's default property set first, then the selectable extras graphemu models."""
    return {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": user.surname,
        "userPrincipalName": user.user_principal_name,
        "id": user.id,
        "accountEnabled": user.account_enabled,
        "userType": "Member",
        "mailNickname": user.user_principal_name.split("@", 1)[0],
        "otherMails": [],
    } | dict.fromkeys(_UNMODELLED_USER)


def group_json(group: Group) -> Item:
    return {
        "id": group.id,
        "description": None,
        "displayName": group.display_name,
        "groupTypes": list(group.group_types),
        "mail": group.mail,
        "mailEnabled": group.mail_enabled,
        "mailNickname": (group.mail or group.display_name).split("@", 1)[0],
        "securityEnabled": group.security_enabled,
    }


_USER_PROPS = tuple(user_json(User(id="", tenant_id="", user_principal_name="x@y", display_name="")))
_GROUP_PROPS = tuple(group_json(Group(id="", tenant_id="", display_name="")))
_DEFAULT_USER = frozenset(_USER_PROPS[: _USER_PROPS.index("id") + 1])  # v1.0's default $select of users


# -- query options ---------------------------------------------------------------------------------


def _select(req: GraphRequest, known: Iterable[str], entity: str) -> list[str] | None:
    """Parsed $select with Graph's spelling of each name; unknown names are a 400 as in Graph."""
    text = req.param("$select")
    if text is None:
        return None
    try:
        fields = parse_select(text)
    except ODataError as exc:
        raise _bad(exc.message) from None
    lowered = {k.lower(): k for k in known}
    for name in fields:
        if name != "*" and name.lower() not in lowered:
            raise _bad(
                f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on type "
                f"'microsoft.graph.{entity}'."
            )
    return [lowered.get(f.lower(), f) for f in fields]


def _project(item: Item, fields: list[str] | None) -> Item:
    """$select if given, else the default property set (users) or everything (groups)."""
    if fields is not None:
        return apply_select(item, fields, always=())
    if "userPrincipalName" not in item:
        return item
    return {k: v for k, v in item.items() if k in _DEFAULT_USER or k.startswith("@")}


def _query(req: GraphRequest, items: list[Item], entity: str) -> list[Item]:
    """Apply $filter (only on properties Entra indexes) and $orderby to full item JSON."""
    for option in ("$search", "$expand"):
        if req.param(option) is not None:
            raise _bad(f"The query option '{option}' is not emulated.", "Request_UnsupportedQuery")
    text, orderby = req.param("$filter"), req.param("$orderby")
    try:
        if text is not None:
            for (kind, name, _), (_, after, _) in itertools.pairwise(tokenize(text)):
                is_property = kind == "name" and after != "(" and name.lower() not in _LITERALS
                if is_property and name.split("/", 1)[0].lower() not in _FILTERABLE[entity]:
                    raise _bad(
                        f"Unsupported or invalid query filter clause specified for property '{name}' of "
                        f"resource '{entity}'.",
                        "Request_UnsupportedQuery",
                    )
            predicate = parse_filter(text)
            items = [item for item in items if predicate(item, {})]
        if orderby:
            items = sort_items(items, parse_orderby(orderby))
    except ODataError as exc:
        raise _bad(exc.message) from None
    return items


def _skip(req: GraphRequest) -> int:
    token = req.param("$skiptoken")
    if token is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode() + b"==").decode().removeprefix("graphemu:"))
    except ValueError:
        message = "The specified page token value has expired and can no longer be included in your request."
        raise _bad(message, "Directory_ExpiredPageToken") from None


def _page(
    ctx: Context, req: GraphRequest, items: list[Item], context: str, fields: list[str] | None
) -> GraphResponse:
    """One page of a directory collection; @odata.nextLink carries the query plus an opaque $skiptoken."""
    top, limit = req.param("$top"), ctx.config.directory_max_page_size
    if top is not None and not (top.isdigit() and 1 <= int(top) <= limit):
        message = f"Invalid page size specified: '{top}'. Must be between 1 and {limit} inclusive."
        raise _bad(message, "Request_UnsupportedQuery")
    offset = _skip(req)
    end = offset + (int(top) if top is not None else ctx.config.directory_default_page_size)
    body: Item = {"@odata.context": ctx.context_url(context + (f"({','.join(fields)})" if fields else ""))}
    if (req.param("$count") or "").lower() == "true":
        body["@odata.count"] = len(items)
    if end < len(items):
        query = {k: v for k, v in req.query.items() if k.lower() != "$skiptoken"}
        query["$skiptoken"] = base64.urlsafe_b64encode(f"graphemu:{end}".encode()).decode().rstrip("=")
        body["@odata.nextLink"] = ctx.url(req.path, query)
    body["value"] = [_project(item, fields) for item in items[offset:end]]
    return GraphResponse(200, body)


def _entity(ctx: Context, context: str, item: Item, fields: list[str] | None) -> GraphResponse:
    suffix = f"({','.join(fields)})" if fields else ""
    return GraphResponse(
        200, {"@odata.context": ctx.context_url(f"{context}{suffix}/$entity")} | _project(item, fields)
    )


# -- users and groups ------------------------------------------------------------------------------


@router.route("GET", "users")
def list_users(ctx: Context, req: GraphRequest) -> GraphResponse:
    if not _may_read_user(req.principal, None):
        raise _denied()
    fields = _select(req, _USER_PROPS, "user")
    tenant = req.principal.tenant_id
    items = _query(req, [user_json(u) for u in ctx.world.users.values() if u.tenant_id == tenant], "User")
    return _page(ctx, req, items, "users", fields)


@router.route("GET", "users/{user}")
def get_user(ctx: Context, req: GraphRequest, user: str) -> GraphResponse:
    _query(req, [], "User")
    fields = _select(req, _USER_PROPS, "user")
    target = resolve_user(ctx, req.principal, user)
    if not _may_read_user(req.principal, target):
        raise _denied()
    return _entity(ctx, "users", user_json(target), fields)


def _group(ctx: Context, req: GraphRequest, key: str | None) -> Group | None:
    """Check GroupMember.Read.All-like rights, then find the group in the caller's tenant (404 if not)."""
    if not _granted(req.principal, IMPLIED["GroupMember.Read.All"]):
        raise _denied()
    if key is None:
        return None
    group = ctx.world.groups.get(key)
    if group is None or group.tenant_id != req.principal.tenant_id:
        message = (
            f"Resource '{key}' does not exist or one of its queried reference-property objects are "
            "not present."
        )
        raise GraphError(404, "Request_ResourceNotFound", message)
    return group


@router.route("GET", "groups")
def list_groups(ctx: Context, req: GraphRequest) -> GraphResponse:
    _group(ctx, req, None)
    fields = _select(req, _GROUP_PROPS, "group")
    tenant = req.principal.tenant_id
    items = _query(req, [group_json(g) for g in ctx.world.groups.values() if g.tenant_id == tenant], "Group")
    return _page(ctx, req, items, "groups", fields)


@router.route("GET", "groups/{group}")
def get_group(ctx: Context, req: GraphRequest, group: str) -> GraphResponse:
    found = _group(ctx, req, group)
    assert found is not None
    _query(req, [], "Group")
    return _entity(ctx, "groups", group_json(found), _select(req, _GROUP_PROPS, "group"))


@router.route("GET", "groups/{group}/transitiveMembers")
def transitive_members(ctx: Context, req: GraphRequest, group: str, cast: str | None = None) -> GraphResponse:
    found = _group(ctx, req, group)
    assert found is not None
    world, items = ctx.world, []
    for member in world.transitive_members(found.id):
        if member in world.users and cast in (None, "user"):
            typed = {"@odata.type": "#microsoft.graph.user"} if cast is None else {}
            items.append(typed | user_json(world.users[member]))
        elif member in world.groups and cast in (None, "group"):
            typed = {"@odata.type": "#microsoft.graph.group"} if cast is None else {}
            items.append(typed | group_json(world.groups[member]))
    entity = {"user": "User", "group": "Group"}.get(cast or "", "DirectoryObject")
    known = {"user": _USER_PROPS, "group": _GROUP_PROPS}.get(cast or "", _USER_PROPS + _GROUP_PROPS)
    fields = _select(req, known, cast or "directoryObject")
    context = {"user": "users", "group": "groups"}.get(cast or "", "directoryObjects")
    return _page(ctx, req, _query(req, items, entity), context, fields)


@router.route("GET", "groups/{group}/transitiveMembers/{cast}")
def transitive_members_cast(ctx: Context, req: GraphRequest, group: str, cast: str) -> GraphResponse:
    match = _CAST.match(cast)
    if match is None:
        raise _bad(f"Resource not found for the segment '{cast}'.")
    return transitive_members(ctx, req, group, match.group(1).lower())


# -- mailbox lookups -------------------------------------------------------------------------------


@router.route("GET", "users/{user}/outlook/{function}")
def supported_time_zones(ctx: Context, req: GraphRequest, user: str, function: str) -> GraphResponse:
    match = _TZ_FUNCTION.match(function)
    if match is None:
        raise _bad(f"Resource not found for the segment '{function}'.")
    standard = (match.group(1) or "windows").lower()
    if standard not in ("windows", "iana"):
        raise _bad(
            f"The value '{match.group(1)}' is not a valid member of enum type "
            "'microsoft.graph.timeZoneStandard'."
        )
    target = resolve_user(ctx, req.principal, user)
    if not _may_read_user(req.principal, target):
        raise _no_mailbox_rights()
    if not target.has_mailbox:
        message = "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
        raise GraphError(404, "MailboxNotEnabledForRESTAPI", message)
    context = ctx.context_url("Collection(microsoft.graph.timeZoneInformation)")
    zones = timezones.supported_time_zones("iana" if standard == "iana" else "windows")
    return GraphResponse(200, {"@odata.context": context, "value": zones})


@router.route("GET", "users/{user}/mailboxSettings/timeZone")
def mailbox_time_zone(ctx: Context, req: GraphRequest, user: str) -> GraphResponse:
    if not _granted(req.principal, ("MailboxSettings.Read", "MailboxSettings.ReadWrite")):
        raise _no_mailbox_rights()
    mailbox = resolve_mailbox(ctx, req.principal, user)
    context = ctx.context_url(f"users('{mailbox.id}')/mailboxSettings/timeZone")
    return GraphResponse(200, {"@odata.context": context, "value": mailbox.time_zone})
