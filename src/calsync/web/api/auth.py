"""Who is calling the REST API: an API key as a Bearer token, checked against the key's scopes.

`require_scope("read" | "write" | "admin")` is a FastAPI dependency that returns the caller's
`ApiPrincipal`: 401 with `WWW-Authenticate: Bearer` when no key or no valid key was presented (RFC 6750
§3: `error="invalid_token"` when one was presented), 403 when the key lacks the scope (`error=
"insufficient_scope"`, `scope=` the one needed). The key is looked up by its public id and compared in
constant time (calsync.services.api_keys); the store is read in a worker thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from calsync.services.api_keys import SCOPES, ApiKeys, ApiPrincipal
from calsync.sync.engine import off_loop
from calsync.web.api.errors import ApiError

KEYS_STATE = "calsync_api_keys"  # app.state attribute holding the ApiKeys (set by install_api)


def _unauthorized(description: str, presented: bool) -> ApiError:
    challenge = 'Bearer realm="calsync"'
    if presented:
        challenge += ', error="invalid_token"'
    return ApiError(401, "authorization", "errors.unauthorized", description, {"WWW-Authenticate": challenge})


def require_scope(scope: str) -> Callable[[Request], Awaitable[ApiPrincipal]]:
    """The dependency that admits keys holding `scope` (admin holds every scope)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def principal(request: Request) -> ApiPrincipal:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if not header:
            raise _unauthorized("send an API key: Authorization: Bearer csk_...", presented=False)
        if kind.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must be: Bearer <API key>", presented=True)
        keys: ApiKeys = getattr(request.app.state, KEYS_STATE)
        found = await off_loop(keys.authenticate, token.strip())
        if found is None:
            raise _unauthorized("the API key is not valid (unknown, mistyped or revoked)", presented=True)
        if not found.allows(scope):
            challenge = f'Bearer realm="calsync", error="insufficient_scope", scope="{scope}"'
            raise ApiError(
                403,
                "scope",
                "errors.forbidden",
                f"this API key lacks the {scope!r} scope (it has: {', '.join(sorted(found.scopes))})",
                {"WWW-Authenticate": challenge},
            )
        request.state.api_principal = found
        return found

    principal.__name__ = f"require_{scope}"
    return principal
