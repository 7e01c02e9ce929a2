"""The composition root: settings in, a ready object graph out. Only the CLI and the web layer call it.

Nothing below this module knows concrete classes of its neighbours: the engine gets a CalendarTarget and
a StateStore, the runner gets a source loader (a plain async function), the Graph client gets a token
provider. This is the one place where they are chosen from calsync.toml.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx

from calsync.adapters.graph_target import GraphCalendarTarget
from calsync.domain import DesiredEvent, Window
from calsync.graph import (
    AppTokenProvider,
    CertificateCredential,
    ClientSecretCredential,
    Credential,
    EntraApp,
    GraphClient,
)
from calsync.settings import Settings, SettingsError
from calsync.sources import (
    CsvIndex,
    FetchPolicy,
    IcsOptions,
    SafeFetcher,
    SourceProblem,
    SourceResult,
    UrlTemplate,
    Validators,
    load_csv_index,
    load_ics,
    load_ics_url,
    load_json,
)
from calsync.store import SourceState, SqlStateStore, make_engine, source_state_key, upgrade
from calsync.sync.engine import Engine, SourceSnapshot
from calsync.sync.planner import Policy
from calsync.sync.safety import Limits

SourceLoader = Callable[[str, Window], Awaitable[SourceSnapshot]]


def credential(settings: Settings) -> Credential:
    """The app's credential from settings (files are read now; secrets never logged)."""
    secret = settings.secret_value()
    if secret is not None:
        return ClientSecretCredential.from_value(secret)
    if settings.certificate_file is not None:
        password = settings.private_key_password.get_secret_value() if settings.private_key_password else None
        return CertificateCredential.from_pem(settings.certificate_file, settings.private_key_file, password)
    if settings.pkcs12_file is not None:
        return CertificateCredential.from_pkcs12(settings.pkcs12_file, settings.pkcs12_password_value())
    raise SettingsError(
        ["credential: give client_secret (CALSYNC_CLIENT_SECRET or client_secret_file), "
         "certificate_file + private_key_file, or pkcs12_file"],
        "settings",
    )  # fmt: skip


def entra_app(settings: Settings) -> EntraApp:
    settings.require("tenant_id", "client_id")
    return EntraApp(
        tenant=str(settings.tenant_id),
        client_id=str(settings.client_id),
        credential=credential(settings),
        authority_host=settings.authority_host,
        ca_file=str(settings.ca_file) if settings.ca_file else None,
    )


def _verify(settings: Settings) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(settings.ca_file)) if settings.ca_file else True


@asynccontextmanager
async def graph_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    tokens: AppTokenProvider | None = None,
) -> AsyncIterator[GraphClient]:
    """One GraphClient for the process, with app-only tokens; closes its connections and msal's after use.

    `tokens` reuses a provider the caller already holds (e.g. `calsync auth test`, which reads the token's
    claims and then calls Graph with the same token); the caller closes it.
    """
    own = tokens is None
    provider = AppTokenProvider(entra_app(settings)) if tokens is None else tokens
    client = GraphClient(
        provider,
        base_url=settings.graph_url,
        transport=transport,
        verify=_verify(settings),
        mailbox_concurrency=settings.mailbox_concurrency,
        rate_limit=settings.requests_per_second,
    )
    try:
        yield client
    finally:
        await client.aclose()
        if own:
            await provider.aclose()


@contextmanager
def open_store(settings: Settings, *, migrate: bool = True) -> Iterator[SqlStateStore]:
    """The state store, its connections closed after use; migrations run first (idempotent), so a fresh
    database just works."""
    engine = make_engine(settings.database_url)
    try:
        if migrate:
            upgrade(engine)
        yield SqlStateStore(engine)
    finally:
        engine.dispose()


def window(settings: Settings, now: datetime | None = None) -> Window:
    return Window.around(
        now or datetime.now(UTC), days_back=settings.window_days_back, days_ahead=settings.window_days_ahead
    )


def sync_engine(settings: Settings, client: GraphClient, store: SqlStateStore) -> Engine:
    settings.require("tenant_id")
    assert settings.tenant_id is not None
    return Engine(
        GraphCalendarTarget(client, calendar_id=settings.calendar_id),
        store,
        tenant_id=settings.tenant_id,
        policy=Policy(user_changes=settings.user_changes, user_deletes=settings.user_deletes),
        limits=Limits(settings.shrink_ratio, settings.shrink_min_deletes, settings.max_deletes),
        max_failures=settings.max_failures,
    )


def snapshot(result: SourceResult, mailbox: str) -> SourceSnapshot:
    """The engine's view of a source result for one mailbox: its events, the keys to protect and the
    problems as text, leaving out other mailboxes' problems (a problem naming no mailbox is everyone's)."""
    m = mailbox.lower()
    mine = [e for e in result.events if e.mailbox.lower() == m]
    shared = [p for p in result.problems if p.mailbox is None or p.mailbox.lower() == m]
    return _snapshot_of(result, mine, shared)


def snapshots(result: SourceResult) -> dict[str, SourceSnapshot]:
    """Every mailbox's snapshot of one result, built in one pass (a JSON file serves thousands of
    mailboxes: filtering the whole file once per mailbox would be quadratic)."""
    events: dict[str, list[DesiredEvent]] = {}
    for event in result.events:
        events.setdefault(event.mailbox.lower(), []).append(event)
    shares: dict[str, list[SourceProblem]] = {m: [] for m in events}
    for p in result.problems:
        if p.mailbox is None:  # a problem naming no mailbox is every mailbox's
            for share in shares.values():
                share.append(p)
        elif p.mailbox.lower() in shares:
            shares[p.mailbox.lower()].append(p)
    return {m: _snapshot_of(result, mine, shares[m]) for m, mine in events.items()}


def _snapshot_of(
    result: SourceResult, mine: list[DesiredEvent], problems: list[SourceProblem]
) -> SourceSnapshot:
    lines = tuple(f"{p.code} {p.location}: {p.message}" for p in problems)
    if result.status != "ok":
        code = result.errors[-1].code if result.errors else "SourceUnavailable"
        return SourceSnapshot("unavailable", problems=lines, error_code=code)
    protected = frozenset(p.key for p in problems if p.key and p.severity == "error")
    return SourceSnapshot("ok", tuple(mine), protected, lines)


@dataclass
class Sources:
    """Loads each mailbox's desired events from the configured source.

    Feeds fetched by URL are requested conditionally (If-None-Match / If-Modified-Since with the
    validators of the last successful run) unless `full` is set; their validators are stored only
    after the mailbox's run succeeded.
    """

    settings: Settings
    store: SqlStateStore | None = None
    full: bool = False
    fetcher: SafeFetcher | None = None
    # The CSV/JSON file of this run, read once for `table_mailboxes` and every mailbox's snapshot.
    _table: tuple[tuple[datetime, datetime], _Table] | None = field(default=None, init=False, repr=False)

    def loader(self) -> SourceLoader:
        kind = self.settings.source_kind
        options = IcsOptions(default_zone=self.settings.default_time_zone)
        if kind == "ics-url":
            assert self.settings.ics_url_template is not None
            template = UrlTemplate(self.settings.ics_url_template.get_secret_value())
            fetcher = self.fetcher or SafeFetcher(self.fetch_policy(), verify=_verify(self.settings))
            gate = asyncio.Semaphore(self.settings.feed_parallelism)

            async def from_url(mailbox: str, win: Window) -> SourceSnapshot:
                try:
                    url = template.expand(upn=mailbox, mail=mailbox, id=mailbox)
                except ValueError as exc:
                    return SourceSnapshot("unavailable", problems=(str(exc),), error_code="BAD_URL_TEMPLATE")
                key = source_state_key(url)
                known = self.store.source_state(key) if self.store is not None and not self.full else None
                validators = Validators(known.etag, known.last_modified) if known else None
                async with gate:
                    result = await load_ics_url(
                        fetcher, url, mailbox=mailbox, window=win, options=options, validators=validators
                    )
                if result.not_modified:
                    return SourceSnapshot("not_modified")
                found = snapshot(result, mailbox)
                if found.status != "ok" or result.validators is None or self.store is None:
                    return found
                fresh = result.validators
                state = SourceState(
                    key, fresh.etag, fresh.last_modified, datetime.now(UTC), len(found.events)
                )
                return replace(found, on_success=partial(self.store.put_source_state, state))

            return from_url
        if kind == "ics-file":
            path = self.settings.ics_file

            async def from_ics(mailbox: str, win: Window) -> SourceSnapshot:
                assert path is not None
                return snapshot(load_ics(_read(path), mailbox=mailbox, window=win, options=options), mailbox)

            return from_ics
        if kind in ("csv", "json"):

            async def from_table(mailbox: str, win: Window) -> SourceSnapshot:
                table = self._table_for(win)
                assert table is not None
                return table.snapshot(mailbox)

            return from_table
        raise SettingsError(["source: set ics_url_template, ics_file, csv_file or json_file"], "settings")

    def fetch_policy(self) -> FetchPolicy:
        s = self.settings
        return FetchPolicy(
            allow_http=s.allow_http_feeds,
            allow_private=s.allow_private_feeds,
            allow_hosts=frozenset(s.feed_allow_hosts),
            allow_networks=tuple(s.feed_allow_networks),
            only_hosts=None if s.feed_only_hosts is None else frozenset(s.feed_only_hosts),
            ports=None if s.allow_private_feeds else frozenset(s.feed_ports),
        )

    def table_mailboxes(self, win: Window) -> list[str]:
        """For CSV/JSON sources: every mailbox the file names with at least one good event in `win`."""
        table = self._table_for(win)
        return [] if table is None else table.mailboxes()

    def _table_for(self, win: Window) -> _Table | None:
        """The configured CSV/JSON file for `win`, read once per run (one file serves every mailbox)."""
        kind = self.settings.source_kind
        path = self.settings.csv_file if kind == "csv" else self.settings.json_file
        if kind not in ("csv", "json") or path is None:
            return None
        key = (win.start, win.end)
        if self._table is None or self._table[0] != key:
            data = _read(path)
            self._table = (
                key,
                _Table(load_csv_index(data) if kind == "csv" else load_json(data, window=win), win),
            )
        return self._table[1]


class _Table:
    """Each mailbox's snapshot from one CSV or JSON file. A CSV export is indexed and a mailbox's rows are
    parsed when it is synced, so a run holds the text, not every mailbox's events (docs/sources.md); a
    JSON document must be parsed whole, so it is split into snapshots once."""

    def __init__(self, table: CsvIndex | SourceResult, win: Window) -> None:
        self._table = table
        self._window = win
        self._split = snapshots(table) if isinstance(table, SourceResult) else {}

    def snapshot(self, mailbox: str) -> SourceSnapshot:
        if isinstance(self._table, CsvIndex):
            return snapshot(self._table.result_for(mailbox, self._window), mailbox)
        return self._split.get(mailbox.lower()) or snapshot(self._table, mailbox)

    def mailboxes(self) -> list[str]:
        """The mailboxes with at least one good event in the window, sorted (a CSV export: one mailbox's
        rows parsed at a time)."""
        if isinstance(self._table, SourceResult):
            return sorted({e.mailbox.lower() for e in self._table.events})
        index, win = self._table, self._window
        return sorted({e.mailbox.lower() for m in index.mailboxes() for e in index.result_for(m, win).events})


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError([f"cannot read {path}: {exc.strerror}"], "source") from None


def mailbox_name(raw: str) -> str:
    """How calsync names a mailbox everywhere (state rows, leases, source lookups): trimmed and
    lower-cased, as Entra compares UPNs, so `Adele@Uni.edu` and `adele@uni.edu` share one state."""
    return raw.strip().lower()


async def resolve_mailboxes(
    settings: Settings, client: GraphClient, sources: Sources, win: Window
) -> list[str]:
    """The mailboxes to sync: the explicit list, else the group's members, else those a file names."""
    if settings.mailboxes:
        return sorted({mailbox_name(m) for m in settings.mailboxes})
    if settings.group:
        members = client.group_transitive_user_members(settings.group)
        return sorted({mailbox_name(str(u.get("userPrincipalName") or u["id"])) async for u in members})
    table = sources.table_mailboxes(win)
    if table:
        return table
    raise SettingsError(
        ["mailboxes: list them, set group, or use a CSV/JSON source that names them"], "settings"
    )
