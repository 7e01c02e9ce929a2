"""Where each mailbox's desired events come from this run: the configured source, read for the engine.

`Sources` turns the configured source (per-person iCalendar feeds, one iCalendar file, a CSV or JSON
export) into one `SourceSnapshot` per mailbox; `resolve_mailboxes` decides which mailboxes a run covers.
Both are use-case logic (conditional fetches tied to the last good run, a file read once per run), so
they live in the services layer; the objects they use are built by calsync.wiring.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeGuard

from calsync import metrics, wiring
from calsync.domain import DesiredEvent, Window
from calsync.graph import GraphClient
from calsync.services.event_templates import event_templates, extra_fields, templated
from calsync.services.naming import mailbox_name
from calsync.settings import Settings, SettingsError
from calsync.sources import (
    CsvIndex,
    FeedUrlMap,
    IcsOptions,
    SafeFetcher,
    SourceProblem,
    SourceResult,
    SourceUnavailable,
    TabularOptions,
    UrlTemplate,
    Validators,
    load_csv_index_file,
    load_json,
    load_url_map,
)
from calsync.store import RuntimeStateStore, SourceState, source_state_key
from calsync.sync.engine import SourceSnapshot, off_loop

SourceLoader = Callable[[str, Window], Awaitable[SourceSnapshot]]
"""(mailbox, window) -> what the source says for that mailbox this run."""
FeedUrl = Callable[[str], str | SourceSnapshot]
"""mailbox -> its feed URL, or the snapshot saying why it has none (an unavailable one)."""


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
class SourceCache:
    """What a process keeps from one run to the next (the scheduler and the workers run one mailbox at
    a time, each with a `Sources` of its own): the feed fetcher, whose TLS context loads the CA bundle
    (about 18 ms), and the CSV/JSON file as last read, read again only when the file changes (and, for
    JSON, which is parsed for a window, when the window moves)."""

    fetcher: SafeFetcher | None = None
    table: tuple[tuple[object, ...], _Table] | None = None
    url_map: tuple[tuple[object, ...], FeedUrlMap] | None = None


@dataclass
class Sources:
    """Loads each mailbox's desired events from the configured source.

    Feeds fetched by URL are requested conditionally (If-None-Match / If-Modified-Since with the
    validators of the last successful run) unless `full` is set; their validators are stored only
    after the mailbox's run succeeded, and the stored ones are forgotten when a run on new content
    begins (and by `purge`, `forget_feed`): a 304 then always means the mailbox is in step.
    """

    settings: Settings
    store: RuntimeStateStore | None = None
    full: bool = False
    cache: SourceCache = field(default_factory=SourceCache)
    # The CSV/JSON file as this run read it: every mailbox of a run sees the same version of the file.
    _table: tuple[tuple[datetime, datetime], _Table] | None = field(default=None, init=False, repr=False)
    _settings_digest: str | None = field(default=None, init=False, repr=False)

    def loader(self, *, deferrable: bool = False) -> SourceLoader:
        """The source's loader, its events made by the profile's templates (docs/profiles.md).

        `deferrable` (the sync paths): a snapshot may come with its parse deferred (`deferred`, with the
        content's `digest`) so the engine can skip a mailbox in step (calsync.sync.unchanged); never
        when `full` is set."""
        inner = self._source_loader(deferrable and not self.full)
        templates = event_templates(self.settings)

        async def load(mailbox: str, win: Window) -> SourceSnapshot:
            found = await inner(mailbox, win)
            if found.deferred is not None:  # parsed (and templated) only if the run needs the events
                later = found.deferred
                return replace(found, deferred=lambda: templated(later(), templates))
            return templated(found, templates)

        return load

    def _source_loader(self, deferrable: bool) -> SourceLoader:
        kind = self.settings.source_kind
        # floating times are only warned about while their zone is calsync's guess, not the administrator's
        chosen = "default_time_zone" in self.settings.model_fields_set
        options = IcsOptions(
            default_zone=self.settings.default_time_zone,
            warn_floating=not chosen,
            extra_fields=extra_fields(self.settings),
            recurrence=self.settings.recurrence,
        )
        if kind == "ics-url":
            from calsync.sources.feeds import load_ics_url  # icalendar: only for iCalendar sources

            url_of = self._feed_urls()
            if self.cache.fetcher is None:
                self.cache.fetcher = wiring.feed_fetcher(self.settings)
            fetcher = self.cache.fetcher
            gate = asyncio.Semaphore(self.settings.feed_parallelism)

            async def from_url(mailbox: str, win: Window) -> SourceSnapshot:
                url = url_of(mailbox)
                if isinstance(url, SourceSnapshot):
                    return url
                key = source_state_key(url)
                known = None
                if self.store is not None:
                    known = await off_loop(self.store.source_state, key)
                validators = Validators(known.etag, known.last_modified) if known and not self.full else None
                async with gate:
                    result = await load_ics_url(
                        fetcher, url, mailbox=mailbox, window=win, options=options, validators=validators
                    )
                if result.not_modified:
                    metrics.record_feed("not_modified")
                    return SourceSnapshot("not_modified")
                found = snapshot(result, mailbox)
                metrics.record_feed("ok" if found.status == "ok" else "error")
                if found.status != "ok" or self.store is None:
                    return found  # nothing is changed: the stored validators still describe the mailbox
                # The old validators go before the run may change the mailbox, the new ones come after it
                # ended ok: only a mailbox fully in step with the feed may skip on its 304.
                forget = partial(_forget, self.store, known) if _holds_validators(known) else None
                fresh = result.validators
                if fresh is None:
                    return replace(found, on_start=forget)
                state = SourceState(
                    key, fresh.etag, fresh.last_modified, datetime.now(UTC), len(found.events)
                )
                return replace(found, on_start=forget, on_success=partial(self.store.put_source_state, state))

            return from_url
        if kind == "ics-file":
            from calsync.sources.ics import load_ics  # icalendar: only for iCalendar sources

            path = self.settings.ics_file

            async def from_ics(mailbox: str, win: Window) -> SourceSnapshot:
                assert path is not None
                return snapshot(load_ics(_read(path), mailbox=mailbox, window=win, options=options), mailbox)

            return from_ics
        if kind in ("csv", "json"):

            async def from_table(mailbox: str, win: Window) -> SourceSnapshot:
                table = self._table_for(win)
                assert table is not None
                rows = table.digest(mailbox)
                if rows is None:
                    return table.snapshot(mailbox)
                digest = self._digest(rows)
                if not deferrable:  # parsed now; its digest is stored after a good run
                    return replace(table.snapshot(mailbox), digest=digest)
                return SourceSnapshot("ok", digest=digest, deferred=partial(table.snapshot, mailbox))

            return from_table
        raise SettingsError(["source: set ics_url_template, ics_file, csv_file or json_file"], "settings")

    def _digest(self, rows: str) -> str:
        """A mailbox's source digest (calsync.sync.unchanged): its rows' digest with the settings that
        shape its events (templates, zones, extra fields: all of the profile's settings, secrets masked)."""
        if self._settings_digest is None:
            dumped = self.settings.model_dump_json().encode()
            self._settings_digest = hashlib.sha256(dumped).hexdigest()
        return hashlib.sha256(f"{rows}|{self._settings_digest}".encode()).hexdigest()

    def _feed_urls(self) -> FeedUrl:
        """Each mailbox's feed URL this run: from the template, or from the map file (read once per
        run, and by a long-lived process again only when the file changes)."""
        s = self.settings
        if s.ics_url_map_file is None:
            assert s.ics_url_template is not None
            template = UrlTemplate(s.ics_url_template.get_secret_value())

            def templated(mailbox: str) -> str | SourceSnapshot:
                try:
                    return template.expand(upn=mailbox, mail=mailbox, id=mailbox)
                except ValueError as exc:
                    return SourceSnapshot("unavailable", problems=(str(exc),), error_code="BAD_URL_TEMPLATE")

            return templated
        urls = self._url_map(s.ics_url_map_file)

        def mapped(mailbox: str) -> str | SourceSnapshot:
            url = urls.url_for(mailbox)
            if url is not None:
                return url
            why = f"FEED_NOT_MAPPED {mailbox}: the mailbox has no URL in ics_url_map_file; it is not synced"
            return SourceSnapshot("unavailable", problems=(why,), error_code="FEED_NOT_MAPPED")

        return mapped

    def _url_map(self, path: Path) -> FeedUrlMap:
        """The mailbox -> URL map; an unusable map is a configuration error (SettingsError), so that no
        mailbox is synced from half of it."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise SettingsError([f"ics_url_map_file: cannot read {path}: {exc.strerror}"], "source") from None
        key: tuple[object, ...] = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self.cache.url_map is None or self.cache.url_map[0] != key:
            try:
                self.cache.url_map = (key, load_url_map(path))
            except SourceUnavailable as exc:
                p = exc.problem
                raise SettingsError([f"ics_url_map_file: {p.location}: {p.message}"], "source") from None
        return self.cache.url_map[1]

    def table_mailboxes(self, win: Window) -> list[str]:
        """For CSV/JSON sources: every mailbox the file names with at least one good event in `win`; for
        a mailbox -> URL map: every mailbox it maps."""
        if self.settings.ics_url_map_file is not None:
            return self._url_map(self.settings.ics_url_map_file).mailboxes()
        table = self._table_for(win)
        return [] if table is None else table.mailboxes()

    def table_named(self, win: Window) -> list[str]:
        """For CSV/JSON sources: every mailbox the file names at all, even with no good event in `win`
        (offboarding's selection: a student whose exams are over is still in the export)."""
        table = self._table_for(win)
        return [] if table is None else table.named()

    def _table_for(self, win: Window) -> _Table | None:
        """The configured CSV/JSON file for `win`, read once per run (one file serves every mailbox)."""
        kind = self.settings.source_kind
        path = self.settings.csv_file if kind == "csv" else self.settings.json_file
        if kind not in ("csv", "json") or path is None:
            return None
        if self._table is not None and self._table[0] == (win.start, win.end):
            return self._table[1]
        try:
            stat = path.stat()
        except OSError as exc:
            raise SettingsError([f"cannot read {path}: {exc.strerror}"], "source") from None
        key: tuple[object, ...] = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino, win.start, win.end)
        cached = self.cache.table
        if cached is None or cached[0] != key:
            # A CSV export is indexed from disk in bounded memory whatever its size; JSON is read whole.
            opts = TabularOptions(extra_fields=extra_fields(self.settings))
            table = (
                load_csv_index_file(path, options=opts)
                if kind == "csv"
                else load_json(_read(path), window=win, options=opts)
            )
            cached = (key, _Table(table, win))
            self.cache.table = cached
        self._table = ((win.start, win.end), cached[1])
        return cached[1]


class _Table:
    """Each mailbox's snapshot from one CSV or JSON file. A CSV export is indexed and a mailbox's rows are
    read from the file and parsed when it is synced, so a run holds a few integers per mailbox, not every
    mailbox's events or the file (docs/sources.md); a JSON document must be parsed whole, so it is split
    into snapshots once."""

    def __init__(self, table: CsvIndex | SourceResult, win: Window) -> None:
        self._table = table
        self._window = win
        self._split = snapshots(table) if isinstance(table, SourceResult) else {}

    def digest(self, mailbox: str) -> str | None:
        """The digest of the mailbox's rows of a CSV export (None for JSON, parsed whole anyway)."""
        return self._table.digest(mailbox) if isinstance(self._table, CsvIndex) else None

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

    def named(self) -> list[str]:
        """Every mailbox the file names: a CSV's readable rows, a JSON document's events and problems
        (its events outside the window are not kept, so a mailbox with only those is not named)."""
        if isinstance(self._table, CsvIndex):
            return self._table.mailboxes()
        named = {e.mailbox for e in self._table.events} | {
            p.mailbox for p in self._table.problems if p.mailbox
        }
        return sorted({mailbox_name(m) for m in named})


def forget_feed(settings: Settings, store: RuntimeStateStore, mailbox: str) -> None:
    """Drop the stored validators of the mailbox's feed (`purge`: the mailbox no longer holds what the
    feed says, so the next plain sync must download the feed, not skip the mailbox on its 304)."""
    if settings.source_kind != "ics-url":
        return
    url = Sources(settings, store)._feed_urls()(mailbox)  # the template's or the map's
    if isinstance(url, SourceSnapshot):
        return  # no feed URL for this mailbox: nothing was ever stored for it
    known = store.source_state(source_state_key(url))
    if _holds_validators(known):
        _forget(store, known)


def _holds_validators(known: SourceState | None) -> TypeGuard[SourceState]:
    return known is not None and (known.etag is not None or known.last_modified is not None)


def _forget(store: RuntimeStateStore, known: SourceState) -> None:
    """Keep what the source state says about past runs, without the validators of a conditional GET."""
    store.put_source_state(replace(known, etag=None, last_modified=None))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError([f"cannot read {path}: {exc.strerror}"], "source") from None


async def resolve_mailboxes(
    settings: Settings, client: GraphClient, sources: Sources, win: Window
) -> list[str]:
    """The mailboxes to sync: the explicit list, else the group's members, else those a file names (a
    CSV/JSON export, or the mailbox -> URL map)."""
    if settings.mailboxes:
        return sorted({mailbox_name(m) for m in settings.mailboxes})
    if settings.group:
        members = client.group_transitive_user_members(settings.group)
        return sorted({mailbox_name(str(u.get("userPrincipalName") or u["id"])) async for u in members})
    table = sources.table_mailboxes(win)
    if table:
        return table
    raise SettingsError(
        ["mailboxes: list them, set group, or use a CSV/JSON source or URL map that names them"], "settings"
    )
