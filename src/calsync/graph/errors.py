"""The one exception tree of `calsync.graph`, and the functions that build it from Graph responses.

Why a tree: callers branch on *what happened* (throttled, gone, forbidden by an access policy, outcome
unknown), never on status numbers or message text (graph-facts §9: "branch on code, never on message").
Exceptions carry data (status, code, request ids, Retry-After); the CLI and web layers write the human text.

    GraphClientError
    ├── TransportError            could not connect: nothing was sent, always safe to send again
    ├── Indeterminate             sent, outcome unknown: timeout or reset after sending, or a 5xx (or a
    │                             409/412 on a retry) after a write that was not safe to repeat
    ├── HTTPStatusError           Graph answered an error: status, code, message, request ids
    │   ├── BadRequest            400
    │   ├── Unauthorized          401 (after one token refresh)
    │   ├── Forbidden             403; .access_policy is True for "Access to OData is disabled."
    │   ├── NotFound              404 (ErrorItemNotFound, ResourceNotFound, ...)
    │   ├── MailboxNotEnabled     MailboxNotEnabledForRESTAPI: inactive, on-premises or unlicensed mailbox
    │   ├── InvalidUser           ErrorInvalidUser: unknown user, or a mailbox that cannot be reached
    │   ├── Conflict              409 (e.g. ErrorFolderExists)
    │   ├── SyncStateNotFound     410, syncStateNotFound, resyncRequired: delta token gone, resync fully
    │   ├── PreconditionFailed    412 (If-Match no longer matches)
    │   ├── Throttled             429; .retry_after in seconds (None when absent)
    │   └── ServerError           5xx; .retry_after when a 503 carried one
    └── AuthError                 the identity platform refused a token; AADSTS subclasses with a hint
                                  (calsync.graph.autherrors)

MailboxNotEnabled and InvalidUser are deliberately *not* NotFound: "the event is already gone" (a 404 on
delete) must never be confused with "the mailbox cannot be reached".
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "GraphClientError",
    "HTTPStatusError",
    "Indeterminate",
    "InvalidUser",
    "MailboxNotEnabled",
    "NotFound",
    "PreconditionFailed",
    "ServerError",
    "SyncStateNotFound",
    "Throttled",
    "TransportError",
    "Unauthorized",
    "graph_error",
    "parse_retry_after",
]

ACCESS_POLICY_MESSAGE = "Access to OData is disabled."


class GraphClientError(Exception):
    """Root of every error raised by calsync.graph."""


class TransportError(GraphClientError):
    """The connection could not be made (connect failure, connect or pool timeout): nothing was sent."""


class Indeterminate(GraphClientError):
    """The request was sent but its outcome is unknown; resolve by reading, never by a blind repeat.

    Attributes:
        method: the HTTP method of the request.
        path: the request path, without query values.
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class HTTPStatusError(GraphClientError):
    """Graph answered with an error status.

    Attributes:
        status: the HTTP status (the inner status for a `$batch` item).
        code: Graph's `error.code` ("" when the body had none).
        message: Graph's `error.message`.
        request_id: Graph's `request-id` header (or innerError value), for support cases.
        client_request_id: the `client-request-id` calsync sent.
    """

    def __init__(
        self,
        status: int,
        code: str = "",
        message: str = "",
        *,
        request_id: str | None = None,
        client_request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}".rstrip(": "))
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.client_request_id = client_request_id


class BadRequest(HTTPStatusError):
    """400: the request was malformed or a value was rejected (e.g. TimeZoneNotSupportedException)."""


class Unauthorized(HTTPStatusError):
    """401: the token was rejected even after one refresh."""


class Forbidden(HTTPStatusError):
    """403: missing permission, or the mailbox is outside an application access policy."""

    @property
    def access_policy(self) -> bool:
        """True when an application access policy (or RBAC scope) excludes the mailbox (graph-facts §10)."""
        return ACCESS_POLICY_MESSAGE.lower() in self.message.lower()


class NotFound(HTTPStatusError):
    """404: the addressed item does not exist (or no longer does)."""


class MailboxNotEnabled(HTTPStatusError):
    """MailboxNotEnabledForRESTAPI: the mailbox is inactive, soft-deleted, on-premises or unlicensed."""


class InvalidUser(HTTPStatusError):
    """ErrorInvalidUser: the user is unknown, or its mailbox cannot be reached."""


class Conflict(HTTPStatusError):
    """409: e.g. ErrorFolderExists for a duplicate calendar name."""


class SyncStateNotFound(HTTPStatusError):
    """The delta token expired (410 Gone, syncStateNotFound or resyncRequired): start a full resync.

    Attributes:
        location: the reset URL Graph may send with a 410, else None.
    """

    location: str | None = None


class PreconditionFailed(HTTPStatusError):
    """412: the If-Match changeKey no longer matches; re-read the event."""


class Throttled(HTTPStatusError):
    """429: wait `retry_after` seconds (None when Graph sent no Retry-After) before sending again."""

    retry_after: float | None = None


class ServerError(HTTPStatusError):
    """5xx. `retry_after` is set when the response carried a Retry-After (503 may)."""

    retry_after: float | None = None


_BY_CODE: dict[str, type[HTTPStatusError]] = {
    "mailboxnotenabledforrestapi": MailboxNotEnabled,
    "errorinvaliduser": InvalidUser,
    "syncstatenotfound": SyncStateNotFound,
    "resyncrequired": SyncStateNotFound,
}
_BY_STATUS: dict[int, type[HTTPStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: SyncStateNotFound,
    412: PreconditionFailed,
    429: Throttled,
}


def graph_error(status: int, headers: Mapping[str, str], body: Any) -> HTTPStatusError:
    """The exception for one Graph error response (a direct response or a `$batch` item).

    Args:
        status: the HTTP status.
        headers: response headers; looked up case-insensitively.
        body: the parsed JSON body, raw bytes/str, or None.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body) if body else None
        except ValueError:
            body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or "")
    inner = error.get("innerError") or error.get("innererror") or {}
    inner = inner if isinstance(inner, dict) else {}
    cls = _BY_CODE.get(code.lower()) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else HTTPStatusError
    exc = cls(
        status,
        code,
        message,
        request_id=lower.get("request-id") or inner.get("request-id"),
        client_request_id=lower.get("client-request-id") or inner.get("client-request-id"),
    )
    if isinstance(exc, Throttled | ServerError):
        exc.retry_after = parse_retry_after(lower.get("retry-after"))
    if isinstance(exc, SyncStateNotFound):
        exc.location = lower.get("location")
    return exc


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds (fractional allowed: "2.128", "0.249")
    or an HTTP-date. None when absent or unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):  # NaN/inf are unreadable
        return None
    return max(seconds, 0.0)
