"""Client authentication at the token endpoint: a secret (body or HTTP Basic) or a client assertion.

Secret checks (graph-facts §1.1, errors `invalid_client`, HTTP 401):
- the Secret ID (`key_id`) sent instead of the value, or an unknown value: AADSTS7000215;
- the value of an expired secret: AADSTS7000222;
- no credential from a confidential client: AADSTS7000218. graph-facts lists it as invalid_request,
  but recorded service responses show `"error":"invalid_client"` with HTTP 401
  (haystackeditor/haystack-editor#41, Azure/azure-sdk-for-go#22386), so that is what graphemu sends.
- a credential from a public client: AADSTS700025.
The secret may come in the body (`client_secret`, what MSAL sends) or in HTTP Basic auth with the
client_id and secret form-urlencoded first (RFC 6749 §2.3.1).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from typing import Literal
from urllib.parse import unquote_plus

from graphemu.errors import AadError
from graphemu.identity.assertions import JWT_BEARER, verify_assertion
from graphemu.world import AppRegistration

ClientAuth = Literal["secret", "assertion", "none"]


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, secret) from an HTTP Basic header, or None."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AadError("invalid_client", 7000215, 401, client_id="") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise AadError("invalid_client", 7000215, 401, client_id="")
    return unquote_plus(client_id), unquote_plus(secret)


def check_secret(app: AppRegistration, value: str, now: float) -> None:
    """Accept a current secret's value; anything else raises the matching AADSTS error."""
    for secret in app.secrets:
        if hmac.compare_digest(secret.value.encode(), value.encode()):
            if secret.expires is not None and secret.expires.timestamp() <= now:
                raise AadError("invalid_client", 7000222, 401, client_id=app.client_id)
            return
    raise AadError("invalid_client", 7000215, 401, client_id=app.client_id)


def authenticate_client(
    app: AppRegistration,
    form: dict[str, str],
    authorization: str | None,
    *,
    audiences: Iterable[str],
    now: float,
) -> ClientAuth:
    """Authenticate the caller as `app`. Confidential apps must present a credential; public ones must not."""
    basic = basic_credentials(authorization)
    secret = form.get("client_secret")
    if secret is None and basic is not None:
        secret = basic[1]
    assertion_type = form.get("client_assertion_type")
    assertion = form.get("client_assertion")
    presented = bool(secret) or bool(assertion)
    if app.public_client:
        if presented:
            raise AadError("invalid_client", 700025, 401)
        return "none"
    if assertion:
        if assertion_type != JWT_BEARER:
            raise AadError("invalid_request", 900144, parameter="client_assertion_type")
        verify_assertion(assertion, app, audiences=audiences, now=now)
        return "assertion"
    if secret:
        check_secret(app, secret, now)
        return "secret"
    raise AadError("invalid_client", 7000218, 401)
