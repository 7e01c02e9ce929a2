"""Authorization codes and refresh tokens: issued, redeemed, rotated and revoked.

State lives in `world.extra["auth_codes"]` and `world.extra["refresh_tokens"]`, keyed by the opaque
value handed out, as plain JSON dicts (the dataclasses below are views), so `graphemu.snapshot` saves
them and refresh tokens survive an emulator restart.

Rules (graph-facts §1.1, ED v2-oauth2-auth-code-flow.md, ED reference-error-codes.md):
- a code lives `config.auth_code_seconds` (about 10 minutes): afterwards AADSTS70008; a second
  redemption is AADSTS54005; an unknown code, or one issued to another client, is AADSTS70000.
  A code is bound to its app, and apps to their home tenant, so a code cannot cross tenants;
- refresh tokens expire after `config.refresh_token_inactive_days` without use: AADSTS700082 with
  suberror `bad_token`. Each use returns a new refresh token.
- `config.refresh_token_mode`: "entra" keeps the used token valid (the documented behaviour);
  "strict-rotation" revokes it, and presenting a revoked token again revokes its whole family
  (every token descended from one sign-in), as OAuth 2.1 recommends for replay detection.

CHOICE: a revoked family answers AADSTS70008 ("expired or revoked grant"); tokens revoked by an
administrator (`/_emu/revoke-refresh-tokens`, like revokeSignInSessions) answer AADSTS50173
(FreshTokenNeeded, documented for exactly that case). Both are `invalid_grant`.
CHOICE: an unknown or malformed refresh token is AADSTS9002313 ("Request is malformed or invalid"),
the code seen in service logs for garbage tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from graphemu.config import EmulatorConfig
from graphemu.errors import AadError
from graphemu.world import World

RevokedReason = Literal["rotation", "family", "admin"]


@dataclass
class AuthCode:
    """What /authorize decided, waiting to be redeemed at the token endpoint."""

    client_id: str
    tenant_id: str
    user_id: str
    redirect_uri: str
    scope: str  # the scope parameter as sent to /authorize
    issued: float
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str = "plain"
    redeemed: bool = False


@dataclass
class RefreshGrant:
    """One refresh token. `family` ties together all tokens descended from one sign-in."""

    client_id: str
    tenant_id: str
    user_id: str
    scope: str  # scope parameter of the original grant (Graph permissions plus OpenID scopes)
    issued: float
    last_used: float
    family: str
    nonce: str | None = None
    revoked: RevokedReason | None = None


def _codes(world: World) -> dict[str, dict[str, Any]]:
    codes: dict[str, dict[str, Any]] = world.extra.setdefault("auth_codes", {})
    return codes


def _tokens(world: World) -> dict[str, dict[str, Any]]:
    tokens: dict[str, dict[str, Any]] = world.extra.setdefault("refresh_tokens", {})
    return tokens


def _opaque(prefix: str, size: int) -> str:
    """An opaque value shaped like Entra's ("0.A..." base64url)."""
    return f"{prefix}{base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b'=').decode()}"


def issue_code(world: World, code: AuthCode) -> str:
    value = _opaque("0.A", 96)
    codes = _codes(world)
    codes[value] = asdict(code)
    if len(codes) % 256 == 0:  # forget codes older than an hour, so long runs do not grow without bound
        for key in [k for k, c in codes.items() if code.issued - c["issued"] > 3600]:
            del codes[key]
    return value


def redeem_code(world: World, config: EmulatorConfig, value: str | None, *, client_id: str) -> AuthCode:
    """Look a code up and check it is still redeemable. The caller marks it redeemed (`mark_redeemed`)
    once every other check of the request passed, so a request failing for another reason does not
    burn the code."""
    if not value:
        raise AadError("invalid_request", 900144, parameter="code")
    stored = _codes(world).get(value)
    if stored is None or stored["client_id"] != client_id:
        raise AadError("invalid_grant", 70000)
    code = AuthCode(**stored)
    if code.redeemed:
        raise AadError("invalid_grant", 54005)
    if world.clock.time() - code.issued > config.auth_code_seconds:
        raise AadError("invalid_grant", 70008)
    return code


def mark_redeemed(world: World, value: str) -> None:
    _codes(world)[value]["redeemed"] = True


def check_pkce(code: AuthCode, verifier: str | None) -> None:
    """RFC 7636: S256 compares base64url(SHA-256(verifier)); plain compares the strings. A missing
    verifier when a challenge was sent is a mismatch (AADSTS501481); a verifier without a challenge
    is ignored."""
    if code.code_challenge is None:
        return
    if not verifier:
        raise AadError("invalid_grant", 501481)
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    if not hmac.compare_digest(expected.encode(), code.code_challenge.encode()):
        raise AadError("invalid_grant", 501481)


def issue_refresh(world: World, grant: RefreshGrant) -> str:
    value = _opaque("1.A", 160)
    _tokens(world)[value] = asdict(grant)
    return value


def use_refresh(world: World, config: EmulatorConfig, value: str | None, *, client_id: str) -> RefreshGrant:
    """Check a refresh token; in strict-rotation mode a revoked token's reuse revokes its family."""
    if not value:
        raise AadError("invalid_request", 900144, parameter="refresh_token")
    stored = _tokens(world).get(value)
    if stored is None:
        raise AadError("invalid_grant", 9002313)
    grant = RefreshGrant(**stored)
    if grant.client_id != client_id:
        raise AadError("invalid_grant", 70000)
    if grant.revoked == "admin":
        raise AadError("invalid_grant", 50173)
    if grant.revoked is not None:
        if grant.revoked == "rotation":
            revoke_family(world, grant.family)
        raise AadError("invalid_grant", 70008)
    now = world.clock.time()
    days = config.refresh_token_inactive_days
    if now - grant.last_used > days * 86400:
        issued = datetime.fromtimestamp(grant.issued, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        raise AadError(
            "invalid_grant", 700082, suberror="bad_token", issued=issued, inactive=f"{days}.00:00:00"
        )
    user = world.users.get(grant.user_id)
    if user is None or not user.account_enabled:
        raise AadError("invalid_grant", 50057)
    return grant


def after_use(world: World, config: EmulatorConfig, value: str) -> None:
    """Record a successful use: activity for "entra", revocation of the used token for strict rotation."""
    stored = _tokens(world)[value]
    stored["last_used"] = world.clock.time()
    if config.refresh_token_mode == "strict-rotation":  # noqa: S105 - a mode name, not a secret
        stored["revoked"] = "rotation"


def revoke_family(world: World, family: str) -> int:
    """Revoke every token descended from one sign-in. Returns how many were revoked."""
    return _revoke(world, "family", lambda g: g["family"] == family)


def revoke_user(world: World, user_id: str) -> int:
    """Revoke every refresh token of a user (what revokeSignInSessions does). Returns how many."""
    return _revoke(world, "admin", lambda g: g["user_id"] == user_id)


def _revoke(world: World, reason: RevokedReason, match: Callable[[dict[str, Any]], bool]) -> int:
    count = 0
    for grant in _tokens(world).values():
        if match(grant) and grant["revoked"] != "admin":
            grant["revoked"] = reason
            count += 1
    return count


def new_family() -> str:
    return secrets.token_hex(8)
