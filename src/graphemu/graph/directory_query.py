"""Query options of directory collections: $select, $filter, $orderby, $top, $count and $skiptoken paging.

Split from `graphemu.graph.directory`, which keeps the routes and the access checks: these helpers turn a
list of full item JSON into one page (or an entity) as Entra answers it, with Entra's error codes
(`Request_UnsupportedQuery`, `Directory_ExpiredPageToken`). The CHOICEs are in the directory module doc.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable

from graphemu.errors import GraphError
from graphemu.graph.directory_json import _DEFAULT_USER, Item
from graphemu.graph.router import Context, GraphRequest, GraphResponse
from graphemu.odata import ODataError, apply_select, parse_filter, parse_orderby, parse_select, sort_items
from graphemu.odata_core import KEYWORDS, tokenize

_FILTERABLE = {
    "User": {"id", "userprincipalname", "mail", "displayname", "givenname", "surname", "jobtitle",
             "accountenabled", "usertype", "mailnickname"},
    "Group": {"id", "displayname", "mail", "mailenabled", "securityenabled", "mailnickname"},
    "DirectoryObject": {"id", "displayname"},
}  # fmt: skip
_LITERALS = KEYWORDS | {"true", "false", "null"}


def _bad(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


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
