"""The unified calendar API's use cases (REST `/v1`, docs/api.md), Cronofy's semantics over Graph.

- `UnifiedApi.profiles()`: each connected mailbox, from every `ConnectionSource` (the deployment's
  application-permission mailboxes here; delegated connections add a source of their own).
- `UnifiedApiOps`: calendars (unified_calendars), upsert and delete (unified_events, run by api_sync),
  Read Events (unified_reads), for one API key at a time.

Cronofy's vocabulary for Microsoft 365: `provider_name` "exchange" with `provider_service` "office365"
(service-facts §1.6); calsync reaches it through Microsoft Graph, said by `provider_protocol` "graph".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from calsync.services.deployment import Deployment
from calsync.services.naming import mailbox_name
from calsync.services.unified_calendars import CalendarBook, CalendarInfo
from calsync.services.unified_events import (
    Accepted,
    EventWriter,
    RequestRun,
    check_writable,
    record_delete,
    record_upsert,
)
from calsync.services.unified_ids import UnknownId, mailbox_of_profile, profile_id, split_calendar_id
from calsync.services.unified_models import UpsertEvent
from calsync.services.unified_reads import EventQuery, read_page
from calsync.store.apievents import ApiEventStore

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


async def delegated_connections(deployment: Deployment) -> list[Connection]:
    """People who connected their own calendar (calsync.services.connections); a disconnected one is
    listed with the page that relinks it (`profile_relink_url`). No token key is read to list them."""
    from calsync import wiring
    from calsync.services.connections import connection_store
    from calsync.sync.engine import off_loop

    store = connection_store(deployment, keys=False)
    records = await off_loop(store.all, "connected", "paused", "disconnected")
    return [
        Connection(
            r.mailbox,
            r.mailbox,
            connected=r.status != "disconnected",
            relink_url=wiring.relink_url(deployment.settings, r.id) if r.status == "disconnected" else None,
            source="delegated",
        )
        for r in records
    ]


@dataclass
class UnifiedApi:
    """The API's use cases for one deployment. `sources` lists where connections come from; the list of
    connections is kept `ttl` seconds (a group-based profile costs Graph requests to resolve)."""

    deployment: Deployment
    sources: list[ConnectionSource] = field(
        default_factory=lambda: [application_connections, delegated_connections]
    )
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


@dataclass
class UnifiedApiOps:
    """Calendars and events for a caller (an API key's id), over a `UnifiedApi`'s connections."""

    api: UnifiedApi
    request_run: RequestRun | None = None
    book: CalendarBook = field(default_factory=CalendarBook)
    _writer: EventWriter | None = field(default=None, repr=False)

    @property
    def deployment(self) -> Deployment:
        return self.api.deployment

    def _events(self) -> EventWriter:
        if self._writer is None:
            self._writer = EventWriter(ApiEventStore(self.deployment.store.engine))
        return self._writer

    async def calendars(self) -> list[dict[str, object]]:
        """Every calendar of every connected mailbox (Cronofy's List Calendars)."""
        client = await self.deployment.graph()
        out: list[dict[str, object]] = []
        for c in await self.api.connections():
            out += [i.as_api(PROVIDER_NAME, c.name) for i in await self.book.calendars(client, c.mailbox)]
        return out

    async def calendar(self, cid: str) -> CalendarInfo:
        """The calendar an API calendar id names, if it is one of a connected mailbox. NotFoundError."""
        try:
            mailbox, graph_id = split_calendar_id(cid)
        except UnknownId:
            raise NotFoundError(f"no calendar {cid!r}") from None
        await self.api.connection(mailbox)
        info = await self.book.find(await self.deployment.graph(), mailbox, graph_id)
        if info is None:
            raise NotFoundError(f"no calendar {cid!r}")
        return info

    async def upsert(self, key_id: str, cid: str, event: UpsertEvent) -> Accepted:
        info = await self.calendar(cid)
        check_writable(info, event)
        accepted = await record_upsert(self._events(), key_id, info, event)
        await self._run(accepted)
        return accepted

    async def delete(self, key_id: str, cid: str, event_id: str) -> Accepted | None:
        info = await self.calendar(cid)
        check_writable(info, None)
        accepted = await record_delete(self._events(), key_id, info.calendar_id, event_id)
        if accepted is not None:
            await self._run(accepted)
        return accepted

    async def _run(self, accepted: Accepted) -> None:
        if self.request_run is not None:
            from calsync.store import scope_key

            await self.request_run(scope_key(accepted.profile, accepted.mailbox))

    async def events(
        self, key_id: str, calendar_ids: Sequence[str], q: EventQuery
    ) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
        """One page of Read Events and the next page's position (calsync.services.unified_reads)."""
        if calendar_ids:
            calendars = [await self.calendar(cid) for cid in dict.fromkeys(calendar_ids)]
        else:
            client = await self.deployment.graph()
            calendars = [
                i for c in await self.api.connections() for i in await self.book.calendars(client, c.mailbox)
            ]
        profiles = self.deployment.settings.profile_names()
        return await read_page(await self.deployment.graph(), key_id, profiles, calendars, q)
