"""The human text and exit codes of calsync.settings' and calsync.graph's errors (see calsync.cli.output).

Registered with `renders` when this module is imported, which `calsync.cli.output.rendered` does on the
first error it renders: importing these exception classes loads pydantic and calsync.graph (httpx, msal),
which a command that fails on nothing, or `calsync --help`, should not pay for.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from rich.markup import escape

from calsync.cli.output import EXIT_AUTH, EXIT_CONFIG, EXIT_GRAPH, EXIT_USAGE, renders
from calsync.graph import (
    AuthError,
    ConsentRequired,
    Forbidden,
    GraphClientError,
    HTTPStatusError,
    Indeterminate,
    InvalidUser,
    MailboxNotEnabled,
    NotFound,
    PreconditionFailed,
    Throttled,
    TransportError,
    Unauthorized,
)
from calsync.settings import SettingsError


@renders(SettingsError)
def _settings(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, SettingsError)
    lines = "\n".join(f"  - {p}" for p in exc.problems)
    return f"Configuration problems in {exc.source}:\n{lines}", EXIT_CONFIG


# -- calsync.graph's errors ---------------------------------------------------------------------------
# Registered from the general to the specific (the last registered match wins). Texts come from Graph's
# error code and message, msal's redacted description and the classes' hints: never a token or secret.
# Graph's text is escaped, since Rich would read "[...]" as markup.


def _ids(exc: HTTPStatusError) -> str:
    return f" (request-id {exc.request_id})" if exc.request_id else ""


def _answer(exc: HTTPStatusError) -> str:
    what = f"{exc.status} {exc.code}".strip()
    return escape(f"{what}: {exc.message}" if exc.message else what)


@renders(GraphClientError)
def _graph(exc: Exception) -> tuple[str, int]:
    return escape(f"Microsoft Graph: {exc}"), EXIT_GRAPH


@renders(HTTPStatusError)
def _status(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, HTTPStatusError)
    return f"Graph answered {_answer(exc)}{_ids(exc)}", EXIT_GRAPH


@renders(AuthError)
def _auth(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, AuthError)
    code = f" (AADSTS{exc.aadsts})" if exc.aadsts else ""
    text = f"authentication failed{code}: {exc.hint}"
    if isinstance(exc, ConsentRequired) and exc.admin_consent_url and exc.admin_consent_url not in text:
        text += f"\nAdmin-consent URL: {exc.admin_consent_url}"
    if exc.description:
        text += f"\nThe identity platform said: {exc.description}"
    return escape(text), EXIT_AUTH


@renders(Unauthorized)
def _unauthorized(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, Unauthorized)
    return (
        f"Graph rejected the access token even after a refresh ({_answer(exc)}){_ids(exc)}. Check that "
        "authority_host and graph_url belong to the same cloud, and that the app is enabled in the tenant.",
        EXIT_AUTH,
    )


@renders(Forbidden)
def _forbidden(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, Forbidden)
    if exc.access_policy:
        return (
            f"Access denied by Exchange ({_answer(exc)}){_ids(exc)}: the mailbox is outside the application "
            "access policy (or RBAC for Applications scope) that limits this app. An Exchange administrator "
            "adds the mailbox to the policy's group, and checks with Test-ApplicationAccessPolicy "
            "-Identity <mailbox> -AppId <client id> (or Test-ServicePrincipalAuthorization for RBAC).",
            EXIT_AUTH,
        )
    return (
        f"Access denied ({_answer(exc)}){_ids(exc)}: the app lacks a permission for this call. Run "
        "`calsync auth test` to compare the granted permissions with those calsync needs.",
        EXIT_AUTH,
    )


@renders(NotFound)
def _not_found(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, NotFound)
    return f"Not found ({_answer(exc)}){_ids(exc)}: check the id or path.", EXIT_GRAPH


@renders(MailboxNotEnabled)
def _no_mailbox(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, MailboxNotEnabled)
    return (
        f"The user has no usable Exchange Online mailbox ({_answer(exc)}){_ids(exc)}: it is unlicensed, "
        "inactive, soft-deleted or hosted on-premises.",
        EXIT_GRAPH,
    )


@renders(InvalidUser)
def _invalid_user(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, InvalidUser)
    return f"Unknown user or unreachable mailbox ({_answer(exc)}){_ids(exc)}.", EXIT_GRAPH


@renders(PreconditionFailed)
def _precondition(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, PreconditionFailed)
    return (
        f"The item changed since it was read ({_answer(exc)}){_ids(exc)}: get it again for its current "
        "changeKey and retry.",
        EXIT_GRAPH,
    )


@renders(Throttled)
def _throttled(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, Throttled)
    wait = f" Graph asked to wait {exc.retry_after:g} s." if exc.retry_after is not None else ""
    return (
        f"Throttled by Graph (429) and the retries ran out.{wait} Try again later, or lower "
        f"requests_per_second or mailbox_concurrency{_ids(exc)}.",
        EXIT_GRAPH,
    )


@renders(TransportError)
def _transport(exc: Exception) -> tuple[str, int]:
    return escape(f"cannot reach {_host(exc)}: {exc}"), EXIT_GRAPH


@renders(Indeterminate)
def _indeterminate(exc: Exception) -> tuple[str, int]:
    return (
        escape(
            f"No answer from {_host(exc)} after the request was sent ({exc}): it may or may not have taken "
            "effect. Read the item back before repeating a write."
        ),
        EXIT_GRAPH,
    )


def _host(exc: Exception) -> str:
    """The host a network error was about, from the httpx or requests error underneath."""
    cause = exc.__cause__
    request = None
    if cause is not None:
        try:
            request = getattr(cause, "request", None)  # httpx raises RuntimeError when it is unset
        except RuntimeError:
            request = None
    url = getattr(request, "url", None)
    if url is not None:
        host = getattr(url, "host", None) or urlsplit(str(url)).hostname
        if host:
            return str(host)
    return "the identity platform" if "identity platform" in str(exc) else "Microsoft Graph"


# -- push to subscribers (calsync channels) ------------------------------------------------------------
from calsync.services.push.errors import PushError  # noqa: E402
from calsync.services.secretbox import SecretBoxError  # noqa: E402


@renders(PushError)
def _push(exc: Exception) -> tuple[str, int]:
    return escape(str(exc)), EXIT_USAGE


@renders(SecretBoxError)
def _secretbox(exc: Exception) -> tuple[str, int]:
    return escape(str(exc)), EXIT_CONFIG
