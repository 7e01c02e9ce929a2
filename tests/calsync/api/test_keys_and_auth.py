"""API keys: shown once, stored hashed, refused when wrong, revoked or out of scope; the error shape."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from calsync.services.api_keys import ApiKeyError, ApiKeys
from calsync.store.apikeys import ApiKeyStore
from tests.calsync.api.conftest import MAILBOX, ApiTenant, api_client


async def test_profiles_answer_a_valid_key_and_refuse_others(api_tenant: ApiTenant, folder: Path) -> None:
    async with api_client(api_tenant, folder) as c:
        missing = await c.http.get("/v1/profiles")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="calsync"'
        assert missing.json()["errors"]["authorization"][0]["key"] == "errors.unauthorized"

        wrong = await c.http.get("/v1/profiles", headers={"Authorization": "Bearer csk_abcdefghij_nope"})
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]

        ok = await c.http.get("/v1/profiles", headers=c.auth("read"))
        assert ok.status_code == 200, ok.text
        (profile,) = ok.json()["profiles"]
        assert profile["provider_name"] == "exchange"
        assert profile["provider_service"] == "office365"
        assert profile["profile_name"] == MAILBOX
        assert profile["profile_connected"] is True
        assert "profile_relink_url" not in profile or profile["profile_relink_url"] is None

        write_only = await c.http.get("/v1/profiles", headers=c.auth("write"))
        assert write_only.status_code == 403
        assert write_only.json()["errors"]["scope"][0]["key"] == "errors.forbidden"
        assert 'error="insufficient_scope"' in write_only.headers["www-authenticate"]

        assert (await c.http.get("/v1/profiles", headers=c.auth("admin"))).status_code == 200


async def test_a_revoked_key_is_refused_and_only_its_hash_is_stored(
    api_tenant: ApiTenant, folder: Path
) -> None:
    async with api_client(api_tenant, folder) as c:
        keys = ApiKeys(ApiKeyStore(c.deployment.store.engine))
        made = keys.create("timetable", ["read"])
        headers = {"Authorization": f"Bearer {made.key}"}
        assert (await c.http.get("/v1/profiles", headers=headers)).status_code == 200
        with c.deployment.store.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT * FROM api_keys")).mappings().one()
        assert made.key not in {str(v) for v in stored.values()}
        assert stored["hash"] == hashlib.sha256(made.key.encode()).hexdigest()
        assert stored["last_used"] is not None
        keys.revoke(made.record.id)  # by another process, say: the service sees it within 2 s

        async def refused() -> bool:
            return (await c.http.get("/v1/profiles", headers=headers)).status_code == 401

        deadline = asyncio.get_running_loop().time() + 30
        while not await refused():
            assert asyncio.get_running_loop().time() < deadline, "the revoked key is still accepted"
            await asyncio.sleep(0.2)
        # the same id with another secret is not the key
        forged = made.key[:-4] + ("aaaa" if not made.key.endswith("aaaa") else "bbbb")
        assert keys.authenticate(forged) is None


def test_scopes_are_checked_when_a_key_is_made(tmp_path: Path) -> None:
    from calsync.store import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'k.db'}"
    upgrade(url)
    keys = ApiKeys(ApiKeyStore(make_engine(url)))
    with pytest.raises(ApiKeyError, match="unknown scope"):
        keys.create("x", ["read", "delete"])
    with pytest.raises(ApiKeyError, match="at least one scope"):
        keys.create("x", [])
    with pytest.raises(ApiKeyError):
        keys.revoke("nosuchkey0")
    made = keys.create("x", ["admin", "read"])
    assert made.record.scopes == ("read", "admin")
    assert keys.authenticate(made.key) is not None


async def test_openapi_and_docs_are_served_without_third_party_assets(
    api_tenant: ApiTenant, folder: Path
) -> None:
    async with api_client(api_tenant, folder) as c:
        doc = (await c.http.get("/openapi.json")).json()
        assert "/v1/profiles" in doc["paths"]
        assert "/healthz" not in doc["paths"]
        page = await c.http.get("/docs")
        assert page.status_code == 200
        assert "listProfiles" in page.text
        assert "<script" not in page.text
        assert "https://" not in page.text
        unknown = await c.http.get("/v1/nothing-here")
        assert unknown.status_code == 404
        assert unknown.json()["errors"]["request"][0]["key"] == "errors.not_found"
