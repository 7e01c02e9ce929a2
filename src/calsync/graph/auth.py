"""Token providers over msal: the only module of calsync that imports msal.

Why it is wrapped this way (style.md §5, conventions 3-4):
- msal is blocking (requests underneath), so every msal call runs in a worker thread
  (`asyncio.to_thread`), one at a time per provider behind an `asyncio.Lock`: concurrent callers that all
  need a token trigger a single token request.
- msal returns errors as dicts; they become `AuthError` subclasses here (`calsync.graph.autherrors`), and
  connection failures to the token endpoint become `TransportError`.
- A token is reused from memory, without touching msal or a thread, until 5 minutes before it expires
  (the same margin msal applies to its own cache: `expires_in < 5*60` counts as expired in
  `_acquire_token_silent_from_cache_and_possibly_refresh_it`).
- The authority is configurable (graphemu, national clouds). Hosts msal does not know get
  `instance_discovery=False`, and when a CA file is given msal gets a `requests.Session` with
  `trust_env=False`, because `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` silently override `verify=`
  (graph-facts §1.5). `trust_env=False` also ignores proxy variables: pass `http_client` if a proxy is needed.

Public API: `EntraApp`, `TokenProvider`, `AppTokenProvider`, `DelegatedTokenCache`, `DelegatedTokenProvider`,
`GRAPH_DEFAULT_SCOPE`; the sign-in flow for the web layer is in `calsync.graph.signin` and uses the
package-internal helpers `msal_session`, `build_msal` and `in_thread`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import msal
import requests  # msal's own HTTP library

from calsync.graph.autherrors import AuthError, ReconnectRequired, auth_error
from calsync.graph.credentials import CertificateCredential, ClientSecretCredential, Credential
from calsync.graph.errors import TransportError
from calsync.graph.tokens import TokenProvider

__all__ = [
    "GRAPH_DEFAULT_SCOPE",
    "AppTokenProvider",
    "DelegatedTokenCache",
    "DelegatedTokenProvider",
    "EntraApp",
    "TokenProvider",
]

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
EXPIRY_MARGIN_SECONDS = 300.0
_T = TypeVar("_T")
log = logging.getLogger("calsync.graph")


@dataclass(frozen=True, slots=True)
class EntraApp:
    """The app registration calsync signs in as.

    Attributes:
        tenant: tenant id (GUID) or verified domain; app-only tokens need a specific tenant.
        client_id: the application (client) id.
        credential: a secret or certificate; None for a public client (delegated only).
        authority_host: e.g. https://login.microsoftonline.us, or https://127.0.0.1:8443 for graphemu.
        ca_file: a CA bundle to trust for the authority (graphemu's ca.pem).
        http_client: an object with msal's small HTTP interface (get/post/close), replacing requests.
        timeout: seconds for each msal HTTP call.
    """

    tenant: str
    client_id: str
    credential: Credential | None = None
    authority_host: str = "https://login.microsoftonline.com"
    ca_file: str | None = None
    http_client: Any = field(default=None, repr=False, compare=False)
    timeout: float = 30.0

    @property
    def authority(self) -> str:
        """The authority URL msal gets: `{authority_host}/{tenant}`."""
        return f"{self.authority_host.rstrip('/')}/{self.tenant}"

    def admin_consent_url(self, redirect_uri: str | None = None, *, state: str | None = None) -> str:
        """The v2 admin-consent URL for Graph application permissions (graph-facts §1.3)."""
        tenant = "organizations" if self.tenant.lower() == "common" else self.tenant
        query = {"client_id": self.client_id, "scope": GRAPH_DEFAULT_SCOPE}
        if redirect_uri:
            query["redirect_uri"] = redirect_uri
        if state:
            query["state"] = state
        return f"{self.authority_host.rstrip('/')}/{tenant}/v2.0/adminconsent?{urlencode(query)}"


def msal_session(app: EntraApp) -> requests.Session:
    """The requests session msal uses when the app gives no http_client (see the module docstring)."""
    session = requests.Session()
    if app.ca_file:
        session.trust_env = False
        session.verify = app.ca_file
    return session


def build_msal(app: EntraApp, cache: Any, http_client: Any) -> Any:
    """An msal application for `app` (does network I/O: discovery; call in a thread)."""
    kwargs: dict[str, Any] = {
        "authority": app.authority,
        "http_client": http_client,
        "timeout": app.timeout,
        "token_cache": cache,
    }
    host = (urlsplit(app.authority_host).hostname or "").lower()
    if host not in getattr(msal.authority, "WELL_KNOWN_AUTHORITY_HOSTS", ()):
        kwargs["instance_discovery"] = False
    try:
        if app.credential is None:
            return msal.PublicClientApplication(app.client_id, **kwargs)
        return msal.ConfidentialClientApplication(
            app.client_id, client_credential=app.credential.msal_credential(), **kwargs
        )
    except ValueError as exc:
        raise AuthError(
            str(exc),
            error="invalid_authority",
            hint=f"The authority {app.authority} could not be used: check the tenant and the authority host.",
        ) from None


async def in_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """Run a blocking msal call in a worker thread, translating requests' connection errors."""
    try:
        return await asyncio.to_thread(fn, *args)
    except requests.RequestException as exc:
        raise TransportError(f"identity platform unreachable ({type(exc).__name__})") from exc


class _MsalTokenProvider:
    """Shared machinery: the in-memory token, the lock, the lazily built msal app."""

    def __init__(self, app: EntraApp, scopes: Sequence[str], clock: Callable[[], float]) -> None:
        self.app = app
        self.scopes = list(scopes)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._msal: Any = None
        self._session: requests.Session | None = None
        self._token: str | None = None
        self._usable_until = 0.0
        self.token_requests = 0  # token endpoint round trips (not cache hits), for tests and metrics

    async def token(self, *, force_refresh: bool = False) -> str:
        """A token valid for at least 5 more minutes; `force_refresh` asks the identity platform again.

        Concurrent callers share one request: a caller that waited for the lock while another caller
        refreshed gets that fresh token instead of refreshing a second time.
        """
        seen = self._token
        if not force_refresh and self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if self._fresh() and (not force_refresh or self._token != seen):
                assert self._token is not None
                return self._token
            try:
                result = await in_thread(self._acquire, force_refresh)
            finally:
                await self._after_acquire()  # msal may have changed its cache even when it failed
            return self._accept(result)

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._usable_until

    def _accept(self, result: Mapping[str, Any] | None) -> str:
        if not result or "access_token" not in result:
            raise self._error(result or {})
        if result.get("token_source") != "cache":
            self.token_requests += 1
        token = str(result["access_token"])
        expires_in = float(result.get("expires_in") or 0)
        self._token, self._usable_until = token, self._clock() + expires_in - EXPIRY_MARGIN_SECONDS
        log.debug(
            "calsync.graph.token_acquired", extra={"client_id": self.app.client_id, "expires_in": expires_in}
        )
        return token

    def _error(self, result: Mapping[str, Any]) -> AuthError:
        """The refusal, told with what only this side knows: whether the configured secret is shaped like
        a secret's ID, and whether the configured certificate's notAfter has passed (checked here, on
        the provider's clock, only once the identity platform has refused it)."""
        credential = self.app.credential
        id_shaped = isinstance(credential, ClientSecretCredential) and credential.looks_like_secret_id()
        expired = None
        if isinstance(credential, CertificateCredential):
            ended = credential.not_valid_after
            expired = ended if ended.timestamp() <= self._clock() else None
        return auth_error(
            result,
            admin_consent_url=self.app.admin_consent_url(),
            secret_looks_like_id=id_shaped,
            certificate_expired=expired,
        )

    def _application(self) -> Any:
        if self._msal is None:
            http_client = self.app.http_client
            if http_client is None:
                http_client = self._session = msal_session(self.app)
            self._msal = build_msal(self.app, self._msal_cache(), http_client)
        return self._msal

    async def aclose(self) -> None:
        """Close the HTTP session msal used (when the provider made it)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def _msal_cache(self) -> Any:
        return None

    def _acquire(self, force_refresh: bool) -> Mapping[str, Any] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _after_acquire(self) -> None:
        return None


class AppTokenProvider(_MsalTokenProvider):
    """Application permissions (client credentials grant) with a secret or a certificate."""

    def __init__(
        self,
        app: EntraApp,
        *,
        scopes: Sequence[str] = (GRAPH_DEFAULT_SCOPE,),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if app.credential is None:
            raise ValueError("application permissions need a client secret or a certificate")
        super().__init__(app, scopes, clock)

    def _acquire(self, force_refresh: bool) -> Mapping[str, Any] | None:
        application = self._application()
        if force_refresh:  # acquire_token_for_client has no force_refresh: drop the cached access tokens
            cache = application.token_cache
            kind = cache.CredentialType.ACCESS_TOKEN
            for entry in list(cache.search(kind)):
                cache.remove_at(entry)
        result: Mapping[str, Any] | None = application.acquire_token_for_client(scopes=self.scopes)
        return result


class DelegatedTokenCache:
    """msal's serialisable token cache for one signed-in user, persisted through `on_change`.

    `on_change(serialized)` is called after every msal call that changed the cache (a new refresh token, a
    new access token). It may be a plain function or a coroutine function; it runs on the event loop, not
    in msal's worker thread. The serialized cache holds refresh tokens: store it encrypted.
    """

    def __init__(
        self,
        serialized: str | None = None,
        *,
        on_change: Callable[[str], Awaitable[None] | None] | None = None,
    ) -> None:
        self._cache = msal.SerializableTokenCache()
        if serialized:
            self._cache.deserialize(serialized)
        self._on_change = on_change

    @property
    def msal_cache(self) -> Any:
        """The underlying `msal.SerializableTokenCache`."""
        return self._cache

    def serialize(self) -> str:
        """The cache as a string (it contains refresh tokens: keep it secret)."""
        return str(self._cache.serialize())

    async def persist(self) -> bool:
        """Call `on_change` if msal changed the cache since the last persist; True if it did."""
        if not self._cache.has_state_changed:
            return False
        data = self.serialize()
        if self._on_change is not None:
            outcome = self._on_change(data)
            if inspect.isawaitable(outcome):
                await outcome
        return True


class DelegatedTokenProvider(_MsalTokenProvider):
    """Delegated permissions for one signed-in user, refreshed silently through msal and its cache.

    Args:
        account: the msal `home_account_id` (from `SignIn`) or the username; None takes the only
            account in the cache.
        scopes: Graph scopes such as "Calendars.ReadWrite" (msal adds offline_access/openid/profile).
    """

    def __init__(
        self,
        app: EntraApp,
        cache: DelegatedTokenCache,
        *,
        account: str | None = None,
        scopes: Sequence[str] = ("https://graph.microsoft.com/Calendars.ReadWrite",),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(app, scopes, clock)
        self.cache = cache
        self.account = account

    def _msal_cache(self) -> Any:
        return self.cache.msal_cache

    def _acquire(self, force_refresh: bool) -> Mapping[str, Any] | None:
        application = self._application()
        accounts: list[dict[str, Any]] = application.get_accounts()
        wanted = (self.account or "").lower()
        chosen = [
            a
            for a in accounts
            if not wanted
            or wanted in (str(a.get("home_account_id", "")).lower(), str(a.get("username", "")).lower())
        ]
        if len(chosen) != 1:
            return {
                "error": "no_account",
                "error_description": "no single matching sign-in in the token cache",
            }
        result: Mapping[str, Any] | None = application.acquire_token_silent_with_error(
            self.scopes, chosen[0], force_refresh=force_refresh
        )
        return result or {
            "error": "no_refresh_token",
            "error_description": "the cache holds no refresh token",
        }

    def _error(self, result: Mapping[str, Any]) -> AuthError:
        if result.get("error") in ("no_account", "no_refresh_token"):
            return ReconnectRequired(str(result.get("error_description", "")), error=str(result["error"]))
        return super()._error(result)

    async def _after_acquire(self) -> None:
        await self.cache.persist()
