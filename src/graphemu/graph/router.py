"""Graph requests as values, and the path router every Graph route registers with.

A Graph request is parsed once (from HTTP, or from a `$batch` item) into a `GraphRequest`; handlers are
plain functions `(ctx, req, **path_params) -> GraphResponse` that read and change the World and raise
`GraphError`. Keeping handlers free of HTTP lets `$batch` run them exactly as direct requests. Handlers are
synchronous unless they must wait on the network (subscription creation calls the notification URL), in
which case they may be `async def`; the pipeline awaits them.

Paths are matched on segments after `/v1.0/`. `me` is rewritten to `users/{signed-in user}` before
matching, as Graph treats them alike. Patterns use `{name}` for one segment; literal segments match
case-insensitively (Graph's segments are case-insensitive; ids are not). A literal written `name()` is a
bound function without parameters: Graph's docs write it short (`/calendarView/delta`) while the OpenAPI
paths and the Kiota-generated SDKs send `delta()` or `microsoft.graph.delta()`, and OData also accepts the
namespace's alias `graph` (declared in Graph's CSDL), so all six spellings match it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

from graphemu.errors import GraphError

if TYPE_CHECKING:
    from graphemu.config import EmulatorConfig
    from graphemu.world import World


@dataclass(frozen=True)
class Principal:
    """Who is calling: an app (roles) or a user through an app (scopes)."""

    tenant_id: str
    client_id: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    user_id: str | None = None

    @property
    def delegated(self) -> bool:
        return self.user_id is not None


@dataclass
class GraphRequest:
    """One Graph call. `path` has no version prefix and no query; `query` keys keep their spelling."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any
    principal: Principal
    request_id: str
    client_request_id: str
    raw_url: str = ""  # the URL as the client sent it (relative for batch items)

    def param(self, name: str) -> str | None:
        """A query parameter by case-insensitive name (`$top`, `startDateTime`, ...)."""
        lowered = name.lower()
        for key, value in self.query.items():
            if key.lower() == lowered:
                return value
        return None

    def prefer(self) -> dict[str, str]:
        """The Prefer header as {name: value} (values unquoted), e.g. outlook.timezone, odata.maxpagesize."""
        result: dict[str, str] = {}
        for part in self.headers.get("prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            if name:
                result[name.strip().lower()] = value.strip().strip('"')
        return result


@dataclass
class GraphResponse:
    """A handler's answer. `body` None means no content."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """What handlers get besides the request: the world, the configuration and URL helpers."""

    world: World
    config: EmulatorConfig

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        """An absolute Graph URL for nextLink/deltaLink values, with the query encoded."""
        url = f"{self.config.base_url.rstrip('/')}/v1.0/{path.lstrip('/')}"
        if query:
            url += "?" + "&".join(f"{quote(k, safe='$')}={quote(str(v), safe='')}" for k, v in query.items())
        return url

    def context_url(self, fragment: str) -> str:
        """An @odata.context value: `{base}/v1.0/$metadata#{fragment}`."""
        return f"{self.config.base_url.rstrip('/')}/v1.0/$metadata#{fragment}"


Handler = Callable[..., GraphResponse | Awaitable[GraphResponse]]
_H = TypeVar("_H", bound=Callable[..., Any])
_PARAM = re.compile(r"^\{(\w+)\}$")


_NAMESPACES = ("", "microsoft.graph.", "graph.")  # unqualified, qualified, alias-qualified


def _spellings(part: str) -> frozenset[str]:
    """The lower-case segments a pattern literal matches: itself, or every spelling of a bound function."""
    if not part.endswith("()"):
        return frozenset({part})
    name = part[:-2]
    return frozenset(f"{ns}{name}{call}" for ns in _NAMESPACES for call in ("", "()"))


@dataclass
class _Route:
    method: str
    parts: tuple[str, ...]
    handler: Handler
    permission: str | None
    names: tuple[str | None, ...] = ()  # per part: the parameter's name, None for a literal segment
    literals: tuple[frozenset[str], ...] = ()  # per part: the spellings a literal matches (empty for a param)

    def bind(self, segments: list[str], lowered: list[str]) -> dict[str, str] | None:
        """The path parameters when the (same-length) segments match this route, else None."""
        params: dict[str, str] = {}
        for name, accepted, segment, low in zip(self.names, self.literals, segments, lowered, strict=True):
            if name is not None:
                params[name] = segment
            elif low not in accepted:
                return None
        return params


class Router:
    """Method + segment-pattern routing. The first route registered for a match wins.

    Routes are indexed by their number of segments (built on first use after a registration), so a
    request is compared only with the routes that could match it."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._by_length: dict[int, list[_Route]] | None = None

    def route(self, method: str, pattern: str, *, permission: str | None = None) -> Callable[[_H], _H]:
        """Register a handler. `permission` names what the caller needs (checked by the pipeline), e.g.
        "Calendars.Read" (satisfied by Calendars.ReadWrite too) or "Calendars.ReadWrite"."""

        def decorate(handler: _H) -> _H:
            parts = tuple(p.lower() if not _PARAM.match(p) else p for p in pattern.strip("/").split("/"))
            names = tuple(m.group(1) if (m := _PARAM.match(p)) else None for p in parts)
            literals = tuple(frozenset() if n else _spellings(p) for p, n in zip(parts, names, strict=True))
            self._routes.append(_Route(method.upper(), parts, handler, permission, names, literals))
            self._by_length = None
            return handler

        return decorate

    def include(self, other: Router) -> None:
        self._routes.extend(other._routes)
        self._by_length = None

    def match(self, method: str, segments: list[str]) -> tuple[_Route, dict[str, str]]:
        """Find the route for a request; raises GraphError 404/405 like Graph does for unknown paths."""
        if self._by_length is None:
            index: dict[int, list[_Route]] = {}
            for route in self._routes:
                index.setdefault(len(route.parts), []).append(route)
            self._by_length = index
        lowered = [s.lower() for s in segments]
        path_matched = False
        for route in self._by_length.get(len(segments), ()):
            params = route.bind(segments, lowered)
            if params is None:
                continue
            path_matched = True
            if route.method == method:
                return route, params
        if path_matched:
            raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed.")
        raise GraphError(
            400, "BadRequest", f"Resource not found for the segment '{self._unresolved(segments, lowered)}'."
        )

    def _unresolved(self, segments: list[str], lowered: list[str]) -> str:
        """The segment Graph's 400 names: the first one no route continues with (for "/v1.0/me/events" in
        a batch item, "v1.0"), or the last when the whole path is the start of a longer route."""
        if not segments:
            return ""
        depth = 0
        for route in self._routes:
            matched = 0
            for name, accepted, low in zip(route.names, route.literals, lowered, strict=False):
                if name is None and low not in accepted:
                    break
                matched += 1
            depth = max(depth, matched)
        return segments[min(depth, len(segments) - 1)]


_KEY_SEGMENT = re.compile(r"^(\w+)\('(.+)'\)$")


def split_path(path: str, principal: Principal) -> list[str]:
    """Segments of a Graph path with `me` expanded; `users('x')` key syntax becomes `users/x`."""
    expanded: list[str] = []
    for raw in path.strip("/").split("/"):
        if not raw:
            continue
        segment = unquote(raw) if "%" in raw else raw
        key = _KEY_SEGMENT.match(segment) if "(" in segment else None
        if key:
            expanded.extend([key.group(1), key.group(2)])
        else:
            expanded.append(segment)
    if expanded and expanded[0].lower() == "me":
        if principal.user_id is None:
            raise GraphError(
                400,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        expanded = ["users", principal.user_id, *expanded[1:]]
    return expanded
