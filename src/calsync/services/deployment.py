"""A `Deployment`: what one process needs to run calsync's use cases, built once and shared.

The CLI opens one per command, `calsync serve` and `calsync worker` one per process. It holds the settings,
the state store (opened and migrated once) and the Graph client with its app-token provider, created on
first use: `calsync status` never reads a certificate or asks for a token, and a whole service shares one
connection pool, one rate limiter and one token cache, so the per-app request budget and the per-mailbox
limits are enforced in one place.

The Graph client's packages (httpx, msal, cryptography) are imported when the client is first created,
so `calsync status` does not load them at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from calsync import metrics, wiring
from calsync.sync.engine import off_loop
from calsync.sync.ports import RunReport

if TYPE_CHECKING:
    import httpx

    from calsync.adapters.calendars import NamedCalendar
    from calsync.domain import Window
    from calsync.graph import AppTokenProvider, GraphClient
    from calsync.services.sourcing import SourceCache
    from calsync.settings import Settings
    from calsync.store import ScopedStore, SqlStateStore
    from calsync.sync.engine import Engine

GraphObserver = Callable[[str, int | None, float | None], None]
"""(method, HTTP status or None for a transport failure, Retry-After seconds or None), per response."""
RunObserver = Callable[[RunReport, bool], None]
"""(report, dry_run) after each mailbox's run: metrics, without the use cases knowing them."""
RunHook = Callable[["Deployment", str, RunReport], Awaitable[None]]
"""(deployment, profile, report) after each real (not dry) run, awaited before the run counts as done:
side effects that must be durable, such as the push outbox's rows (calsync.services.push.on_run). The
synchronous observers above cannot write to the database off the event loop, nor name the profile."""


@dataclass
class Deployment:
    """Settings, store and (lazily) the Graph client of this process. Open with `open_deployment`."""

    settings: Settings
    store: SqlStateStore
    transport: httpx.AsyncBaseTransport | None = None  # tests and the demo: graphemu in-process
    observer: GraphObserver | None = None
    run_observers: list[RunObserver] = field(default_factory=list)
    run_hooks: list[RunHook] = field(default_factory=list)
    # Called after outbox rows were written (calsync.services.push): the runtime's deliverer wakes.
    outbox_listeners: list[Callable[[], None]] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # offboarding's grace periods
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)
    _client: GraphClient | None = field(default=None, repr=False)
    _tokens: AppTokenProvider | None = field(default=None, repr=False)
    _profiles: dict[str, ProfileView] = field(default_factory=dict, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def graph(self) -> GraphClient:
        """The process's Graph client (app-only tokens), created on first use."""
        async with self._lock:
            if self._client is None:
                from calsync.graph import AppTokenProvider

                self._tokens = AppTokenProvider(wiring.entra_app(self.settings))
                self._stack.push_async_callback(self._tokens.aclose)
                self._client = await self._stack.enter_async_context(
                    wiring.graph_client(
                        self.settings, transport=self.transport, tokens=self._tokens, observer=self.observer
                    )
                )
            return self._client

    async def check_credential(self) -> None:
        """Get an app token now (msal caches it): a refused secret or certificate raises AuthError here,
        even on a run where every feed is unchanged and no other Graph call would be made."""
        await self.graph()
        assert self._tokens is not None
        await self._tokens.token()

    async def check_graph(self) -> None:
        """Ask Graph one cheap question (its service root) before any mailbox runs, so that a Graph that
        cannot be reached raises TransportError here, once, after the client's retries, rather than every
        mailbox's run failing "unavailable" after retries of its own (one wait, not one per round of
        mailboxes). Any HTTP answer, even an error, means Graph was reached: what it says about each
        mailbox is that mailbox's run's business."""
        from calsync.graph import HTTPStatusError

        client = await self.graph()
        with contextlib.suppress(HTTPStatusError):
            await client.request("GET", "")

    def profile(self, name: str | None = None) -> ProfileView:
        """One profile's view (None: the top level's profile). SettingsError for an unknown name."""
        name = name or self.settings.profile
        view = self._profiles.get(name)
        if view is None:
            from calsync.store import ScopedStore

            view = ProfileView(self, self.settings.for_profile(name), ScopedStore(self.store, name))
            self._profiles[name] = view
        return view

    def former_profile(self, name: str) -> ProfileView:
        """A profile that is no longer configured but has state (offboarding it by hand): the top
        level's settings under its name, so its engine lists and deletes the events of its own tag."""
        from calsync.store import ScopedStore

        settings = self.settings.model_copy(update={"profile": name, "profiles": []})
        return ProfileView(self, settings, ScopedStore(self.store, name))

    def profiles(self, only: str | None = None) -> list[ProfileView]:
        """Every profile of the deployment, in configuration order, or just `only`."""
        return [self.profile(only)] if only else [self.profile(n) for n in self.settings.profile_names()]

    def window(self, now: datetime | None = None) -> Window:
        return wiring.window(self.settings, now)

    async def aclose(self) -> None:
        await self._stack.aclose()


@dataclass
class ProfileView:
    """A profile as the use cases see it: its settings (its keys over the top level's), the store scoped
    to it (calsync.store.ScopedStore) and its engine, which writes its own ownership tag."""

    deployment: Deployment
    settings: Settings
    store: ScopedStore
    _engine: Engine | None = field(default=None, repr=False)
    _sources: SourceCache | None = field(default=None, repr=False)
    _calendar: NamedCalendar | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.settings.profile

    @property
    def sources(self) -> SourceCache:
        """What the process keeps between the profile's runs (feed fetcher, the CSV/JSON file as read)."""
        if self._sources is None:
            from calsync.services.sourcing import SourceCache

            self._sources = SourceCache()
        return self._sources

    async def engine(self) -> Engine:
        if self._engine is None:
            client = await self.deployment.graph()
            self._calendar = wiring.named_calendar(self.settings, client)
            self._engine = wiring.sync_engine(self.settings, client, self.store, self._calendar)
            from calsync.services.digests import RunDigests

            self._engine.digests = RunDigests(self.store)  # skips mailboxes in step (sync.unchanged)
        return self._engine

    async def named_calendar(self) -> NamedCalendar | None:
        """The profile's own calendar (`calendar_name`), the one its engine writes to; None without one."""
        await self.engine()
        return self._calendar

    def window(self, now: datetime | None = None) -> Window:
        return wiring.window(self.settings, now)


_COUNTED = ("created", "updated", "deleted", "adopted", "unchanged", "failed", "quarantined")


def _count_request(method: str, status: int | None, retry_after: float | None) -> None:
    metrics.record_graph_response(method, status, retry_after)


def _count_run(report: RunReport, dry_run: bool) -> None:
    if dry_run:
        return
    seconds = (report.finished - report.started).total_seconds() if report.finished else None
    counts = {k: getattr(report, k) for k in _COUNTED}
    metrics.record_run(report.status, seconds, counts, report.error_code)


async def _push_run(deployment: Deployment, profile: str, report: RunReport) -> None:
    from calsync.services.push import on_run

    await on_run(deployment, profile, report)


@asynccontextmanager
async def open_deployment(
    settings: Settings,
    *,
    migrate: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    observer: GraphObserver | None = None,
) -> AsyncIterator[Deployment]:
    """The deployment for this process; the database is migrated first unless `migrate` is False (reads
    that must not change a database, e.g. `calsync status` on a copy)."""
    async with AsyncExitStack() as outer:
        store = await off_loop(outer.enter_context, wiring.open_store(settings, migrate=migrate))
        deployment = Deployment(
            settings,
            store,
            transport=transport,
            observer=observer or _count_request,
            run_observers=[_count_run],
            run_hooks=[_push_run],
        )
        outer.push_async_callback(deployment.aclose)
        yield deployment
