"""Sign-in flows in progress, kept server-side and bound to the browser session that started them.

msal's auth-code flow dict holds the PKCE verifier and the nonce; it must not travel in a cookie or a URL
(RFC 9700, service-facts §4). `FlowStore.put` keeps it under its `state` with the session id that started
it and a purpose (`admin`, `connect`...); `take` removes it (single use: a replayed redirect finds
nothing) and refuses it when it is too old (10 minutes), belongs to another session (ASVS 10.1.2) or
another purpose. Each refusal is `FlowRefused`, a 400 page saying to start again.

CHOICE: in memory, per process. `calsync serve` on SQLite is one process; several `serve` processes
behind a load balancer need session affinity for the few seconds of a sign-in (docs/web.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from calsync.web.errors import PageError

__all__ = ["FlowRefused", "FlowStore"]

FLOW_TTL_SECONDS = 600.0
MAX_FLOWS = 10_000


class FlowRefused(PageError):
    """The redirect back from the sign-in does not belong to a sign-in this browser started (400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            400,
            "This sign-in cannot be finished",
            "It was started too long ago, in another browser, or was already used. Start the sign-in again.",
        )
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Flow:
    flow: Mapping[str, Any]
    session: str
    purpose: str
    started: float


class FlowStore:
    """Flows by state; thread-safe (routes run in threads and on the event loop)."""

    def __init__(self, *, ttl: float = FLOW_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._flows: OrderedDict[str, _Flow] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, flow: Mapping[str, Any], *, session: str, purpose: str) -> None:
        """Keep `flow` (msal's dict, keyed by its `state`) for the session that started it."""
        state = str(flow["state"])
        with self._lock:
            self._expire()
            while len(self._flows) >= MAX_FLOWS:
                self._flows.popitem(last=False)
            self._flows[state] = _Flow(dict(flow), session, purpose, self.clock())

    def take(self, state: str | None, *, session: str, purpose: str) -> dict[str, Any]:
        """The flow started under `state` by this session for `purpose`, removed from the store.

        Raises:
            FlowRefused: no state, unknown or used state, too old, another session or purpose.
        """
        if not state:
            raise FlowRefused("no state")
        with self._lock:
            self._expire()
            found = self._flows.pop(state, None)
        if found is None:
            raise FlowRefused("unknown state")
        if found.session != session or found.purpose != purpose:
            raise FlowRefused("another session")
        return dict(found.flow)

    def _expire(self) -> None:
        oldest = self.clock() - self.ttl
        while self._flows:
            state, flow = next(iter(self._flows.items()))
            if flow.started >= oldest:
                break
            del self._flows[state]
