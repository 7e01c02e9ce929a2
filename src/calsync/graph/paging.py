"""Following `@odata.nextLink` (graph-facts §2.3, DC:concepts/paging.md).

Why verbatim: a nextLink carries `$skip` or an opaque `$skiptoken` that encodes the original query; the
client must send it back unchanged and add no parameters of its own. The page size is asked for with
`Prefer: odata.maxpagesize=N` (sent on every page, merged into any other Prefer values such as
`outlook.timezone`), never by rewriting the link. Links to another host are refused by `GraphAuth`, so the
token cannot be sent anywhere a response points to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from calsync.graph.errors import GraphClientError
from calsync.graph.requester import Params, Requester

__all__ = ["next_link", "pages", "with_max_page_size"]


def with_max_page_size(headers: Mapping[str, str] | None, page_size: int | None) -> dict[str, str]:
    """Headers with `odata.maxpagesize` added to the Prefer header (kept intact otherwise)."""
    result = dict(headers or {})
    if page_size is None:
        return result
    if page_size < 1:
        raise ValueError("page_size must be positive")
    name = next((k for k in result if k.lower() == "prefer"), "Prefer")
    current = [p.strip() for p in result.get(name, "").split(",") if p.strip()]
    current = [p for p in current if not p.lower().startswith("odata.maxpagesize")]
    result[name] = ", ".join([*current, f"odata.maxpagesize={page_size}"])
    return result


def next_link(page: Mapping[str, Any]) -> str | None:
    """The page's `@odata.nextLink`, or None on the last page."""
    link = page.get("@odata.nextLink")
    if link is None:
        return None
    if not isinstance(link, str) or not link:
        raise GraphClientError("malformed @odata.nextLink in a Graph response")
    return link


async def pages(
    client: Requester,
    path: str,
    *,
    params: Params = None,
    page_size: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every page of a collection (each a dict with `value` and maybe `@odata.nextLink`/`deltaLink`)."""
    request_headers = with_max_page_size(headers, page_size)
    url: str = path
    query: Params = params
    while True:
        response = await client.request("GET", url, params=query, headers=request_headers)
        page = response.json()
        if not isinstance(page, dict):
            raise GraphClientError("a Graph collection page is not a JSON object")
        yield page
        link = next_link(page)
        if link is None:
            return
        url, query = link, None


async def paginate(
    client: Requester,
    path: str,
    *,
    params: Params = None,
    page_size: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every item of every page."""
    async for page in pages(client, path, params=params, page_size=page_size, headers=headers):
        for item in page.get("value") or ():
            yield item
