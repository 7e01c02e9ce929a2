"""Fencing (issue 8): a run that stalls past its lease, while another process takes the mailbox over,
cannot write after the takeover. Against graphemu over TLS with a real SQLite state store.

Run A writes its first chunk, then stalls (its guard blocks, as a process frozen by a GC pause or SIGSTOP
would); its short lease expires; run B takes the lease over and syncs the mailbox to the end; then A wakes
up. A's next guard check renews the lease only if A still holds it, so A stops (LeaseLost) before
writing again, and the calendar holds every feed event exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync import services
from calsync.adapters.eventmap import TAG_ID
from calsync.certs import create_certificate
from calsync.services.leases import Lease, hold
from calsync.services.sourcing import Sources
from calsync.settings import load_settings
from calsync.sync.engine import off_loop
from graphemu import EmulatorConfig, world_from_seed
from graphemu.server import BackgroundServer

TENANT = "5a1c0e9d-1111-4222-8333-444455556666"
CLIENT = "c0ffee00-aaaa-4bbb-8ccc-dddddddddddd"
MAILBOX = "ada@uni.example"
EVENTS = 150  # two chunks of writes (the engine writes 100 at a time)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    cert = create_certificate(tmp_path / "cert")
    world = world_from_seed(
        {
            "tenants": [{"id": TENANT, "domain": "uni.example"}],
            "users": [{"userPrincipalName": MAILBOX}],
            "apps": [{"clientId": CLIENT, "certificates": [{"pem": cert.certificate.read_text()}],
                      "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"]}],
        }
    )  # fmt: skip
    server = BackgroundServer(world, EmulatorConfig(), tls_dir=tmp_path / "tls")
    info = server.start()
    start = datetime.now(UTC).date() + timedelta(days=1)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for i in range(EVENTS):
        day = start + timedelta(days=i % 90)
        lines += ["BEGIN:VEVENT", f"UID:f{i}@uni", "DTSTAMP:20260101T000000Z",
                  f"DTSTART:{day:%Y%m%d}T100000Z", f"DTEND:{day:%Y%m%d}T110000Z",
                  f"SUMMARY:Lecture {i:03d}", "END:VEVENT"]  # fmt: skip
    (tmp_path / "feed.ics").write_text("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n")
    config = tmp_path / "calsync.toml"
    config.write_text(
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n'
        f'certificate_file = "{cert.certificate}"\nprivate_key_file = "{cert.private_key}"\n'
        f'authority_host = "{info.base_url}"\ngraph_url = "{info.graph}"\nca_file = "{info.ca}"\n'
        f'database_url = "sqlite:///{tmp_path / "state.db"}"\nmailboxes = ["{MAILBOX}"]\n'
        f'ics_file = "{tmp_path / "feed.ics"}"\n'
    )
    yield config, world
    server.stop()


async def test_a_stalled_run_cannot_write_after_another_took_its_mailbox_over(
    setup: tuple[Path, Any],
) -> None:
    config, world = setup
    settings = load_settings(config)
    async with services.open_deployment(settings) as deployment:
        store, engine, window = deployment.store, await deployment.engine(), deployment.window()
        load = Sources(settings, store).loader()
        stalled, wake = asyncio.Event(), asyncio.Event()
        # A's lease is short and belongs to "another host", so B can only take it over once it expired.
        lease_a = Lease(store, MAILBOX, "host-a:1:aaaa", seconds=0.2)
        assert await off_loop(store.acquire_lease, MAILBOX, lease_a.owner, 0.2)
        checks = 0

        async def guard_a(mailbox: str) -> None:
            nonlocal checks
            checks += 1
            if checks == 2:  # after the first chunk: the process freezes
                stalled.set()
                await wake.wait()
            await lease_a.guard(mailbox)

        run_a = asyncio.create_task(engine.run(MAILBOX, await load(MAILBOX, window), window, guard=guard_a))
        await stalled.wait()
        first_chunk = len(world.events[world.find_user(MAILBOX).id])
        assert first_chunk == 100
        while await off_loop(store.lease_owner, MAILBOX) is not None:  # A's lease runs out
            await asyncio.sleep(0.05)
        async with hold(store, MAILBOX, seconds=60, owner="host-b:2:bbbb") as lease_b:
            report_b, _ = await engine.run(MAILBOX, await load(MAILBOX, window), window, guard=lease_b.guard)
        assert report_b.status == "ok"
        wake.set()
        report_a, _ = await run_a
    assert (report_a.status, report_a.error_code) == ("stopped", "LeaseLost")
    assert (report_a.created, report_b.created, report_b.adopted + report_b.unchanged) == (100, 50, 100)
    events = list(world.events[world.find_user(MAILBOX).id].values())
    tags = [e.extended.get(TAG_ID) for e in events]
    assert len(tags) == EVENTS
    assert len(set(tags)) == EVENTS  # nothing written twice: A wrote nothing after the takeover
