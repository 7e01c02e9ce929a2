"""Snapshots: a World saved to JSON and loaded back is the same world, and tokens issued before still work."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from graphemu import World, create_app, snapshot, world_from_seed
from graphemu.seed import certificate_from_pem
from graphemu.testing import EmulatorTransport
from graphemu.tls import ensure_tls
from graphemu.world import Event, User
from tests.graphemu.conftest import SEED, mint

ADELE = "adele@contoso.onmicrosoft.com"


def adele_of(world: World) -> User:
    user = world.find_user(ADELE)
    assert user is not None
    return user


def populated(tmp_path: Path) -> World:
    """The test tenant plus a certificate credential, two events (one a series with overrides) and changes."""
    world = world_from_seed(SEED)
    create_app(world)  # installs the signing key
    app = next(iter(world.apps.values()))
    pem = ensure_tls(tmp_path / "tls", ["localhost"]).ca_cert.read_bytes()
    app.certificates.append(certificate_from_pem(pem))
    adele = adele_of(world)
    calendar = world.default_calendar(adele.id)
    start = datetime(2030, 1, 7, 9, tzinfo=UTC)
    single = Event(
        id="AAMkAGsingle=",
        owner_id=adele.id,
        calendar_id=calendar.id,
        props={"subject": "One", "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"}},
        start_utc=start,
        end_utc=start + timedelta(hours=1),
        created=start,
        modified=start,
        transaction_id="tx-1",
        extended={"String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Tag": "src-1"},
        ical_uid="uid-1",
    )
    series = Event(
        id="AAMkAGseries=",
        owner_id=adele.id,
        calendar_id=calendar.id,
        props={"subject": "Weekly", "recurrence": {"pattern": {"type": "weekly", "interval": 1}}},
        start_utc=start,
        end_utc=start + timedelta(hours=1),
        created=start,
        modified=start,
        overrides={"2030-01-14T09:00:00+00:00": {"subject": "Moved"}},
        cancelled={"2030-01-21T09:00:00+00:00"},
    )
    world.put_event(single, "created")
    world.put_event(series, "created")
    world.put_event(single, "updated")
    world.extra["delta_epoch"] = {adele.id: 2}
    world.extra["not_json"] = {object()}
    return world


def test_round_trip_keeps_every_object(tmp_path: Path) -> None:
    """Tenants, apps with secrets and certificates, users, groups, policies, calendars, events round-trip."""
    world = populated(tmp_path)
    world.clock.advance(120)
    path = tmp_path / "snap.json"
    snapshot.save(world, path)
    loaded = snapshot.load(path)
    assert loaded.tenants == world.tenants
    assert loaded.apps == world.apps
    assert loaded.users == world.users
    assert loaded.groups == world.groups
    assert loaded.policies == world.policies
    assert loaded.calendars == world.calendars
    assert loaded.events == world.events
    assert loaded.transactions == world.transactions
    assert loaded.changes == world.changes
    assert loaded.clock.offset == world.clock.offset
    assert loaded.extra["delta_epoch"] == world.extra["delta_epoch"]
    assert "not_json" not in loaded.extra


def test_snapshot_is_plain_json_with_base64_certificates(tmp_path: Path) -> None:
    """The file is JSON: times as ISO strings, certificate DER as base64, the signing key as PEM."""
    world = populated(tmp_path)
    path = tmp_path / "snap.json"
    snapshot.save(world, path)
    data = json.loads(path.read_text())
    assert data["format"] == "graphemu-snapshot"
    certificate = data["apps"][0]["certificates"][0]
    assert isinstance(certificate["der"], str)
    assert certificate["der"].startswith("MII")
    event = next(e for e in data["events"] if e["id"] == "AAMkAGseries=")
    assert event["start_utc"] == "2030-01-07T09:00:00+00:00"
    assert event["cancelled"] == ["2030-01-21T09:00:00+00:00"]
    assert data["signingKey"]["pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert path.stat().st_mode & 0o077 == 0


def test_change_sequence_continues_after_load(tmp_path: Path) -> None:
    """New changes after a load are numbered after the saved ones, so saved delta positions stay valid."""
    world = populated(tmp_path)
    path = tmp_path / "snap.json"
    snapshot.save(world, path)
    loaded = snapshot.load(path)
    before = loaded.current_seq()
    adele = adele_of(loaded)
    change = loaded.record_change(loaded.events[adele.id]["AAMkAGsingle="], "updated")
    assert before == world.current_seq()
    assert change.seq == before + 1


async def test_loaded_world_serves_with_tokens_issued_before(tmp_path: Path) -> None:
    """The signing key is restored, so a token minted before the save is accepted by the restored emulator."""
    world = populated(tmp_path)
    token = mint(create_app(world))
    path = tmp_path / "snap.json"
    snapshot.save(world, path)
    app = create_app(snapshot.load(path))
    async with httpx.AsyncClient(
        transport=EmulatorTransport(app),
        base_url="https://graph.microsoft.com/v1.0",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        response = await client.get(f"/users/{ADELE}")
    assert response.status_code == 200
    assert response.json()["userPrincipalName"] == ADELE


def test_load_rejects_other_files(tmp_path: Path) -> None:
    """A file that is not a graphemu snapshot (or a newer version) is refused with SnapshotError."""
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"tenants": []}))
    with pytest.raises(snapshot.SnapshotError):
        snapshot.load(other)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "graphemu-snapshot", "version": 99}))
    with pytest.raises(snapshot.SnapshotError):
        snapshot.load(newer)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(snapshot.SnapshotError):
        snapshot.load(broken)
