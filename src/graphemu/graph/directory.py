"""Directory routes: users, groups and transitive membership, plus two mailbox lookups calsync needs.

Why: a sync service resolves its mailboxes from the directory (a group's transitive members, users by UPN)
before it touches calendars, so graphemu answers those calls with Graph's shapes (graph-facts §9, §11,
§12). Directory calls are served by Entra, not Exchange, so their errors use Entra's codes
(`Authorization_RequestDenied`, `Request_ResourceNotFound`, `Request_UnsupportedQuery`): an unknown
`users/{key}` is 404 Request_ResourceNotFound "Resource '{key}' does not exist or one of its queried
reference-property objects are not present.", while the mailbox lookups below are Exchange's and keep its
ErrorInvalidUser (graph-facts §9).

    GET users, users/{id | upn}, me     User.Read.All (app), User.ReadBasic.All+ or own User.Read (delegated)
    GET groups, groups/{id}             GroupMember.Read.All (or Group.Read.All, Directory.Read.All)
    GET groups/{id}/transitiveMembers[/microsoft.graph.user | /microsoft.graph.group]   (or graph.user, ...)
    GET users/$count, groups/$count, groups/{id}/transitiveMembers[/{cast}]/$count   text/plain number
    GET users/{u}/outlook/supportedTimeZones[(TimeZoneStandard=microsoft.graph.timeZoneStandard'Iana')]
    GET users/{u}/mailboxSettings/timeZone
Collections take $top (1..999), $select, $filter, $orderby and $count, and page by an opaque $skiptoken.

CHOICE: the casts on transitiveMembers, $filter there and $count=true are accepted without
`ConsistencyLevel: eventual`, which the cited docs require (advanced queries). The `/$count` segment is not:
without the header it is 400 Request_BadRequest "$count is not currently supported." as the docs show.
CHOICE: cast results carry no per-item `@odata.type` (the docs' cast examples have none); the uncast list
marks every member `#microsoft.graph.user` / `#microsoft.graph.group`.
CHOICE: $search and $expand answer 400 Request_UnsupportedQuery instead of being ignored, so a client never
mistakes an unfiltered page for a filtered one.
CHOICE: supportedTimeZones needs User.Read (delegated, own mailbox) or User.Read.All (app), as its doc page
lists, and a mailbox; access policies do not apply to User.* (graph-facts §10). mailboxSettings/timeZone
needs MailboxSettings.Read and goes through the policy.

The JSON shapes are in `graphemu.graph.directory_json` (`user_json`, `group_json`, re-exported here) and
the query options ($select, $filter, paging) in `graphemu.graph.directory_query`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from graphemu import timezones
from graphemu.errors import GraphError
from graphemu.graph.access import IMPLIED, resolve_mailbox, resolve_user
from graphemu.graph.directory_json import _GROUP_PROPS, _USER_PROPS, Item, group_json, user_json
from graphemu.graph.directory_query import _bad, _entity, _page, _query, _select
from graphemu.graph.router import Context, GraphRequest, GraphResponse, Principal, Router
from graphemu.world import Group, User

__all__ = ["Item", "group_json", "router", "user_json"]

router = Router()
_ANY_USER = ("User.ReadBasic.All", *IMPLIED["User.Read.All"])
_OWN_USER = ("User.Read", "User.ReadWrite")
# A cast names the type qualified by its namespace or by the namespace's alias (`graph`, from the CSDL).
_CAST = re.compile(r"^(?:microsoft\.)?graph\.(user|group)$", re.IGNORECASE)
_TZ_FUNCTION = re.compile(
    r"^supportedTimeZones(?:\(\s*TimeZoneStandard\s*=\s*(?:microsoft\.graph\.timeZoneStandard)?'(\w+)'\s*\))?$",
    re.IGNORECASE,
)


def _denied() -> GraphError:
    return GraphError(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def _not_present(key: str) -> GraphError:
    """Entra's 404 for a user or group it does not have, naming the key as the client sent it."""
    message = f"Resource '{key}' does not exist or one of its queried reference-property objects are "
    return GraphError(404, "Request_ResourceNotFound", message + "not present.")


def _directory_user(ctx: Context, principal: Principal, key: str) -> User:
    """A user of the caller's tenant as the directory finds it. Exchange's ErrorInvalidUser (and the
    `unknown_user_error` switch) belongs to mailbox paths: `users/{key}` itself is answered by Entra."""
    user = ctx.world.find_user(key, principal.tenant_id)
    if user is None:
        raise _not_present(key)
    return user


def _no_mailbox_rights() -> GraphError:
    return GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def _granted(principal: Principal, accepted: Iterable[str]) -> bool:
    return not (principal.scopes if principal.delegated else principal.roles).isdisjoint(accepted)


def _may_read_user(principal: Principal, target: User | None) -> bool:
    """Any user needs User.Read.All-like rights; a delegated caller may read itself with User.Read."""
    own = target is not None and principal.delegated and target.id == principal.user_id
    return _granted(principal, _ANY_USER) or (own and _granted(principal, _OWN_USER))


# -- users and groups ------------------------------------------------------------------------------


def _count(req: GraphRequest, items: list[Item]) -> GraphResponse:
    """`.../$count`: the number of items, as text/plain. Counting directory objects is an advanced query,
    so without `ConsistencyLevel: eventual` Entra refuses the segment (aad-advanced-queries.md)."""
    if req.headers.get("consistencylevel", "").strip().lower() != "eventual":
        raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
    return GraphResponse(200, str(len(items)))


def _users(ctx: Context, req: GraphRequest) -> list[Item]:
    """The caller's tenant's users after $filter and $orderby, once the caller may list users."""
    if not _may_read_user(req.principal, None):
        raise _denied()
    tenant = req.principal.tenant_id
    return _query(req, [user_json(u) for u in ctx.world.users.values() if u.tenant_id == tenant], "User")


@router.route("GET", "users")
def list_users(ctx: Context, req: GraphRequest) -> GraphResponse:
    items = _users(ctx, req)
    return _page(ctx, req, items, "users", _select(req, _USER_PROPS, "user"))


@router.route("GET", "users/$count")  # before users/{user}: the first matching route wins
def count_users(ctx: Context, req: GraphRequest) -> GraphResponse:
    return _count(req, _users(ctx, req))


@router.route("GET", "users/{user}")
def get_user(ctx: Context, req: GraphRequest, user: str) -> GraphResponse:
    _query(req, [], "User")
    fields = _select(req, _USER_PROPS, "user")
    target = _directory_user(ctx, req.principal, user)
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
        raise _not_present(key)
    return group


def _groups(ctx: Context, req: GraphRequest) -> list[Item]:
    """The caller's tenant's groups after $filter and $orderby, once the caller may read groups."""
    _group(ctx, req, None)
    tenant = req.principal.tenant_id
    return _query(req, [group_json(g) for g in ctx.world.groups.values() if g.tenant_id == tenant], "Group")


@router.route("GET", "groups")
def list_groups(ctx: Context, req: GraphRequest) -> GraphResponse:
    items = _groups(ctx, req)
    return _page(ctx, req, items, "groups", _select(req, _GROUP_PROPS, "group"))


@router.route("GET", "groups/$count")  # before groups/{group}
def count_groups(ctx: Context, req: GraphRequest) -> GraphResponse:
    return _count(req, _groups(ctx, req))


@router.route("GET", "groups/{group}")
def get_group(ctx: Context, req: GraphRequest, group: str) -> GraphResponse:
    found = _group(ctx, req, group)
    assert found is not None
    _query(req, [], "Group")
    return _entity(ctx, "groups", group_json(found), _select(req, _GROUP_PROPS, "group"))


def _members(ctx: Context, req: GraphRequest, group: str, cast: str | None) -> list[Item]:
    """A group's nested members once each (only users or groups under a cast), $filter and $orderby
    applied; the uncast list marks each member's type."""
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
    return _query(req, items, {"user": "User", "group": "Group"}.get(cast or "", "DirectoryObject"))


def _cast(segment: str) -> str:
    """`user` or `group` for a cast segment; any other segment is not a resource here."""
    match = _CAST.match(segment)
    if match is None:
        raise _bad(f"Resource not found for the segment '{segment}'.")
    return match.group(1).lower()


@router.route("GET", "groups/{group}/transitiveMembers")
def transitive_members(ctx: Context, req: GraphRequest, group: str, cast: str | None = None) -> GraphResponse:
    items = _members(ctx, req, group, cast)
    known = {"user": _USER_PROPS, "group": _GROUP_PROPS}.get(cast or "", _USER_PROPS + _GROUP_PROPS)
    fields = _select(req, known, cast or "directoryObject")
    context = {"user": "users", "group": "groups"}.get(cast or "", "directoryObjects")
    return _page(ctx, req, items, context, fields)


@router.route("GET", "groups/{group}/transitiveMembers/$count")  # before the cast route
def count_transitive_members(ctx: Context, req: GraphRequest, group: str) -> GraphResponse:
    return _count(req, _members(ctx, req, group, None))


@router.route("GET", "groups/{group}/transitiveMembers/{cast}")
def transitive_members_cast(ctx: Context, req: GraphRequest, group: str, cast: str) -> GraphResponse:
    return transitive_members(ctx, req, group, _cast(cast))


@router.route("GET", "groups/{group}/transitiveMembers/{cast}/$count")
def count_transitive_members_cast(ctx: Context, req: GraphRequest, group: str, cast: str) -> GraphResponse:
    return _count(req, _members(ctx, req, group, _cast(cast)))


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
