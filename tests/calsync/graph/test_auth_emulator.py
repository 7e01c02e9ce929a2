"""Token providers against graphemu's identity platform: every credential kind, every AADSTS failure
calsync names, a token expiring mid-run, delegated refresh through a persisted cache, and TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from calsync.graph import (
    AppNotFound,
    AppTokenProvider,
    AuthError,
    CertificateCredential,
    CertificateExpired,
    CertificateNotRegistered,
    ClientSecretCredential,
    ClientSecretExpired,
    ConsentRequired,
    DelegatedTokenCache,
    DelegatedTokenProvider,
    EntraApp,
    GraphClient,
    InvalidClientSecret,
    ReconnectRequired,
    finish_auth_code_flow,
    start_auth_code_flow,
)
from graphemu import EmulatorConfig, World
from graphemu.seed import certificate_from_pem
from graphemu.testing import EmulatorTransport
from graphemu.world import ClientSecret

from .conftest import ADELE, CLIENT, GRAPH, SECRET, TENANT, FakeClock
from .identity import LOGIN, HiddenFields, LoopBridge, register_certificate
from .test_credentials import key_pem, make_certificate, pem

REDIRECT = "http://localhost:8080/callback"


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig(login_base_url=LOGIN)


@pytest.fixture
async def bridge(app: Any) -> AsyncIterator[LoopBridge]:
    client = LoopBridge(app, asyncio.get_running_loop())
    yield client
    await client.aclose()


def entra(bridge: LoopBridge, credential: Any = None, **kwargs: Any) -> EntraApp:
    kwargs.setdefault("tenant", TENANT)
    kwargs.setdefault("client_id", CLIENT)
    return EntraApp(
        credential=credential or ClientSecretCredential.from_value(SECRET),
        authority_host=LOGIN,
        http_client=bridge,
        **kwargs,
    )


async def can_read_graph(app: Any, provider: Any, path: str = f"/users/{ADELE}") -> dict[str, Any]:
    """Use the provider's token for one Graph call through the client."""
    async with GraphClient(
        provider, base_url=GRAPH, transport=EmulatorTransport(app), clock=FakeClock()
    ) as g:
        result: dict[str, Any] = await g.request_json("GET", path)
    return result


async def test_client_secret(app: Any, bridge: LoopBridge) -> None:
    """A client secret gets an app token that Graph accepts; it is reused from memory afterwards."""
    provider = AppTokenProvider(entra(bridge))
    token = await provider.token()
    assert token == await provider.token()
    assert provider.token_requests == 1
    assert bridge.token_posts == 1
    assert (await can_read_graph(app, provider))["userPrincipalName"] == ADELE


async def test_concurrent_callers_share_one_token_request(bridge: LoopBridge) -> None:
    """Twenty callers asking at once cause one token request."""
    provider = AppTokenProvider(entra(bridge))
    tokens = await asyncio.gather(*(provider.token() for _ in range(20)))
    assert len(set(tokens)) == 1
    assert bridge.token_posts == 1


async def test_token_reused_until_five_minutes_before_expiry(
    config: EmulatorConfig, bridge: LoopBridge
) -> None:
    """A token is reused while more than 5 minutes remain, from memory and in msal's cache alike."""
    now = [0.0]
    provider = AppTokenProvider(entra(bridge), clock=lambda: now[0])
    first = await provider.token()
    now[0] = 3599 - 301
    assert await provider.token() == first
    assert bridge.token_posts == 1
    now[0] = 3599 - 299  # past our margin: msal is asked again, and (in real time) serves its cache
    assert await provider.token() == first
    assert bridge.token_posts == 1
    config.access_token_seconds = 299  # msal itself treats a token with < 5 minutes left as expired
    short = AppTokenProvider(entra(bridge))
    assert await short.token() != await short.token()
    assert short.token_requests == 2
    assert bridge.token_posts == 3


async def test_pem_certificate(app: Any, bridge: LoopBridge, tmp_path: Path) -> None:
    """A PEM certificate and key (PS256, x5t#S256) get a token; so does thumbprint mode (RS256)."""
    key, cert = register_certificate(app)
    (tmp_path / "cert.pem").write_bytes(pem(cert))
    (tmp_path / "key.pem").write_bytes(key_pem(key, b"pem-pass"))
    credential = CertificateCredential.from_pem(tmp_path / "cert.pem", tmp_path / "key.pem", "pem-pass")
    assert await can_read_graph(app, AppTokenProvider(entra(bridge, credential)))
    thumbprint = CertificateCredential.from_pem(
        tmp_path / "cert.pem", tmp_path / "key.pem", "pem-pass", use_thumbprint=True
    )
    assert await AppTokenProvider(entra(bridge, thumbprint)).token()


async def test_pkcs12_certificate(app: Any, bridge: LoopBridge, tmp_path: Path) -> None:
    """A password-protected PKCS#12 file gets a token."""
    key, cert = register_certificate(app)
    blob = pkcs12.serialize_key_and_certificates(
        b"calsync", key, cert, None, serialization.BestAvailableEncryption(b"keystore-password")
    )
    (tmp_path / "app.p12").write_bytes(blob)
    credential = CertificateCredential.from_pkcs12(tmp_path / "app.p12", "keystore-password")
    assert await can_read_graph(app, AppTokenProvider(entra(bridge, credential)))


async def test_wrong_secret_value(bridge: LoopBridge) -> None:
    """AADSTS7000215 for a wrong secret that is no id: the value is wrong (mistyped, from another app or
    replaced), not "you gave the secret ID", which would send the administrator looking for a GUID."""
    with pytest.raises(InvalidClientSecret) as info:
        await AppTokenProvider(entra(bridge, ClientSecretCredential.from_value("wrong~Value_0123"))).token()
    assert info.value.aadsts == 7000215
    assert "secret ID" not in info.value.hint
    assert "not a secret of the app" in info.value.hint


async def test_secret_id_instead_of_value(world: World, bridge: LoopBridge) -> None:
    """Giving the Secret ID (a GUID) is the classic mistake: the same error, the same hint."""
    secret_id = world.apps[CLIENT].secrets[0].key_id
    with pytest.raises(InvalidClientSecret) as info:
        await AppTokenProvider(entra(bridge, ClientSecretCredential.from_value(secret_id))).token()
    assert "secret ID, not its value" in info.value.hint
    assert "secret ID, not its value" in str(info.value)


async def test_expired_secret(world: World, bridge: LoopBridge) -> None:
    """AADSTS7000222: the secret expired."""
    world.apps[CLIENT].secrets.append(
        ClientSecret("old-secret", expires=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    )
    with pytest.raises(ClientSecretExpired) as info:
        await AppTokenProvider(entra(bridge, ClientSecretCredential.from_value("old-secret"))).token()
    assert "expired" in info.value.hint


async def test_certificate_not_uploaded(bridge: LoopBridge, tmp_path: Path) -> None:
    """AADSTS700027: a certificate the app does not know says to upload it."""
    key, cert = make_certificate()
    (tmp_path / "c.pem").write_bytes(key_pem(key) + pem(cert))
    with pytest.raises(CertificateNotRegistered) as info:
        await AppTokenProvider(entra(bridge, CertificateCredential.from_pem(tmp_path / "c.pem"))).token()
    assert "upload the public certificate" in info.value.hint


def expired_certificate(tmp_path: Path) -> tuple[Any, Any, CertificateCredential]:
    """A key and a certificate whose notAfter has passed (yesterday), loaded as calsync would."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key, fresh = make_certificate()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(fresh.subject)
        .issuer_name(fresh.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "old.pem").write_bytes(key_pem(key) + pem(cert))
    return key, cert, CertificateCredential.from_pem(tmp_path / "old.pem")


async def test_expired_certificate_is_reported_as_expired(
    app: Any, bridge: LoopBridge, tmp_path: Path
) -> None:
    """A registered certificate past its notAfter is refused (AADSTS700027, "The key used is expired"):
    the hint says it expired and when, not that it is not registered."""
    _key, cert, credential = expired_certificate(tmp_path)
    app.state.world.apps[CLIENT].certificates.append(certificate_from_pem(pem(cert)))
    with pytest.raises(CertificateExpired) as info:
        await AppTokenProvider(entra(bridge, credential)).token()
    assert info.value.aadsts == 700027
    assert "expired" in info.value.hint
    assert credential.not_valid_after.date().isoformat() in info.value.hint
    assert "not registered" not in info.value.hint


async def test_a_registration_that_expired_is_reported_as_expired(
    app: Any, bridge: LoopBridge, tmp_path: Path
) -> None:
    """The app's key credential can end before the certificate does (the portal's end date): Entra's
    "The key used is expired" is then the only sign, and it is enough."""
    key, cert = make_certificate()
    (tmp_path / "c.pem").write_bytes(key_pem(key) + pem(cert))
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    app.state.world.apps[CLIENT].certificates.append(certificate_from_pem(pem(cert), expires=past))
    with pytest.raises(CertificateExpired) as info:
        await AppTokenProvider(entra(bridge, CertificateCredential.from_pem(tmp_path / "c.pem"))).token()
    assert "expired" in info.value.hint
    assert "not registered" not in info.value.hint


async def test_unknown_client_id(bridge: LoopBridge) -> None:
    """AADSTS700016: a client id unknown in the tenant points at client_id and tenant_id."""
    with pytest.raises(AppNotFound) as info:
        await AppTokenProvider(entra(bridge, client_id="00000000-0000-4000-8000-000000000000")).token()
    assert "client_id and tenant_id" in info.value.hint


async def test_descriptions_hold_no_trace_ids(bridge: LoopBridge) -> None:
    """Error descriptions keep the message, not Entra's trace and correlation ids."""
    with pytest.raises(AuthError) as info:
        await AppTokenProvider(entra(bridge, ClientSecretCredential.from_value("wrong"))).token()
    assert "Trace ID" not in info.value.description
    assert "AADSTS7000215" in info.value.description


async def test_token_expiring_mid_run_is_refreshed_once(app: Any, world: World, bridge: LoopBridge) -> None:
    """When Graph's clock passes the token's expiry, concurrent requests get 401; one refresh serves all."""
    provider = AppTokenProvider(entra(bridge))
    async with GraphClient(
        provider, base_url=GRAPH, transport=EmulatorTransport(app), clock=FakeClock()
    ) as graph:
        await graph.get_user(ADELE)
        world.clock.advance(3700)  # the token expired for graphemu; the client's clock did not move
        users = await asyncio.gather(*(graph.get_user(ADELE) for _ in range(10)))
    assert all(u["userPrincipalName"] == ADELE for u in users)
    assert provider.token_requests == 2
    assert bridge.token_posts == 2


async def sign_in(app: Any, bridge: LoopBridge, cache: DelegatedTokenCache) -> Any:
    """The authorization-code flow as the web layer runs it; prompt=none signs Adele in without a page."""
    registration = entra(bridge)
    flow = await start_auth_code_flow(registration, redirect_uri=REDIRECT, login_hint=ADELE, prompt="none")
    assert {"state", "code_verifier", "nonce"} <= set(flow)
    assert "code_challenge=" in flow["auth_uri"]
    page = await bridge._client.get(flow["auth_uri"])
    answer = HiddenFields(page.text).fields
    assert "code" in answer, page.text
    return await finish_auth_code_flow(registration, flow, answer, cache=cache)


async def test_delegated_sign_in_and_refresh_through_persisted_cache(app: Any, bridge: LoopBridge) -> None:
    """Sign-in fills the cache (persisted by the callback); a new provider on the stored cache refreshes."""
    stored: list[str] = []

    async def save(serialized: str) -> None:
        stored.append(serialized)

    signin = await sign_in(app, bridge, DelegatedTokenCache(on_change=save))
    assert signin.username == ADELE
    assert signin.home_account_id
    assert stored
    cache = DelegatedTokenCache(stored[-1], on_change=stored.append)
    provider = DelegatedTokenProvider(entra(bridge), cache, account=signin.home_account_id)
    posts = bridge.token_posts
    token = await provider.token(force_refresh=True)
    assert bridge.token_posts == posts + 1
    assert len(stored) >= 2
    calendars = await can_read_graph(app, provider, "/me/calendars")
    assert calendars["value"]
    assert token


async def test_state_mismatch_is_refused(app: Any, bridge: LoopBridge) -> None:
    """A redirect whose state is not the flow's is refused with an AuthError, before any redemption."""
    registration = entra(bridge)
    flow = await start_auth_code_flow(registration, redirect_uri=REDIRECT, login_hint=ADELE, prompt="none")
    with pytest.raises(AuthError, match="start again"):
        await finish_auth_code_flow(
            registration, flow, {"code": "x", "state": "forged"}, cache=DelegatedTokenCache()
        )


async def test_consent_missing_gives_admin_consent_url(app: Any, world: World, bridge: LoopBridge) -> None:
    """AADSTS65001 on refresh (consent withdrawn) carries the admin-consent URL to print."""
    cache = DelegatedTokenCache()
    await sign_in(app, bridge, cache)
    world.apps[CLIENT].admin_consented_scopes.clear()
    world.apps[CLIENT].user_consents.clear()
    with pytest.raises(ConsentRequired) as info:
        await DelegatedTokenProvider(entra(bridge), cache).token(force_refresh=True)
    url = info.value.admin_consent_url
    assert url
    assert url.startswith(f"{LOGIN}/{TENANT}/v2.0/adminconsent?client_id={CLIENT}")
    assert url in info.value.hint


async def test_inactive_refresh_token_says_reconnect(app: Any, world: World, bridge: LoopBridge) -> None:
    """AADSTS700082 (refresh token unused for 90 days) says to reconnect."""
    cache = DelegatedTokenCache()
    await sign_in(app, bridge, cache)
    world.clock.advance(91 * 86400)
    with pytest.raises(ReconnectRequired) as info:
        await DelegatedTokenProvider(entra(bridge), cache).token(force_refresh=True)
    assert info.value.aadsts == 700082
    assert "reconnect" in info.value.hint


async def test_expired_code_says_sign_in_again(app: Any, world: World, bridge: LoopBridge) -> None:
    """AADSTS70008 (the code expired before redemption) says to reconnect."""
    registration = entra(bridge)
    flow = await start_auth_code_flow(registration, redirect_uri=REDIRECT, login_hint=ADELE, prompt="none")
    answer = HiddenFields((await bridge._client.get(flow["auth_uri"])).text).fields
    world.clock.advance(3600)
    with pytest.raises(ReconnectRequired) as info:
        await finish_auth_code_flow(registration, flow, answer, cache=DelegatedTokenCache())
    assert info.value.aadsts == 70008


async def test_empty_cache_needs_reconnect(bridge: LoopBridge) -> None:
    """A delegated provider with no sign-in in its cache asks to reconnect instead of failing obscurely."""
    with pytest.raises(ReconnectRequired):
        await DelegatedTokenProvider(entra(bridge), DelegatedTokenCache()).token()


@pytest.mark.slow
async def test_tls_server_with_ca_file_despite_requests_ca_bundle(
    world: World, config: EmulatorConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against graphemu over real TLS the CA file is honoured, though REQUESTS_CA_BUNDLE points elsewhere."""
    from graphemu.server import BackgroundServer

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with BackgroundServer(world, config, tls_dir=tmp_path / "tls") as info:
        assert info.ca is not None
        registration = EntraApp(
            TENANT,
            CLIENT,
            ClientSecretCredential.from_value(SECRET),
            authority_host=info.login,
            ca_file=info.ca,
        )
        provider = AppTokenProvider(registration)
        async with GraphClient(provider, base_url=info.graph, verify=info.ca, rng=random.Random(1)) as graph:
            user = await graph.get_user(ADELE)
            calendars = [c async for c in graph.list_calendars(ADELE)]
        await provider.aclose()
    assert user["userPrincipalName"] == ADELE
    assert calendars
