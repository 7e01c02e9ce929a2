"""The unified calendar API's use cases (REST `/v1`, docs/api.md), Cronofy's semantics over Graph.

- `UnifiedApi.profiles()`: each connected mailbox, from every `ConnectionSource` (the deployment's
  application-permission mailboxes here; delegated connections add a source of their own).
- `UnifiedApi.calendars()`, events: calsync.services.unified_calendars and unified_events.

Cronofy's vocabulary for Microsoft 365: `provider_name` "exchange" with `provider_service` "office365"
(service-facts §1.6); calsync reaches it through Microsoft Graph, said by `provider_protocol` "graph".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from calsync.services.deployment import Deployment
from calsync.services.naming import mailbox_name
from calsync.services.unified_ids import UnknownId, mailbox_of_profile, profile_id

PROVIDER_NAME = "exchange"
PROVIDER_SERVICE = "office365"
PROVIDER_PROTOCOL = "graph"


class UnifiedError(Exception):
    """Base of the unified API's errors; the web layer turns each into its answer."""


class NotFoundError(UnifiedError):
    """No such profile, calendar or event for this caller."""


@dataclass(frozen=True, slots=True)
class Connection:
    """One mailbox the API can reach, and how (`source`: "application" or "delegated")."""

    mailbox: str
    name: str
    connected: bool = True
    relink_url: str | None = None
    source: str = "application"

    @property
    def profile_id(self) -> str:
        return profile_id(self.mailbox)


ConnectionSource = Callable[[Deployment], Awaitable[Sequence[Connection]]]
"""Lists the connections one way of reaching mailboxes provides."""


async def application_connections(deployment: Deployment) -> list[Connection]:
    """The mailboxes the deployment's profiles cover, reached with the app's own permissions: always
    connected while the app registration is (a refused credential fails the request instead)."""
    from calsync.services.syncing import mailboxes

    found: dict[str, Connection] = {}
    for name in deployment.settings.profile_names():
        for mailbox in await mailboxes(deployment, name):
            m = mailbox_name(mailbox)
            found.setdefault(m.lower(), Connection(m, m))
    return list(found.values())


@dataclass
class UnifiedApi:
    """The API's use cases for one deployment. `sources` lists where connections come from; the list of
    connections is kept `ttl` seconds (a group-based profile costs Graph requests to resolve)."""

    deployment: Deployment
    sources: list[ConnectionSource] = field(default_factory=lambda: [application_connections])
    ttl: float = 60.0
    _cached: tuple[float, list[Connection]] | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def connections(self) -> list[Connection]:
        async with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                merged: dict[str, Connection] = {}
                for source in self.sources:
                    for c in await source(self.deployment):
                        merged.setdefault(c.mailbox.lower(), c)
                self._cached = (now, sorted(merged.values(), key=lambda c: c.mailbox.lower()))
            return list(self._cached[1])

    async def connection(self, mailbox: str) -> Connection:
        """The connection of a mailbox the API serves. NotFoundError otherwise."""
        for c in await self.connections():
            if c.mailbox.lower() == mailbox.lower():
                return c
        raise NotFoundError(f"no connected profile for {mailbox!r}")

    async def connection_of_profile(self, pid: str) -> Connection:
        try:
            return await self.connection(mailbox_of_profile(pid))
        except UnknownId:
            raise NotFoundError(f"no profile {pid!r}") from None

    async def profiles(self) -> list[dict[str, object]]:
        """Cronofy's profile objects (service-facts §1.6); `profile_relink_url` only when disconnected."""
        out: list[dict[str, object]] = []
        for c in await self.connections():
            item: dict[str, object] = {
                "provider_name": PROVIDER_NAME,
                "provider_service": PROVIDER_SERVICE,
                "provider_protocol": PROVIDER_PROTOCOL,
                "profile_id": c.profile_id,
                "profile_name": c.name,
                "profile_connected": c.connected,
                "profile_initial_sync_required": False,
            }
            if not c.connected and c.relink_url:
                item["profile_relink_url"] = c.relink_url
            out.append(item)
        return out
