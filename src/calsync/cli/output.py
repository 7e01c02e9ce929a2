"""Rendering for people and machines: Rich tables and messages, or JSON with --json.

Errors become human text only here (and in the web layer): each known exception type has one
rendering that says what happened and what to do next, and one exit code (documented in the README).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.exceptions import TyperException

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

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Exit codes (README "Exit codes").
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AUTH = 4
EXIT_GRAPH = 5
EXIT_PARTIAL = 6

Renderer = Callable[[Exception], tuple[str, int]]
_renderers: list[tuple[type[Exception], Renderer]] = []


def renders(kind: type[Exception]) -> Callable[[Renderer], Renderer]:
    """Register the human rendering of an exception type (most specific registered first wins)."""

    def decorate(func: Renderer) -> Renderer:
        _renderers.append((kind, func))
        return func

    return decorate


@renders(SettingsError)
def _settings(exc: Exception) -> tuple[str, int]:
    assert isinstance(exc, SettingsError)
    lines = "\n".join(f"  - {p}" for p in exc.problems)
    return f"Configuration problems in {exc.source}:\n{lines}", EXIT_CONFIG


@renders(TyperException)
def _usage(exc: Exception) -> tuple[str, int]:
    """A bad command line (unknown option, bad value, --json without --yes): Click's own text and code
    (2 for a usage error)."""
    assert isinstance(exc, TyperException)
    return escape(exc.format_message()), exc.exit_code


@renders(FileExistsError)
def _exists(exc: Exception) -> tuple[str, int]:
    return f"Refusing to overwrite existing files: {exc}. Use --overwrite to replace them.", EXIT_USAGE


def rendered(exc: Exception) -> tuple[str, int]:
    """The human text (Rich markup) and exit code of `exc`; unknown errors keep their type name only."""
    for kind, func in reversed(_renderers):
        if isinstance(exc, kind):
            return func(exc)
    return f"{type(exc).__name__}: {exc}", EXIT_FAILURE


def fail(exc: Exception, *, as_json: bool = False) -> NoReturn:
    """Print the human text for `exc` (or, under --json, a JSON error document on stdout) and exit with
    its code."""
    text, code = rendered(exc)
    if as_json:
        plain = Text.from_markup(text).plain
        emit_json({"error": {"type": type(exc).__name__, "message": plain, "exit_code": code}})
    else:
        err_console.print(f"[bold red]error:[/] {text}")
    raise typer.Exit(code)


@contextmanager
def reported(*, as_json: bool = False) -> Iterator[None]:
    """Turn exceptions raised by a command into human text (or a JSON error) and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        fail(exc, as_json=as_json)


def emit_json(data: Any) -> None:
    """Machine output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


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
