"""Identity-platform failures as exceptions that say what to do (AADSTS codes, graph-facts §1.1).

msal returns errors as dicts (`{"error", "error_description", "error_codes", ...}`); `auth_error` turns one
into the most specific class below. Each class carries a `hint`, one sentence for an administrator, which the
CLI prints as is. Descriptions are stored redacted: Entra appends Trace/Correlation IDs and timestamps (noise
in logs) and nothing token-shaped may ever reach a log line.

    AuthError (a GraphClientError)         aadsts, error, suberror, description (redacted), hint
    ├── InvalidClientSecret   7000215      not a secret of the app (its *ID*, when it looks like one)
    ├── ClientSecretExpired   7000222      the secret expired
    ├── CertificateNotRegistered 700027    the certificate is not uploaded to the app (or key mismatch)
    ├── CertificateExpired    700027       ... "The key used is expired", or the certificate's notAfter passed
    ├── AppNotFound           700016       wrong client id, or the app is not in this tenant
    ├── ConsentRequired       65001, 90094 admin consent missing; .admin_consent_url to print
    └── ReconnectRequired     700082, 70008, 50173, or no cached sign-in: the user must sign in again
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from calsync.graph.errors import GraphClientError

__all__ = [
    "AppNotFound",
    "AuthError",
    "CertificateExpired",
    "CertificateNotRegistered",
    "ClientSecretExpired",
    "ConsentRequired",
    "InvalidClientSecret",
    "ReconnectRequired",
    "auth_error",
    "redact_description",
]

# Hints for codes that have no class of their own (ED:reference-error-codes.md).
_OTHER_HINTS: dict[int, str] = {
    7000218: "No credential was sent: configure a client secret or a certificate for the app.",
    700024: "The client assertion is outside its valid time range: check this machine's clock.",
    90002: "The tenant was not found: check tenant_id (a GUID or a verified domain).",
    9001023: "App-only tokens need a tenant-specific authority, not /common or /consumers.",
    70011: "The scope is invalid: app-only tokens use https://graph.microsoft.com/.default.",
    700022: "All scopes of one token request must belong to one resource (Microsoft Graph).",
    65004: "The user declined consent: ask them to sign in again and accept.",
    53003: "Blocked by a Conditional Access policy: ask the tenant administrator to exclude calsync.",
    50076: "Multi-factor authentication is required: sign in interactively again.",
    50079: "Multi-factor authentication registration is required: sign in interactively again.",
    50011: "The redirect URI does not match the app registration: add it under Authentication.",
    54005: "The authorization code was already redeemed: start the sign-in again.",
    501481: "The PKCE code verifier did not match: start the sign-in again.",
}
_AADSTS = re.compile(r"AADSTS(\d+)")
_JWT = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_OPAQUE = re.compile(r"[A-Za-z0-9~_.+=-]{31,}[A-Za-z0-9~_+=-]")  # a sentence's final dot is not part of it
_EXPIRED_KEY = re.compile(r"key used is expired", re.I)  # Entra's reason for an expired certificate
_TAIL = re.compile(r"\s*(Trace ID|Correlation ID|Timestamp):.*", re.DOTALL)


class AuthError(GraphClientError):
    """The identity platform (or msal) refused to give a token.

    Attributes:
        aadsts: the AADSTS code (e.g. 7000215), or None when there was none.
        error: the OAuth `error` value (invalid_client, invalid_grant, ...).
        suberror: Entra's `suberror` (e.g. consent_required), or None.
        description: the error description, redacted (see `redact_description`).
        hint: what an administrator should do next, in one sentence.
    """

    codes: ClassVar[frozenset[int]] = frozenset()
    default_hint: ClassVar[str] = "The identity platform refused the token request; see the description."

    def __init__(
        self,
        description: str = "",
        *,
        aadsts: int | None = None,
        error: str = "",
        suberror: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.aadsts = aadsts
        self.error = error
        self.suberror = suberror
        self.description = redact_description(description)
        self.hint = hint or _OTHER_HINTS.get(aadsts or 0) or self.default_hint
        prefix = f"AADSTS{aadsts} " if aadsts else ""
        super().__init__(f"{prefix}{error}: {self.hint}".strip())


class InvalidClientSecret(AuthError):
    """AADSTS7000215: the configured value is not the client secret."""

    codes = frozenset({7000215})
    default_hint = (
        "Invalid client secret: the configured value is not a secret of the app (mistyped, another app's, "
        "or deleted). Copy the secret's Value (shown once, when it is created) from the app's Certificates "
        "& secrets page."
    )
    # Only when the configured secret is shaped like an id (a GUID): blaming the ID otherwise sends the
    # administrator looking for a mistake they did not make.
    id_hint: ClassVar[str] = (
        "Invalid client secret: you gave the secret ID, not its value. Copy the secret's Value (shown "
        "once, when it is created) from the app's Certificates & secrets page."
    )


class ClientSecretExpired(AuthError):
    """AADSTS7000222: the client secret has expired."""

    codes = frozenset({7000222})
    default_hint = (
        "The client secret has expired: create a new secret under Certificates & secrets and update "
        "calsync's configuration with its value."
    )


class CertificateNotRegistered(AuthError):
    """AADSTS700027: the assertion's certificate is not registered on the app (or the key does not match)."""

    codes = frozenset({700027})
    default_hint = (
        "The certificate is not registered on the app: upload the public certificate (.pem/.cer) under "
        "Certificates & secrets and check that its thumbprint matches the key calsync uses."
    )


class CertificateExpired(AuthError):
    """AADSTS700027 for an expired key: the certificate's notAfter (or the registration's end date) passed.

    Entra gives it the code of an unregistered certificate and tells it apart only in the description's
    reason ("The key used is expired"); `auth_error` also knows it from the certificate's own notAfter,
    so the administrator renews the certificate instead of searching the portal for a missing upload.
    """

    codes = frozenset()  # chosen by `auth_error`, never by code alone
    default_hint = (
        "The certificate has expired: create a new one (calsync cert create), upload its public part under "
        "Certificates & secrets, and point certificate_file and private_key_file at it."
    )


class AppNotFound(AuthError):
    """AADSTS700016: no app with this client id in the tenant."""

    codes = frozenset({700016})
    default_hint = (
        "No application with this client id exists in the tenant: check client_id and tenant_id, and that "
        "the app has been consented in this tenant."
    )


class ConsentRequired(AuthError):
    """AADSTS65001/90094: the permissions were never consented.

    Attributes:
        admin_consent_url: the URL an administrator opens to grant consent, when known.
    """

    codes = frozenset({65001, 90094})
    default_hint = "An administrator must grant consent to calsync's permissions: open the admin-consent URL."
    admin_consent_url: str | None = None


class ReconnectRequired(AuthError):
    """AADSTS700082/70008/50173, or no usable sign-in in the cache: the user must sign in again."""

    codes = frozenset({700082, 70008, 50173})
    default_hint = "The sign-in has expired or was revoked: reconnect the mailbox (sign in again)."


_CLASSES: tuple[type[AuthError], ...] = (
    InvalidClientSecret,
    ClientSecretExpired,
    CertificateNotRegistered,
    AppNotFound,
    ConsentRequired,
    ReconnectRequired,
)


def auth_error(
    result: Mapping[str, Any],
    *,
    admin_consent_url: str | None = None,
    secret_looks_like_id: bool = False,
    certificate_expired: datetime | None = None,
) -> AuthError:
    """The exception for an msal error dict (or a token endpoint's JSON error body).

    `secret_looks_like_id`: the configured client secret is shaped like a secret's ID (see
    `ClientSecretCredential.looks_like_secret_id`), so a refused secret gets the "ID, not its value" hint.
    `certificate_expired`: the configured certificate's notAfter, when it has passed: a refused
    certificate is then reported as expired (`CertificateExpired`), as it is when Entra's reason says so.
    """
    description = str(result.get("error_description") or "")
    codes = [int(c) for c in result.get("error_codes") or [] if isinstance(c, int | str) and str(c).isdigit()]
    if not codes:
        codes = [int(m) for m in _AADSTS.findall(description)]
    suberror = result.get("suberror")
    cls: type[AuthError] = AuthError
    for code in codes:
        found = next((c for c in _CLASSES if code in c.codes), None)
        if found is not None:
            cls = found
            break
    if cls is AuthError and suberror == "consent_required":
        cls = ConsentRequired
    hint = InvalidClientSecret.id_hint if cls is InvalidClientSecret and secret_looks_like_id else None
    if cls is CertificateNotRegistered and (certificate_expired or _EXPIRED_KEY.search(description)):
        cls = CertificateExpired
        if certificate_expired is not None:
            on = certificate_expired.date().isoformat()
            hint = CertificateExpired.default_hint.replace("has expired:", f"expired on {on}:", 1)
    exc = cls(
        description,
        aadsts=codes[0] if codes else None,
        error=str(result.get("error") or ""),
        suberror=str(suberror) if suberror else None,
        hint=hint,
    )
    if isinstance(exc, ConsentRequired):
        exc.admin_consent_url = admin_consent_url
        if admin_consent_url:
            exc.hint = f"{exc.hint} {admin_consent_url}"
    return exc


def redact_description(text: str) -> str:
    """An Entra error description fit for logs: first the message only (Trace ID, Correlation ID and
    Timestamp dropped), then anything token-shaped (JWTs, long opaque strings other than GUIDs) masked."""
    text = _TAIL.sub("", text).strip()
    text = _JWT.sub("[redacted]", text)
    return _OPAQUE.sub(_mask_opaque, text)


def _mask_opaque(match: re.Match[str]) -> str:
    value = match.group(0)
    if _GUID.match(value) or not any(c.isdigit() for c in value):
        return value  # ids and plain words/host names stay readable
    return "[redacted]"
