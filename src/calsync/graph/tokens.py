"""The one thing the HTTP layer needs from authentication: something that hands out access tokens.

Why a module of its own: the client and transport depend on this Protocol only, never on msal, so a
GraphClient can run with any provider (msal-backed ones from `calsync.graph.auth`, a token read from a
vault, a test double) and importing the client does not import msal.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["TokenProvider"]


class TokenProvider(Protocol):
    """Anything that hands out Graph access tokens; `force_refresh` bypasses every cache."""

    async def token(self, *, force_refresh: bool = False) -> str:
        """A valid access token."""
        ...
