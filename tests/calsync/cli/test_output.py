"""Human text and exit codes for calsync.graph's errors (calsync.cli.output), without a server."""

from __future__ import annotations

import httpx
import pytest
import requests
import typer

from calsync.cli.output import fail
from calsync.graph import (
    ConsentRequired,
    Forbidden,
    GraphClientError,
    Indeterminate,
    MailboxNotEnabled,
    Throttled,
    TransportError,
    Unauthorized,
)
from calsync.graph.autherrors import auth_error


def rendered(exc: Exception, capsys: pytest.CaptureFixture[str]) -> tuple[str, int]:
    with pytest.raises(typer.Exit) as raised:
        fail(exc)
    return " ".join(capsys.readouterr().err.split()), raised.value.exit_code


def test_consent_required_prints_hint_and_admin_consent_url(capsys: pytest.CaptureFixture[str]) -> None:
    """ConsentRequired: exit 4 with the hint and the admin-consent URL."""
    url = "https://login.microsoftonline.com/t/v2.0/adminconsent?client_id=c"
    exc = auth_error({"error": "invalid_grant", "error_codes": [65001]}, admin_consent_url=url)
    assert isinstance(exc, ConsentRequired)
    text, code = rendered(exc, capsys)
    assert code == 4
    assert "AADSTS65001" in text
    assert url in text


def test_auth_description_is_shown_redacted_and_not_read_as_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token-shaped value in a description stays masked, and '[redacted]' survives Rich's markup."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    exc = auth_error({"error": "invalid_client", "error_description": f"AADSTS7000222: expired {token}"})
    text, code = rendered(exc, capsys)
    assert code == 4
    assert token not in text
    assert "[redacted]" in text
    assert "expired" in text


@pytest.mark.parametrize(
    ("exc", "code", "expected"),
    [
        (
            Unauthorized(401, "InvalidAuthenticationToken", "Access token has expired."),
            4,
            "rejected the access",
        ),
        (
            Forbidden(403, "ErrorAccessDenied", "Access to OData is disabled."),
            4,
            "Test-ApplicationAccessPolicy",
        ),
        (Forbidden(403, "ErrorAccessDenied", "Access is denied."), 4, "calsync auth test"),
        (MailboxNotEnabled(404, "MailboxNotEnabledForRESTAPI", "inactive"), 5, "no usable Exchange Online"),
        (GraphClientError("malformed @odata.nextLink"), 5, "Microsoft Graph: malformed"),
    ],
)
def test_graph_errors_have_text_and_exit_codes(
    exc: Exception, code: int, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each Graph error class renders its own advice with exit 4 (access) or 5 (Graph)."""
    text, exit_code = rendered(exc, capsys)
    assert exit_code == code
    assert expected in text


def test_throttled_names_the_wait(capsys: pytest.CaptureFixture[str]) -> None:
    """Throttled: exit 5, the Retry-After and the request id."""
    exc = Throttled(429, "TooManyRequests", "slow down", request_id="req-1")
    exc.retry_after = 2.5
    text, code = rendered(exc, capsys)
    assert code == 5
    assert "2.5 s" in text
    assert "req-1" in text


def test_transport_errors_name_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    """TransportError says which host could not be reached (httpx or msal's requests underneath)."""
    request = httpx.Request("GET", "https://graph.example.net/v1.0/users")
    try:
        raise TransportError("GET /users: not sent (ConnectError)") from httpx.ConnectError(
            "refused", request=request
        )
    except TransportError as exc:
        text, code = rendered(exc, capsys)
    assert code == 5
    assert "cannot reach graph.example.net" in text
    prepared = requests.Request("POST", "https://login.example.org/t/oauth2/v2.0/token").prepare()
    try:
        cause = requests.ConnectionError("refused", request=prepared)
        raise TransportError("identity platform unreachable (ConnectionError)") from cause
    except TransportError as exc:
        text, _ = rendered(exc, capsys)
    assert "cannot reach login.example.org" in text


def test_indeterminate_warns_before_repeating(capsys: pytest.CaptureFixture[str]) -> None:
    """Indeterminate: exit 5, and advice to read the item back before writing again."""
    text, code = rendered(Indeterminate("POST /users/x/events: sent, no answer (ReadTimeout)"), capsys)
    assert code == 5
    assert "Read the item back" in text
