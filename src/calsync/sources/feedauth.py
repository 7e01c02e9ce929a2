"""Credentials a feed server asks for: HTTP Basic, a bearer token, or a token in a header of its own.

Why a value object: the fetcher must send the credential to the feed's own server and to nobody else,
so it is kept apart from the URL (a user:password@ URL is refused outright, `calsync.sources.fetch`) and
attached per request by `SafeFetcher`, which drops it on a redirect to another origin. `repr` never shows
the value; `secrets()` lists what the log redactor must hide (the token, the password and the encoded
Basic credential as it travels).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers the fetcher sets itself or that change how the body is framed: a credential may not replace them.
_RESERVED = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "accept-encoding",
        "if-none-match",
        "if-modified-since",
        "te",
        "upgrade",
    }
)


@dataclass(frozen=True, slots=True)
class FeedAuth:
    """One header sent with every feed request to the feed's own origin. Build it with `basic`, `bearer`
    or `header`; each raises ValueError (without the secret) for a value that cannot be sent."""

    name: str
    value: str = field(repr=False)
    parts: tuple[str, ...] = field(default=(), repr=False)  # the secrets the value is made from

    @classmethod
    def basic(cls, username: str, password: str) -> FeedAuth:
        if not username or ":" in username:
            raise ValueError("feed_username is required and may not contain ':'")
        _check_value(password, "feed_password")
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return cls("Authorization", f"Basic {encoded}", (password, encoded))

    @classmethod
    def bearer(cls, token: str) -> FeedAuth:
        _check_value(token, "feed_token")
        return cls("Authorization", f"Bearer {token}", (token,))

    @classmethod
    def header(cls, name: str, token: str) -> FeedAuth:
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED:
            raise ValueError("feed_header_name must be a header name calsync does not set itself")
        _check_value(token, "feed_token")
        return cls(name, token, (token,))

    def secrets(self) -> tuple[str, ...]:
        """The values the redactor must hide."""
        return self.parts


def _check_value(value: str, key: str) -> None:
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(f"{key} must be non-empty printable ASCII (no line breaks)")
