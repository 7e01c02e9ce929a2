"""The push use cases' exceptions: one tree, rooted at `PushError`; the CLI and the API turn them into
text and status codes at their edges."""

from __future__ import annotations


class PushError(Exception):
    """A push operation cannot be done as asked; the message says why, without secrets."""


class CallbackRefused(PushError):
    """The callback URL is malformed, or its host is (or resolves to) an address calsync may not call."""


class ChannelLimit(PushError):
    """The owner already has the most channels allowed."""


class ChannelNotFound(PushError):
    """No such channel (or not the caller's)."""
