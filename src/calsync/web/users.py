"""Who is signed in: `WebUser` in the session, and the dependencies pages use to require one.

A user is keyed by tenant id + object id (`tid`, `oid` from the id token), never by e-mail or UPN, which
are mutable in Entra (nOAuth, reliability-targets §1.2). `sign_in` regenerates the session first
(fixation), then stores the user; `sign_out` ends the session.

Dependencies for routes:
- `require_admin`: anonymous -> redirect to the admin sign-in (`SignInRequired`), signed in but not an
  administrator -> 403 page (`Forbidden`);
- `user_required(signin_path)`: any signed-in user, else a redirect to `signin_path` (e.g. `/connect`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Literal

from starlette.requests import Request

from calsync.web.errors import Forbidden, SignInRequired
from calsync.web.sessions import end_session, regenerate

__all__ = [
    "ADMIN_SIGNIN",
    "WebUser",
    "current_user",
    "require_admin",
    "sign_in",
    "sign_out",
    "user_required",
]

ADMIN_SIGNIN = "/admin/signin"
SESSION_KEY = "user"


@dataclass(frozen=True, slots=True)
class WebUser:
    """A signed-in person. `via` says how: Entra sign-in, or the one-time bootstrap token (no Entra id)."""

    tenant_id: str
    object_id: str
    name: str
    username: str
    is_admin: bool = False
    via: Literal["entra", "bootstrap"] = "entra"

    @property
    def key(self) -> str:
        """The stable identity: `tid:oid` (or `bootstrap:<n>` for a bootstrap session)."""
        return f"{self.tenant_id}:{self.object_id}"

    @property
    def display(self) -> str:
        """What pages and the audit log show: the name, else the user name."""
        return self.name or self.username or self.key


def sign_in(request: Request, user: WebUser) -> None:
    """Start a new session (new id, new CSRF token, nothing of the old one kept) for `user`."""
    regenerate(request)
    request.session[SESSION_KEY] = asdict(user)


def sign_out(request: Request) -> None:
    """End the session: the cookie is deleted with the response."""
    end_session(request)


def current_user(request: Request) -> WebUser | None:
    """The signed-in user, or None."""
    raw = request.session.get(SESSION_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        return WebUser(**raw)
    except TypeError:  # a cookie written by an older version: treat as signed out
        return None


async def require_admin(request: Request) -> WebUser:
    """FastAPI dependency for administrators' pages (see the module docstring)."""
    user = current_user(request)
    if user is None:
        raise SignInRequired(ADMIN_SIGNIN)
    if not user.is_admin:
        raise Forbidden(
            "These pages are for calsync's administrators. Ask your Microsoft 365 administrator to "
            "assign you the calsync administrator role, then sign out and sign in again."
        )
    return user


def user_required(signin_path: str) -> Callable[[Request], Awaitable[WebUser]]:
    """A FastAPI dependency: the signed-in user, else a redirect to `signin_path?next=<this page>`."""

    async def dependency(request: Request) -> WebUser:
        user = current_user(request)
        if user is None:
            raise SignInRequired(signin_path)
        return user

    return dependency
