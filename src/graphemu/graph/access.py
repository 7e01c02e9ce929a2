"""Who may do what: bearer tokens into principals, permissions, mailbox reachability.

The checks follow graph-facts §1.6, §9 and §10:
- an invalid or expired token is 401 InvalidAuthenticationToken with WWW-Authenticate;
- a missing permission is 403 ErrorAccessDenied "Access is denied. Check credentials and try again.";
- a mailbox outside an application access policy is 403 ErrorAccessDenied "Access to OData is disabled.";
- a user without a mailbox is 404 MailboxNotEnabledForRESTAPI; an unknown user under a mailbox path is
  404 ErrorInvalidUser (or ResourceNotFound, switchable, since which one Graph sends is UNCONFIRMED). The
  directory's `GET users/{key}` does not come here: Entra answers it (graphemu.graph.directory).
"""

from __future__ import annotations

import jwt

from graphemu.errors import GraphError, access_denied, invalid_token
from graphemu.graph.router import Context, Principal
from graphemu.signing import GRAPH_RESOURCE
from graphemu.world import User

# Permissions that satisfy a required one (least privileged first), for app roles and delegated scopes.
IMPLIED: dict[str, tuple[str, ...]] = {
    "Calendars.Read": ("Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic"),
    "Calendars.ReadWrite": ("Calendars.ReadWrite",),
    # findMeetingTimes (delegated only): the .Shared scopes; Calendars.ReadWrite alone is not enough.
    "Calendars.Read.Shared": ("Calendars.Read.Shared", "Calendars.ReadWrite.Shared"),
    "User.Read.All": ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    "GroupMember.Read.All": (
        "GroupMember.Read.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ),
    "User.Read": ("User.Read", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All"),
}


def principal_from_header(ctx: Context, authorization: str | None) -> Principal:
    """Verify the bearer token against the emulator's signing key and clock."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise invalid_token("Access token is empty.")
    token = authorization[7:].strip()
    key = ctx.world.extra.get("signing_key")
    if key is None:  # pragma: no cover - create_app always installs one
        raise invalid_token("CompactToken parsing failed with error code: 80049217")
    try:
        claims = key.verify(token, audience=GRAPH_RESOURCE, now=ctx.world.clock.time())
    except jwt.ExpiredSignatureError:
        raise invalid_token("Lifetime validation failed, the token is expired.") from None
    except jwt.InvalidTokenError:
        raise invalid_token("CompactToken parsing failed with error code: 80049217") from None
    revoked: set[str] = ctx.world.extra.setdefault("revoked_tokens", set())
    if claims.get("uti") in revoked:
        raise invalid_token("Access token has expired or is not yet valid.")
    if claims.get("idtyp") == "user":
        return Principal(
            tenant_id=claims["tid"],
            client_id=claims["appid"],
            scopes=frozenset(str(claims.get("scp", "")).split()),
            user_id=claims["oid"],
        )
    return Principal(
        tenant_id=claims["tid"], client_id=claims["appid"], roles=frozenset(claims.get("roles", []))
    )


def require_permission(principal: Principal, permission: str) -> None:
    """403 unless the token carries the permission or one that implies it."""
    granted = principal.scopes if principal.delegated else principal.roles
    if not granted.intersection(IMPLIED.get(permission, (permission,))):
        raise access_denied()


def resolve_user(ctx: Context, principal: Principal, key: str) -> User:
    """A directory user in the caller's tenant, or the configured 404."""
    user = ctx.world.find_user(key, principal.tenant_id)
    if user is None:
        if ctx.config.unknown_user_error == "ResourceNotFound":
            raise GraphError(404, "ResourceNotFound", "Resource could not be discovered.")
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
    return user


def resolve_mailbox(ctx: Context, principal: Principal, key: str) -> User:
    """The mailbox a calendar route addresses, after tenant, delegation, policy and mailbox checks."""
    user = resolve_user(ctx, principal, key)
    if principal.delegated:
        # Delegated access reaches only the signed-in user's own mailbox (shared calendars are out of scope).
        if user.id != principal.user_id:
            raise access_denied()
    elif not ctx.world.app_may_access(principal.client_id, user.id):
        raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
    if not user.has_mailbox:
        raise GraphError(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    return user
