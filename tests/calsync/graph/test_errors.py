"""The error tree: Graph error responses and identity-platform error dicts become the right exceptions."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from calsync.graph import (
    AppNotFound,
    AuthError,
    BadRequest,
    CertificateExpired,
    CertificateNotRegistered,
    ClientSecretCredential,
    ClientSecretExpired,
    Conflict,
    ConsentRequired,
    Forbidden,
    GraphClientError,
    HTTPStatusError,
    InvalidClientSecret,
    InvalidUser,
    MailboxNotEnabled,
    NotFound,
    PreconditionFailed,
    ReconnectRequired,
    ServerError,
    SyncStateNotFound,
    Throttled,
    Unauthorized,
    parse_retry_after,
)
from calsync.graph.autherrors import auth_error, redact_description
from calsync.graph.errors import graph_error

from .conftest import graph_error_response


def classify(response: httpx.Response) -> HTTPStatusError:
    return graph_error(response.status_code, response.headers, response.content)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "ErrorInvalidParameter", BadRequest),
        (401, "InvalidAuthenticationToken", Unauthorized),
        (403, "ErrorAccessDenied", Forbidden),
        (404, "ErrorItemNotFound", NotFound),
        (404, "ResourceNotFound", NotFound),
        (404, "MailboxNotEnabledForRESTAPI", MailboxNotEnabled),
        (404, "ErrorInvalidUser", InvalidUser),
        (409, "ErrorFolderExists", Conflict),
        (410, "", SyncStateNotFound),
        (400, "syncStateNotFound", SyncStateNotFound),
        (400, "SyncStateNotFound", SyncStateNotFound),
        (400, "resyncRequired", SyncStateNotFound),
        (412, "ErrorIrresolvableConflict", PreconditionFailed),
        (429, "ApplicationThrottled", Throttled),
        (500, "generalException", ServerError),
        (503, "ServiceUnavailable", ServerError),
        (507, "ErrorQuotaExceeded", ServerError),
        (418, "Teapot", HTTPStatusError),
    ],
)
def test_graph_errors_map_to_classes(status: int, code: str, expected: type[HTTPStatusError]) -> None:
    """Each documented status/code pair becomes its class, with status and code kept."""
    error = classify(graph_error_response(status, code, "message"))
    assert type(error) is expected
    assert (error.status, error.code) == (status, code)
    assert isinstance(error, GraphClientError)


def test_mailbox_errors_are_not_not_found() -> None:
    """An unreachable mailbox is never confused with an item that is already gone."""
    assert not issubclass(MailboxNotEnabled, NotFound)
    assert not issubclass(InvalidUser, NotFound)


def test_request_ids_are_kept() -> None:
    """Graph's request-id header (or innerError value) and the client-request-id are kept on the error."""
    response = httpx.Response(
        404,
        json={"error": {"code": "ErrorItemNotFound", "message": "x", "innerError": {"request-id": "inner"}}},
        headers={"request-id": "outer", "client-request-id": "mine"},
    )
    error = classify(response)
    assert (error.request_id, error.client_request_id) == ("outer", "mine")
    assert classify(httpx.Response(404, json=response.json())).request_id == "inner"


def test_access_policy_is_surfaced() -> None:
    """403 "Access to OData is disabled." is flagged as an access-policy exclusion, other 403s are not."""
    policy = classify(graph_error_response(403, "ErrorAccessDenied", "Access to OData is disabled."))
    plain = classify(graph_error_response(403, "ErrorAccessDenied", "Access is denied. Check credentials."))
    assert isinstance(policy, Forbidden)
    assert policy.access_policy
    assert isinstance(plain, Forbidden)
    assert not plain.access_policy


def test_throttled_carries_fractional_retry_after() -> None:
    """A 429's Retry-After is parsed, fractional values included."""
    error = classify(graph_error_response(429, "TooManyRequests", headers={"Retry-After": "2.128"}))
    assert isinstance(error, Throttled)
    assert error.retry_after == pytest.approx(2.128)
    assert isinstance(e := classify(graph_error_response(429, "TooManyRequests")), Throttled)
    assert e.retry_after is None


def test_server_error_with_retry_after_and_non_json_body() -> None:
    """A 503 with Retry-After keeps it; a body that is not JSON still gives a ServerError."""
    error = classify(httpx.Response(503, text="<html>busy</html>", headers={"Retry-After": "0.249"}))
    assert isinstance(error, ServerError)
    assert error.retry_after == pytest.approx(0.249)
    assert error.code == ""


def test_sync_state_not_found_keeps_location() -> None:
    """A 410 keeps the reset URL Graph may send in Location."""
    error = classify(httpx.Response(410, headers={"Location": "https://graph.microsoft.com/v1.0/reset"}))
    assert isinstance(error, SyncStateNotFound)
    assert error.location == "https://graph.microsoft.com/v1.0/reset"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10", 10.0),
        ("2.128", 2.128),
        ("0.249", 0.249),
        (" 1 ", 1.0),
        ("-3", 0.0),
        ("soon", None),
        (None, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    """Retry-After as delta-seconds, fractional allowed; junk is None; never negative."""
    assert parse_retry_after(value) == (pytest.approx(expected) if expected is not None else None)


def test_parse_retry_after_http_date() -> None:
    """Retry-After as an HTTP-date gives the seconds until then."""
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)


# -- identity platform ---------------------------------------------------------------------------


def entra_error(code: int, error: str = "invalid_client", **extra: object) -> dict[str, object]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: Something happened.\r\nTrace ID: 0000\r\n"
        "Correlation ID: 1111\r\nTimestamp: 2025-01-01 00:00:00Z",
        "error_codes": [code],
        "trace_id": "0000",
        "correlation_id": "1111",
        **extra,
    }


@pytest.mark.parametrize(
    ("code", "cls", "words"),
    [
        (7000215, InvalidClientSecret, "not a secret of the app"),
        (7000222, ClientSecretExpired, "expired"),
        (700027, CertificateNotRegistered, "upload the public certificate"),
        (700016, AppNotFound, "client_id and tenant_id"),
        (65001, ConsentRequired, "consent"),
        (90094, ConsentRequired, "consent"),
        (700082, ReconnectRequired, "reconnect"),
        (70008, ReconnectRequired, "reconnect"),
    ],
)
def test_aadsts_codes_give_hints(code: int, cls: type[AuthError], words: str) -> None:
    """Every AADSTS failure calsync meets becomes its class with a hint saying what to do."""
    error = auth_error(entra_error(code))
    assert type(error) is cls
    assert error.aadsts == code
    assert words in error.hint
    assert "Trace ID" not in error.description
    assert "Correlation ID" not in error.description
    assert isinstance(error, GraphClientError)


@pytest.mark.parametrize(
    ("secret", "looks_like_id"),
    [
        ("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", True),
        (" {0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0} ", True),
        ("0f1e2d3c4b5a49688776a5b4c3d2e1f0", True),
        ("s3cret~Value.for-tests_0123456789abcdef", False),
        ("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0x", False),
    ],
)
def test_the_secret_id_hint_only_for_a_secret_that_looks_like_an_id(secret: str, looks_like_id: bool) -> None:
    """AADSTS7000215 blames the secret ID only when the configured secret is shaped like one (a GUID)."""
    credential = ClientSecretCredential.from_value(secret)
    assert credential.looks_like_secret_id() is looks_like_id
    error = auth_error(entra_error(7000215), secret_looks_like_id=credential.looks_like_secret_id())
    assert type(error) is InvalidClientSecret
    assert ("secret ID, not its value" in error.hint) is looks_like_id
    assert ("secret ID, not its value" in str(error)) is looks_like_id
    assert secret.strip() not in str(error)


def test_an_expired_key_is_not_an_unregistered_certificate() -> None:
    """AADSTS700027 names two failures; "The key used is expired" is told as an expiry."""

    def refusal(reason: str) -> dict[str, object]:
        text = f"AADSTS700027: Client assertion failed signature validation. [Reason - {reason}]"
        return {**entra_error(700027), "error_description": text}

    error = auth_error(refusal("The key used is expired."))
    assert type(error) is CertificateExpired
    assert "expired" in error.hint
    assert type(auth_error(refusal("The key was not found."))) is CertificateNotRegistered


def test_consent_required_carries_admin_consent_url() -> None:
    """A consent failure carries the admin-consent URL, also from suberror alone."""
    url = "https://login.microsoftonline.com/t/v2.0/adminconsent?client_id=c"
    error = auth_error({"error": "invalid_grant", "suberror": "consent_required"}, admin_consent_url=url)
    assert isinstance(error, ConsentRequired)
    assert error.admin_consent_url == url
    assert url in error.hint


def test_code_found_in_description_when_no_error_codes() -> None:
    """Without error_codes, the AADSTS code is read from the description."""
    error = auth_error({"error": "invalid_client", "error_description": "AADSTS7000222: The secret expired."})
    assert isinstance(error, ClientSecretExpired)


def test_unknown_code_is_generic_auth_error_with_hint() -> None:
    """Other codes give an AuthError, with a specific hint where one is known."""
    error = auth_error(entra_error(700024))
    assert type(error) is AuthError
    assert "clock" in error.hint
    assert type(auth_error({"error": "server_error"})) is AuthError


def test_descriptions_are_redacted() -> None:
    """Descriptions lose trace ids and anything token-shaped, but keep GUIDs and words."""
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    secret = "Abc8Q~0123456789abcdefghijklmnopqrstuvwx"
    text = f"AADSTS50000: bad {jwt} and {secret} for app 11111111-2222-4333-8444-555555555555.\r\nTrace ID: 1"
    redacted = redact_description(text)
    assert jwt not in redacted
    assert secret not in redacted
    assert "11111111-2222-4333-8444-555555555555" in redacted
    assert "Trace ID" not in redacted
    assert "[redacted]" in redacted
