"""Sealing token caches: binding to the row, wrong and missing keys, rotation, key files (OA-11/OA-12)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from calsync import wiring
from calsync.cli.main import app
from calsync.settings import Settings, SettingsError
from calsync.store import make_engine, upgrade
from calsync.store.connections import ConnectionStore
from calsync.store.schema import connections
from calsync.store.vault import TokenVault, VaultError, generate_key, parse_keys

KEY_A, KEY_B = generate_key(), generate_key()
runner = CliRunner()


@given(bound=st.text(min_size=1, max_size=40), plaintext=st.text(max_size=2000))
def test_sealed_values_open_only_for_their_record(bound: str, plaintext: str) -> None:
    """Whatever is sealed opens to itself for its record, and for no other record."""
    vault = TokenVault([KEY_A])
    sealed = vault.seal(bound, plaintext)
    assert len(plaintext) < 16 or plaintext not in sealed  # a long plaintext is never visible
    assert vault.open(bound, sealed) == plaintext
    with pytest.raises(VaultError, match="another record"):
        vault.open(bound + "x", sealed)


def test_wrong_key_fails_loudly_and_rotation_keeps_values_readable() -> None:
    old = TokenVault([KEY_A])
    sealed = old.seal("c1", "secret-cache")
    with pytest.raises(VaultError, match="missing or wrong"):
        TokenVault([KEY_B]).open("c1", sealed)
    both = TokenVault([KEY_B, KEY_A])  # a new primary in front; the old one still opens
    assert both.open("c1", sealed) == "secret-cache"
    assert not both.is_primary(sealed)
    rotated = both.rotate(sealed)
    assert both.is_primary(rotated)
    assert TokenVault([KEY_B]).open("c1", rotated) == "secret-cache"  # the old key may go now


def test_key_parsing_names_the_position_never_the_key() -> None:
    assert parse_keys(f"# comment\n{KEY_A}\n\n{KEY_B}\n") == [KEY_A, KEY_B]
    assert parse_keys(f"{KEY_A},{KEY_B}") == [KEY_A, KEY_B]
    with pytest.raises(VaultError) as info:
        parse_keys(f"{KEY_A}\nnot-a-key-but-a-secret")
    assert "key 2" in str(info.value)
    assert "not-a-key-but-a-secret" not in str(info.value)
    with pytest.raises(VaultError, match="no key"):
        parse_keys("# nothing\n")


def store_with(tmp_path: Path, keys: list[str]) -> ConnectionStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    return ConnectionStore(engine, TokenVault(keys))


def add(store: ConnectionStore, who: str) -> str:
    record = store.upsert_signed_in(
        tenant_id="t", home_account_id=who, mailbox=f"{who}@x", profile="default",
        cache=json.dumps({"RefreshToken": {"k": {"secret": f"rt-of-{who}"}}}), status="connected",
    )  # fmt: skip
    return record.id


def test_a_cache_copied_to_another_row_does_not_open(tmp_path: Path) -> None:
    store = store_with(tmp_path, [KEY_A])
    ada, bob = add(store, "ada"), add(store, "bob")
    rows = dict(store.raw_rows())
    with store._engine.begin() as conn:
        conn.execute(connections.update().where(connections.c.id == bob).values(token_cache=rows[ada]))
    with pytest.raises(VaultError, match="another record"):
        store.open_cache(bob)
    assert "rt-of-ada" in (store.open_cache(ada) or "")


def test_rotate_command_reencrypts_everything_under_a_new_primary(tmp_path: Path) -> None:
    """`calsync keys rotate --new-key` puts a new key first, re-encrypts every row, and the old key
    can then be removed; rows no key opens are reported (exit 6) and left untouched."""
    key_file = tmp_path / "keys"
    key_file.write_text(KEY_A + "\n")
    os.chmod(key_file, 0o600)
    config = tmp_path / "calsync.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "state.db"}"\ntoken_key_file = "{key_file}"\n')
    store = store_with(tmp_path, [KEY_A])
    ids = [add(store, who) for who in ("ada", "bob", "cy")]
    result = runner.invoke(app, ["--config", str(config), "keys", "rotate", "--new-key", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"rotated": 3, "current": 0, "unreadable": []}
    keys = parse_keys(key_file.read_text())
    assert keys[1:] == [KEY_A]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    only_new = ConnectionStore(store._engine, TokenVault([keys[0]]))
    assert all("rt-of-" in (only_new.open_cache(i) or "") for i in ids)
    again = runner.invoke(app, ["--config", str(config), "keys", "rotate", "--json"])
    assert json.loads(again.output) == {"rotated": 0, "current": 3, "unreadable": []}
    # a row sealed under a key that is no longer configured
    stranger = ConnectionStore(store._engine, TokenVault([KEY_B]))
    lost = add(stranger, "dee")
    failed = runner.invoke(app, ["--config", str(config), "keys", "rotate", "--json"])
    assert failed.exit_code == 6
    assert json.loads(failed.output)["unreadable"] == [lost]
    assert dict(store.raw_rows())[lost] is not None  # never deleted


def test_embedded_default_makes_a_private_key_file_once(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db' / 'state.db'}")
    vault = wiring.token_vault(settings)
    path = tmp_path / "db" / wiring.TOKEN_KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = vault.seal("c", "v")
    assert wiring.token_vault(settings).open("c", sealed) == "v"  # the same key, not a new one


def test_postgresql_needs_configured_keys_and_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="token_key_file: required with PostgreSQL"):
        wiring.token_vault(Settings(database_url="postgresql+psycopg://u@h/db"))
    missing = Settings(token_key_file=tmp_path / "nope", database_url="sqlite:///x.db")
    with pytest.raises(SettingsError, match="cannot read"):
        wiring.token_vault(missing)
    assert not (tmp_path / "nope").exists()  # a configured file is never made up


def test_status_lists_connections_without_reading_keys(tmp_path: Path) -> None:
    config = tmp_path / "calsync.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "state.db"}"\n')
    store = store_with(tmp_path, [KEY_A])
    cid = add(store, "ada")
    store.set_status(cid, "disconnected", "AADSTS65001", drop_tokens=True)
    result = runner.invoke(app, ["--config", str(config), "status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ada@x" in result.output
    assert "disconnected" in result.output
    assert "withdrew" in result.output
    assert not (tmp_path / wiring.TOKEN_KEY_FILE_NAME).exists()  # status reads no key, makes none


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConnectionStore]:
    if request.param == "sqlite":
        store = store_with(tmp_path, [KEY_A])
    else:
        engine = make_engine(request.getfixturevalue("pg_schema_factory")())
        upgrade(engine)
        store = ConnectionStore(engine, TokenVault([KEY_A]))
    yield store
    store._engine.dispose()


def test_the_store_on_both_databases(any_store: ConnectionStore) -> None:
    """Sign-in upsert (a relink keeps the id and preferences), statuses and their events, single-use
    flows bound to their session, and token deletion, on SQLite and PostgreSQL."""
    store = any_store
    cid = add(store, "ada")
    store.set_preferences(cid, {"opt_out": ["Lab"], "reminders": {"Lecture": 30}})
    store.set_status(cid, "disconnected", "AADSTS70008", drop_tokens=True)
    assert store.open_cache(cid) is None
    again = add(store, "ada")
    record = store.get(again)
    assert record is not None
    assert (again, record.status, record.has_tokens) == (cid, "connected", True)
    assert record.preferences == {"opt_out": ["Lab"], "reminders": {"Lecture": 30}}
    assert [e.kind for e in store.events(cid)] == ["signed_in", "disconnected", "relinked"]
    assert [r.id for r in store.all("connected")] == [cid]
    store.put_flow("s1", "browser-a", '{"state": "s1"}', None)
    assert store.take_flow("s1", "browser-b") is None  # another browser: not given, not deleted
    taken = store.take_flow("s1", "browser-a")
    assert taken is not None
    assert taken.flow == '{"state": "s1"}'
    assert store.take_flow("s1", "browser-a") is None  # used once


def test_scheduling_rounds_read_no_token_key(pg_schema_factory: Callable[[], URL], tmp_path: Path) -> None:
    """Listing what a round runs reads connections' statuses only: an application-permission deployment on
    PostgreSQL with no token keys configured (it has no connections) is not refused, and on SQLite no key
    file is made for it."""
    import asyncio

    from calsync import services

    app = {
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "client_id": "00000000-0000-0000-0000-000000000002",
        "client_secret": "x",
        "ics_file": str(tmp_path / "x.ics"),
    }

    async def scopes(url: str) -> list[str]:
        settings = Settings(database_url=url, mailboxes=["ada@uni.example"], **app)
        async with services.open_deployment(settings) as deployment:
            return await services.scopes(deployment)

    pg = pg_schema_factory().render_as_string(hide_password=False)
    assert asyncio.run(scopes(pg)) == ["ada@uni.example"]
    assert asyncio.run(scopes(f"sqlite:///{tmp_path / 'state.db'}")) == ["ada@uni.example"]
    assert not (tmp_path / "calsync-token.key").exists()
