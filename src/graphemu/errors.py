"""Errors shaped exactly like the real services' (graph-facts §1.1 and §9).

    EmulatorError
    ├── GraphError -> {"error": {"code", "message",
    │                             "innerError": {"date", "request-id", "client-request-id"}}}
    └── AadError   -> {"error", "error_description", "error_codes", "timestamp", "trace_id",
                       "correlation_id", "error_uri"[, "suberror"]}

Handlers raise these; the pipeline turns them into responses, so no handler builds an error body.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any


class EmulatorError(Exception):
    """Base of graphemu's errors."""


class GraphError(EmulatorError):
    """A Graph error response: status, code, message and optional extra headers and innerError fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        inner: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner = inner or {}

    def body(self, now: datetime, request_id: str, client_request_id: str) -> dict[str, Any]:
        inner: dict[str, Any] = {
            "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": client_request_id,
        }
        inner.update(self.inner)
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


def not_found(message: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", message)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def access_denied(message: str = "Access is denied. Check credentials and try again.") -> GraphError:
    return GraphError(403, "ErrorAccessDenied", message)


def invalid_token(message: str) -> GraphError:
    """401 with the WWW-Authenticate header Graph sends (graph-facts §9)."""
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={
            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
            'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        },
    )


# Short descriptions of the AADSTS codes graphemu emits, in the service's wording where known.
AADSTS_TEXT: dict[int, str] = {
    7000215: "Invalid client secret provided. Ensure the secret being sent in the request is the client "
    "secret value, not the client secret ID, for a secret added to app '{client_id}'.",
    7000222: "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to "
    "create new keys for your app.",
    7000218: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    700016: "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
    "happen if the application has not been installed by the administrator of the tenant or consented to by "
    "any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    700027: "Client assertion contains an invalid signature. [Reason - {reason}]",
    700024: "Client assertion is not within its valid time range. Current time: {now}, assertion valid from "
    "{nbf}, expiry time of assertion {exp}.",
    50027: "JWT token is invalid or malformed.",
    50012: "Authentication failed.",
    90002: "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
    "into the correct cloud.",
    70011: "The provided value for the input parameter 'scope' isn't valid. The scope {scope} isn't valid.",
    700022: "The provided value for the input parameter scope is not valid because it contains more than one "
    "resource.",
    65001: "The user or administrator has not consented to use the application with ID '{client_id}'. Send "
    "an interactive authorization request for this user and resource.",
    90094: "The grant requires admin permission.",
    65004: "User declined to consent to access the app.",
    70008: "The provided authorization code or refresh token has expired due to inactivity or has been "
    "revoked. Send a new interactive authorization request for this user and resource.",
    700082: "The refresh token has expired due to inactivity. The token was issued on {issued} and was "
    "inactive for {inactive}.",
    54005: "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
    "existing refresh token.",
    501481: "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    50011: "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
    "configured for the application '{client_id}'.",
    900144: "The request body must contain the following parameter: '{parameter}'.",
    9001023: "The grant type isn't supported over the /common or /consumers endpoints. Please use the "
    "/organizations or tenant-specific endpoint.",
    70000: "The provided value for the 'code' parameter is not valid.",
    50126: "Error validating credentials due to invalid username or password.",
    7000112: "Application '{client_id}' is disabled.",
    # Identity platform (graphemu.identity).
    500011: "The resource principal named {name} was not found in the tenant named {tenant}. This can "
    "happen if the application has not been installed by the administrator of the tenant or consented to by "
    "any user in the tenant. You might have sent your authentication request to the wrong tenant.",
    1002012: "The provided value for scope {scope} is not valid. Client credential flows must have a scope "
    "value with /.default suffixed to the resource identifier (application ID URI).",
    70003: "The app requested an unsupported grant type.",
    9002332: "Application '{client_id}' is configured for use by Microsoft Entra users only. Please do not "
    "use the /consumers endpoint to serve this request.",
    500112: "The reply address '{redirect_uri}' does not match the reply address '{expected}' provided when "
    "requesting Authorization code.",
    9002313: "Invalid request. Request is malformed or invalid.",
    50057: "The user account is disabled.",
    50058: "A silent sign-in request was sent but no user is signed in.",
    50173: "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
    "might have changed or reset their password.",
    700025: "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    50048: "Subject mismatches Issuer claim in the client assertion.",
    700021: "Client assertion application identifier doesn't match 'client_id' parameter.",
    900561: "The endpoint only accepts {verbs} requests. Received a {verb} request.",
    50049: "Unknown or invalid instance.",
    50050: "The request is malformed.",
    70005: "The app returned an unsupported response type.",
    70007: "The app returned an unsupported value of response_mode when requesting a token.",
    90100: "The parameter '{parameter}' is empty or not valid.",
    501491: "Invalid size of Code_Challenge parameter.",
    500113: "No reply address is registered for the application.",
    900971: "No reply address provided.",
    90023: "The authentication service request isn't valid.",
    90130: "The application isn't supported over the /common or /consumers endpoints. Use the /organizations "
    "or tenant-specific endpoint instead.",
}


class AadError(EmulatorError):
    """An identity-platform error: OAuth `error`, AADSTS code, HTTP status and optional suberror."""

    def __init__(
        self,
        error: str,
        code: int,
        status: int = 400,
        *,
        suberror: str | None = None,
        **fmt: str,
    ) -> None:
        template = AADSTS_TEXT.get(code, "Error.")
        try:
            text = template.format(**fmt)
        except KeyError:
            text = template
        super().__init__(f"AADSTS{code}: {text}")
        self.error = error
        self.code = code
        self.status = status
        self.suberror = suberror
        self.text = f"AADSTS{code}: {text}"

    def body(self, now: datetime) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        body: dict[str, Any] = {
            "error": self.error,
            "error_description": f"{self.text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\n"
            f"Timestamp: {stamp}",
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }
        if self.suberror:
            body["suberror"] = self.suberror
        return body

    def json(self, now: datetime) -> bytes:
        return json.dumps(self.body(now)).encode()
