"""The composition root: settings in, ready objects out (a Graph client, a state store, an engine, a feed
fetcher). It only builds; what to do with them is calsync.services' business, which builds each object
once per process through a `Deployment`.

Nothing below this module knows concrete classes of its neighbours: the engine gets a CalendarTarget and
a StateStore, the Graph client gets a token provider. This is the one place where they are chosen from
calsync.toml.

Each builder imports the packages of what it builds when it is called (their types are imported for
mypy only): `calsync status` opens a store through this module and should not load the Graph client
(httpx, msal, cryptography), the feed fetcher or the migrations for it.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from calsync.domain import Window
from calsync.settings import SettingsError

if TYPE_CHECKING:
    from pathlib import Path

    import httpx
    from pydantic import SecretStr

    from calsync.adapters.calendars import NamedCalendar
    from calsync.graph import AppTokenProvider, Credential, EntraApp, GraphClient, TokenProvider
    from calsync.settings import Settings
    from calsync.sources import FeedAuth, FetchPolicy, SafeFetcher
    from calsync.store import RuntimeStateStore, SqlStateStore
    from calsync.store.vault import TokenVault
    from calsync.sync.engine import Engine


def credential(settings: Settings) -> Credential:
    """The app's credential from settings (files are read now; secrets never logged).

    A file that is missing, unreadable or does not hold what its key says is a configuration error
    naming that key (exit 3), not a crash."""
    from calsync.graph import CertificateCredential, ClientSecretCredential

    try:
        secret = settings.secret_value()
    except OSError as exc:
        raise SettingsError(
            [f"client_secret_file: cannot read {exc.filename}: {exc.strerror}"], "settings"
        ) from None
    if secret is not None:
        return ClientSecretCredential.from_value(secret)
    if settings.certificate_file is not None:
        cert, key = settings.certificate_file, settings.private_key_file
        password = settings.private_key_password.get_secret_value() if settings.private_key_password else None
        return _read_credential(
            "certificate_file / private_key_file",
            lambda: CertificateCredential.from_pem(cert, key, password),
        )
    if settings.pkcs12_file is not None:
        path = settings.pkcs12_file
        return _read_credential(
            "pkcs12_file", lambda: CertificateCredential.from_pkcs12(path, settings.pkcs12_password_value())
        )
    raise SettingsError(
        ["credential: give client_secret (CALSYNC_CLIENT_SECRET or client_secret_file), "
         "certificate_file + private_key_file, or pkcs12_file"],
        "settings",
    )  # fmt: skip


def _read_credential(keys: str, read: Callable[[], Credential]) -> Credential:
    try:
        return read()
    except OSError as exc:
        raise SettingsError([f"{keys}: cannot read {exc.filename}: {exc.strerror}"], "settings") from None
    except ValueError as exc:
        raise SettingsError([f"{keys}: {exc}"], "settings") from None


def entra_app(settings: Settings) -> EntraApp:
    from calsync.graph import EntraApp

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


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The feed fetcher's SSRF guard from settings (docs/sources.md)."""
    from calsync.sources import FetchPolicy

    s = settings
    return FetchPolicy(
        allow_http=s.allow_http_feeds,
        allow_private=s.allow_private_feeds,
        allow_hosts=frozenset(s.feed_allow_hosts),
        allow_networks=tuple(s.feed_allow_networks),
        only_hosts=None if s.feed_only_hosts is None else frozenset(s.feed_only_hosts),
        ports=None if s.allow_private_feeds else frozenset(s.feed_ports),
    )


def feed_fetcher(settings: Settings) -> SafeFetcher:
    """The fetcher of iCalendar feeds, with the configured guard, CA bundle and credentials."""
    from calsync.sources import SafeFetcher

    return SafeFetcher(fetch_policy(settings), verify=_verify(settings), auth=feed_auth(settings))


def feed_auth(settings: Settings) -> FeedAuth | None:
    """The feed credential from settings, its secret read from the variable or the file now; raises
    SettingsError naming the key (an unreadable file, a value that cannot be sent as a header)."""
    from calsync.sources import FeedAuth

    s = settings
    if s.feed_auth == "none":
        return None
    try:
        if s.feed_auth == "basic":
            password = _feed_secret(s.feed_password, s.feed_password_file, "feed_password_file")
            return FeedAuth.basic(s.feed_username or "", password)
        token = _feed_secret(s.feed_token, s.feed_token_file, "feed_token_file")
        if s.feed_auth == "bearer":
            return FeedAuth.bearer(token)
        return FeedAuth.header(s.feed_header_name or "", token)
    except ValueError as exc:
        raise SettingsError([f"feed_auth: {exc}"], "settings") from None


def _feed_secret(value: SecretStr | None, path: Path | None, key: str) -> str:
    if value is not None:
        return value.get_secret_value()
    assert path is not None  # Settings requires one of them for this feed_auth
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError([f"{key}: cannot read {path}: {exc.strerror}"], "settings") from None
    except UnicodeDecodeError:
        raise SettingsError([f"{key}: {path} is not UTF-8 text"], "settings") from None


@asynccontextmanager
async def graph_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    tokens: AppTokenProvider | TokenProvider | None = None,
    observer: Callable[[str, int | None, float | None], None] | None = None,
) -> AsyncIterator[GraphClient]:
    """One GraphClient for the process, with app-only tokens (or the `tokens` given: a person's own,
    for a delegated connection); closes its connections and msal's after use.

    `tokens` reuses a provider the caller already holds (e.g. `calsync auth test`, which reads the token's
    claims and then calls Graph with the same token); the caller closes it.
    """
    from calsync.graph import AppTokenProvider, GraphClient, RetryPolicy

    own = AppTokenProvider(entra_app(settings)) if tokens is None else None
    provider = own if own is not None else tokens
    assert provider is not None
    client = GraphClient(
        provider,
        base_url=settings.graph_url,
        transport=transport,
        verify=_verify(settings),
        mailbox_concurrency=settings.mailbox_concurrency,
        rate_limit=settings.requests_per_second,
        retry=RetryPolicy(max_total_seconds=settings.graph_retry_seconds),
        observer=observer,
    )
    try:
        yield client
    finally:
        await client.aclose()
        if own is not None:
            await own.aclose()


@contextmanager
def open_store(settings: Settings, *, migrate: bool = True) -> Iterator[SqlStateStore]:
    """The state store, its connections closed after use; migrations run first (idempotent), so a fresh
    database just works."""
    from calsync.store import SqlStateStore, make_engine, upgrade

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


def named_calendar(settings: Settings, client: GraphClient) -> NamedCalendar | None:
    """The profile's own calendar (`calendar_name`), or None when it writes to calendar_id or the
    default calendar."""
    from calsync.adapters.calendars import CalendarSpec, NamedCalendar
    from calsync.adapters.eventmap import Ownership

    if settings.calendar_name is None:
        return None
    spec = CalendarSpec(settings.calendar_name, settings.calendar_color)
    return NamedCalendar(client, spec, Ownership(settings.profile))


def sync_engine(
    settings: Settings, client: GraphClient, store: RuntimeStateStore, named: NamedCalendar | None = None
) -> Engine:
    """The engine of the profile `settings` describe (Settings.for_profile): its ownership tag, its
    calendar (`named`: its own, from `named_calendar`), and transaction ids in a namespace of its own, so
    two profiles with the same source key in one mailbox never make the same transactionId (Graph would
    refuse the second create as a duplicate)."""
    from calsync.adapters.eventmap import DEFAULT_PROFILE, Ownership
    from calsync.adapters.graph_target import GraphCalendarTarget
    from calsync.sync.engine import Engine
    from calsync.sync.planner import Policy
    from calsync.sync.safety import Limits

    settings.require("tenant_id")
    assert settings.tenant_id is not None
    namespace = (
        settings.tenant_id
        if settings.profile == DEFAULT_PROFILE
        else f"{settings.tenant_id}|{settings.profile}"
    )
    return Engine(
        GraphCalendarTarget(
            client, calendar_id=settings.calendar_id, owner=Ownership(settings.profile), named=named
        ),
        store,
        tenant_id=namespace,
        policy=Policy(user_changes=settings.user_changes, user_deletes=settings.user_deletes),
        limits=Limits(settings.shrink_ratio, settings.shrink_min_deletes, settings.max_deletes),
        max_failures=settings.max_failures,
    )


TOKEN_KEY_FILE_NAME = "calsync-token.key"  # noqa: S105 - a file name, not a secret


def token_vault(settings: Settings, *, create: bool = True) -> TokenVault:
    """The vault sealing people's token caches, from `token_keys` (CALSYNC_TOKEN_KEYS) or
    `token_key_file`; with neither, on the embedded default (SQLite), a key file beside the database,
    made with mode 0600 when absent (`create`). A PostgreSQL deployment must configure its keys: its
    workers may run on other hosts, and a key made on one of them would seal what the others cannot
    open.

    Raises:
        SettingsError: no keys, an unreadable key file, or a malformed key (named by position only).
    """
    from calsync.store.vault import TokenVault, VaultError, parse_keys

    try:
        if settings.token_keys is not None:
            return TokenVault(parse_keys(settings.token_keys.get_secret_value()))
        path = settings.token_key_file or default_token_key_file(settings)
        if path is None:
            raise SettingsError(
                ["token_key_file: required with PostgreSQL (or CALSYNC_TOKEN_KEYS); see docs/deploy.md"],
                "settings",
            )
        if not path.exists() and create and settings.token_key_file is None:
            _write_new_key_file(path)
        return TokenVault(parse_keys(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise SettingsError(
            [f"token_key_file: cannot read {exc.filename}: {exc.strerror}"], "settings"
        ) from None
    except VaultError as exc:
        where = "token_keys" if settings.token_keys is not None else "token_key_file"
        raise SettingsError([f"{where}: {exc}"], "settings") from None


def default_token_key_file(settings: Settings) -> Path | None:
    """Where the embedded default keeps its token key: beside the SQLite database (None elsewhere)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:"):
        return Path(TOKEN_KEY_FILE_NAME)
    return Path(database).resolve().parent / TOKEN_KEY_FILE_NAME


def _write_new_key_file(path: Path) -> None:
    """A new key file, readable by its owner only, created atomically (never over an existing one)."""
    import os

    from calsync.store.vault import generate_key

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# calsync token key (first line: primary). Keep it secret; back it up.\n")
        out.write(generate_key() + "\n")


def delegated_app(settings: Settings) -> EntraApp:
    """The app registration as people sign in to it (the same one, with its credential)."""
    return entra_app(settings)


def delegated_scopes(settings: Settings) -> list[str]:
    """The Graph scopes of a person's token, as full resource URIs (msal adds offline_access, openid
    and profile itself)."""
    base = "https://graph.microsoft.com/"
    return [s if "://" in s else base + s for s in settings.delegated_scopes]


CONNECT_CALLBACK = "/connect/callback"


def connect_redirect_uri(settings: Settings) -> str:
    """Where Microsoft sends people back after connecting: `redirect_uri` when it is set, else the
    pages' callback on `public_url` (or http://listen_host:listen_port), as the /connect page uses it."""
    if "redirect_uri" in settings.model_fields_set:
        return settings.redirect_uri
    return public_base(settings) + CONNECT_CALLBACK


def public_base(settings: Settings) -> str:
    """Where browsers reach the pages: `public_url`, or http://listen_host:listen_port without one."""
    host = settings.listen_host
    base = settings.public_url or f"http://{f'[{host}]' if ':' in host else host}:{settings.listen_port}"
    return base.rstrip("/")


def relink_url(settings: Settings, connection_id: str) -> str:
    """The page that signs a disconnected person in again (the /me page's "Connect again")."""
    from urllib.parse import quote

    return f"{public_base(settings)}/connect/start?relink={quote(connection_id, safe='')}"
