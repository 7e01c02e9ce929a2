"""Connecting, syncing with the person's own token, losing the grant, relinking and disconnecting,
against graphemu's identity platform and Graph over TLS (no page: the services the pages call)."""

from __future__ import annotations

import json
import sqlite3
import ssl
from typing import Any

import httpx
import pytest

from calsync import services
from calsync.services.connections import (
    Person,
    SignInRefused,
    UnknownConnection,
    begin_connect,
    confirm,
    connection_store,
    finish_connect,
    pause,
    resume,
    set_preferences,
)
from calsync.services.connsync import connection_scope, disconnect, subscribe_disconnected, sync_connection
from calsync.store.connections import ConnectionRecord
from tests.calsync.connections.conftest import ADA, BOB, Delegated

SESSION = "browser-session-of-ada"


def expire_access_tokens(deployment: services.Deployment, cid: str) -> None:
    """Drop the access tokens from the connection's msal cache, as if they had expired."""
    store = connection_store(deployment)
    cache = json.loads(store.open_cache(cid) or "{}")
    cache["AccessToken"] = {}
    store.save_cache(cid, json.dumps(cache))


async def connect(people: Delegated, user: str = ADA, session: str = SESSION) -> tuple[str, Person]:
    async with people.deployment() as deployment:
        uri = await begin_connect(deployment, session)
        answer = await people.sign_in(uri, user)
        preview = await finish_connect(deployment, session, answer)
        assert preview.connection.status == "pending"
        confirm(deployment, preview.person, preview.connection.id)
    return preview.connection.id, preview.person


async def test_connect_preview_confirm_and_first_sync(people: Delegated) -> None:
    """The preview tells what will be synced; nothing is written before the person confirms; the first
    sync writes their timetable with their own (delegated) token, never an app token."""
    async with people.deployment() as deployment:
        uri = await begin_connect(deployment, SESSION)
        assert "code_challenge_method=S256" in uri
        assert "offline_access" in uri
        answer = await people.sign_in(uri, ADA)
        preview = await finish_connect(deployment, SESSION, answer)
        assert (preview.feed_found, preview.events, preview.calendar) == (True, 3, "your main calendar")
        assert preview.categories == ("Lab", "Lecture")
        assert preview.connection.mailbox == ADA
        assert await services.scopes(deployment) == []  # pending: not synced yet
        assert people.events(ADA) == []
        record = confirm(deployment, preview.person, preview.connection.id)
        assert record.status == "connected"
        assert await services.scopes(deployment) == [connection_scope(record.id)]
        report = await services.sync_mailbox(deployment, connection_scope(record.id))
        assert deployment._tokens is None  # the app's own token provider was never built
    assert (report.status, report.created) == ("ok", 3)
    assert sorted(e.props["subject"] for e in people.events(ADA)) == ["Algebra", "Chemistry lab", "Ethics"]


async def test_answer_replayed_or_from_another_session_is_refused(people: Delegated) -> None:
    """The state is single-use and bound to the browser session that began the sign-in."""
    async with people.deployment() as deployment:
        uri = await begin_connect(deployment, SESSION)
        answer = await people.sign_in(uri, ADA)
        with pytest.raises(SignInRefused) as other:
            await finish_connect(deployment, "another-browser", answer)
        assert other.value.code == "unknown_state"
        await finish_connect(deployment, SESSION, answer)
        with pytest.raises(SignInRefused) as replay:
            await finish_connect(deployment, SESSION, answer)
        assert replay.value.code == "unknown_state"
        with pytest.raises(SignInRefused) as forged:
            await finish_connect(deployment, SESSION, {**answer, "state": "forged"})
        assert forged.value.code == "unknown_state"
        with pytest.raises(SignInRefused) as missing:
            await finish_connect(deployment, SESSION, {"code": answer["code"]})
        assert missing.value.code == "missing_state"


async def test_pkce_verifier_mismatch_and_cancel_store_nothing(people: Delegated) -> None:
    """A flow whose verifier is not the one the code was issued for is refused by the token endpoint
    (AADSTS501481); a cancelled consent is access_denied; neither stores a connection."""
    async with people.deployment() as deployment:
        first = await begin_connect(deployment, SESSION)
        second = await begin_connect(deployment, "other-session")
        answer = await people.sign_in(first, ADA)
        # graft the first sign-in's code onto the second flow's state: the second flow's verifier
        # does not match the first code's challenge
        foreign = dict(await people.sign_in(second, ADA))
        with pytest.raises(SignInRefused) as mismatch:
            await finish_connect(deployment, "other-session", {**foreign, "code": answer["code"]})
        assert mismatch.value.code == "sign_in_failed"
        assert "501481" in str(mismatch.value)
        third = await begin_connect(deployment, SESSION)
        cancelled = await people.sign_in(third, ADA, accept=False)
        with pytest.raises(SignInRefused) as denied:
            await finish_connect(deployment, SESSION, cancelled)
        assert denied.value.code == "access_denied"
        assert connection_store(deployment).all() == []


async def test_another_persons_connection_is_unknown(people: Delegated) -> None:
    """Bob can neither see nor act on Ada's connection: it is answered like one that does not exist."""
    ada_id, _ = await connect(people, ADA)
    _, bob = await connect(people, BOB, "bob-session")
    async with people.deployment() as deployment:
        for act in (
            lambda: pause(deployment, bob, ada_id),
            lambda: confirm(deployment, bob, ada_id),
            lambda: set_preferences(deployment, bob, ada_id, opt_out=["Lab"], reminders={}),
        ):
            with pytest.raises(UnknownConnection):
                act()
        with pytest.raises(UnknownConnection):
            await disconnect(deployment, bob, ada_id, remove_events=True)
        with pytest.raises(UnknownConnection):
            pause(deployment, bob, "no-such-id")
        assert connection_store(deployment).get(ada_id).status == "connected"  # type: ignore[union-attr]


async def test_preferences_remove_opted_out_types_and_set_reminders(people: Delegated) -> None:
    """Opting out of Lab removes calsync's lab event at the next sync; Lecture reminders are 45 min."""
    cid, ada = await connect(people)
    async with people.deployment() as deployment:
        await sync_connection(deployment, cid)
        assert len(people.events(ADA)) == 3
        set_preferences(deployment, ada, cid, opt_out=["Lab"], reminders={"Lecture": 45})
        report = await sync_connection(deployment, cid)
        with pytest.raises(Exception, match="between 0 and"):
            set_preferences(deployment, ada, cid, opt_out=[], reminders={"Lecture": 50_000})
    assert (report.status, report.deleted, report.updated) == ("ok", 1, 2)
    left = people.events(ADA)
    assert sorted(e.props["subject"] for e in left) == ["Algebra", "Ethics"]
    assert {e.props["reminderMinutesBeforeStart"] for e in left} == {45}


async def test_paused_connection_is_not_synced(people: Delegated) -> None:
    cid, ada = await connect(people)
    async with people.deployment() as deployment:
        pause(deployment, ada, cid)
        assert await services.scopes(deployment) == []
        report = await sync_connection(deployment, cid)
        assert report.status == "skipped"
        resume(deployment, ada, cid)
        assert await services.scopes(deployment) == [connection_scope(cid)]


@pytest.mark.parametrize(
    ("withdraw", "code"),
    [
        ("/_emu/revoke-consent", "AADSTS65001"),
        ("/_emu/revoke-refresh-tokens", "AADSTS50173"),
        ("/_emu/reset-password", "AADSTS50173"),
    ],
)
async def test_lost_grant_disconnects_once_without_retries(
    people: Delegated, withdraw: str, code: str
) -> None:
    """Consent withdrawn, tokens revoked or password reset: the connection becomes disconnected with
    the AADSTS code, its tokens are deleted, an event is recorded and the hook runs once; the next
    round does not ask the identity platform again. A relink with the same account brings it back."""
    seen: list[tuple[str, str]] = []
    subscribe_disconnected(lambda record, reason: seen.append((record.id, reason)))
    cid, ada = await connect(people)
    async with people.deployment() as deployment:
        assert (await sync_connection(deployment, cid)).status == "ok"
        people.world.apps[next(iter(people.world.apps))].admin_consented_scopes.clear()
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=str(people.info.ca))
        ) as control:
            body = {"user": ADA, "password": "n3w"} if "password" in withdraw else {"user": ADA}
            assert (await control.post(people.info.base_url + withdraw, json=body)).status_code == 200
        expire_access_tokens(deployment, cid)  # so the next run must use the refresh token
        report = await sync_connection(deployment, cid)
        assert (report.status, report.error_code) == ("failed", "Disconnected")
        store = connection_store(deployment)
        record = store.get(cid)
        assert record is not None
        assert (record.status, record.reason, record.has_tokens) == ("disconnected", code, False)
        assert seen == [(cid, code)]
        assert [e.kind for e in store.events(cid)][-1] == "disconnected"
        assert await services.scopes(deployment) == []
        again = await sync_connection(deployment, cid)
        assert again.status == "skipped"
        assert seen == [(cid, code)]
        # relink: the same person signs in again (consenting again)
        uri = await begin_connect(deployment, SESSION, relink=cid)
        answer = await people.sign_in(uri, ADA, password=body.get("password", ""))
        preview = await finish_connect(deployment, SESSION, answer)
        assert (preview.connection.id, preview.connection.status) == (cid, "connected")
        assert (await sync_connection(deployment, cid)).status == "ok"
        assert ada == preview.person


async def test_relink_with_another_account_is_refused(people: Delegated) -> None:
    cid, _ = await connect(people)
    async with people.deployment() as deployment:
        uri = await begin_connect(deployment, SESSION, relink=cid)
        with pytest.raises(SignInRefused) as info:
            await finish_connect(deployment, SESSION, await people.sign_in(uri, BOB))
        assert info.value.code == "wrong_account"


@pytest.mark.parametrize("remove", [True, False])
async def test_disconnect_keeps_or_removes_events_and_deletes_tokens(people: Delegated, remove: bool) -> None:
    cid, ada = await connect(people)
    async with people.deployment() as deployment:
        await sync_connection(deployment, cid)
        result = await disconnect(deployment, ada, cid, remove_events=remove)
        record: ConnectionRecord | None = connection_store(deployment).get(cid)
    assert record is not None
    assert (record.status, record.reason, record.has_tokens) == ("disconnected", "user", False)
    assert len(people.events(ADA)) == (0 if remove else 3)
    assert (result.deleted if result else None) == (3 if remove else None)


async def test_no_token_in_the_database_in_clear(people: Delegated) -> None:
    """The raw SQLite file holds no refresh or access token graphemu issued (OA-11)."""
    cid, _ = await connect(people)
    async with people.deployment() as deployment:
        await sync_connection(deployment, cid)
        cache = connection_store(deployment).open_cache(cid)
    assert cache is not None
    parsed = json.loads(cache)
    secrets = [v["secret"] for kind in ("RefreshToken", "AccessToken") for v in parsed[kind].values()]
    assert secrets
    raw = (people.folder / "state.db").read_bytes()
    wal = people.folder / "state.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    dump = "\n".join(sqlite3.connect(people.folder / "state.db").iterdump())
    for secret in secrets:
        assert secret.encode() not in raw
        assert secret not in dump


async def test_cli_sync_in_delegated_mode_syncs_connected_people_with_their_tokens(people: Delegated) -> None:
    """`calsync sync` with permissions = "delegated" syncs each connected person (never an app token;
    Bob, who never connected, is not synced), and `calsync status` lists the connection."""
    import asyncio

    from typer.testing import CliRunner

    from calsync.cli.main import app

    await connect(people, ADA)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, ["--config", str(people.config), *args], env={"COLUMNS": "200"})

    result = await asyncio.to_thread(run, "sync", "--json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert [(r["mailbox"], r["status"], r["created"]) for r in reports] == [(ADA, "ok", 3)]
    assert people.events(BOB) == []
    status = await asyncio.to_thread(run, "status")
    assert "connected people" in status.stdout
    assert ADA in status.stdout
