"""Client assertions: JWTs signed with a certificate's private key (ED certificate-credentials.md).

What real clients send, and so what is accepted (graph-facts §1.1 and §1.5, OBS):
- `alg` PS256 with `x5t#S256`, or RS256 with `x5t` (SHA-1); MSAL pads thumbprints with '=', so
  thumbprints are compared after stripping padding; `x5c` may carry newlines and is not needed
  (the certificate is looked up by thumbprint among the app's uploaded certificates);
- no `kid`, no `nbf`, and `iat`/`exp` as floats;
- `aud` is the token endpoint as discovery advertised it; the `login.microsoftonline.com` spelling of
  it (tenant GUID or the path's tenant) is accepted too, as is the v1 token endpoint;
- `iss` = `sub` = client_id.

Errors are `invalid_client` with HTTP 401:
- no matching certificate, or a bad signature: AADSTS700027 (with the reason in brackets);
- expired, or not yet valid: AADSTS700024;
- malformed, or the wrong audience: AADSTS50027 (its documented reasons include "unexpected audience").

CHOICE: 5 minutes of clock skew are allowed on `exp` and `nbf`.
CHOICE: `sub` differing from `iss` is AADSTS50048 (documented SubjectMismatchesIssuer); `iss`
differing from client_id is AADSTS700021 (the wording seen in service logs).
CHOICE: `jti` replay is not rejected: Entra does not document it, and MSAL signs a fresh jti each time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from graphemu.errors import AadError
from graphemu.identity.common import same_url
from graphemu.world import AppRegistration, ClientCertificate

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("PS256", "RS256")
SKEW_SECONDS = 300


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _thumb(value: Any) -> str:
    """A header thumbprint normalised: base64url without padding (standard base64 tolerated)."""
    return str(value).strip().rstrip("=").replace("+", "-").replace("/", "_")


def _invalid(code: int, **fmt: str) -> AadError:
    return AadError("invalid_client", code, 401, **fmt)


def _find_certificate(app: AppRegistration, header: dict[str, Any]) -> ClientCertificate:
    s256, s1 = header.get("x5t#S256"), header.get("x5t")
    for cert in app.certificates:
        if s256 is not None and _thumb(s256) == _b64u(cert.sha256):
            return cert
        if s256 is None and s1 is not None and _thumb(s1) == _b64u(cert.sha1):
            return cert
    raise _invalid(700027, reason="The key was not found.")


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(50027)
    return float(value)


def verify_assertion(
    assertion: str,
    app: AppRegistration,
    *,
    audiences: Iterable[str],
    now: float,
) -> dict[str, Any]:
    """Verify a client assertion for `app`; return its claims or raise the AADSTS error Entra would."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise _invalid(50027) from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise _invalid(50027)
    cert = _find_certificate(app, header)
    if cert.expires is not None and cert.expires.timestamp() < now:
        raise _invalid(700027, reason="The key used is expired.")
    public_key = x509.load_der_x509_certificate(cert.der).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):  # pragma: no cover - uploads are RSA certificates
        raise _invalid(700027, reason="The key was not found.")
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            public_key,
            algorithms=[alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise _invalid(
            700027, reason="The provided signature value did not match the expected signature value."
        ) from None
    except (jwt.InvalidTokenError, json.JSONDecodeError, ValueError):
        raise _invalid(50027) from None
    exp, nbf = _numeric(claims, "exp"), _numeric(claims, "nbf")
    if exp is None:
        raise _invalid(50027)
    if exp + SKEW_SECONDS < now or (nbf is not None and nbf - SKEW_SECONDS > now):
        raise _invalid(700024, now=_stamp(now), nbf=_stamp(nbf if nbf is not None else now), exp=_stamp(exp))
    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and any(same_url(a, ok) for ok in audiences) for a in aud_values):
        raise _invalid(50027)
    if claims.get("sub") != claims.get("iss"):
        raise _invalid(50048)
    if claims.get("iss") != app.client_id:
        raise _invalid(700021)
    return claims


def _stamp(value: float) -> str:
    """The service's time format in AADSTS700024, e.g. 2019-12-15T06:56:37.0000000Z."""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
