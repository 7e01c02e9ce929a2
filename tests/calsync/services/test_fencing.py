"""Fencing (issue 8): a run that stalls past its lease, while another process takes the mailbox over,
cannot write after the takeover. Against graphemu over TLS with a real SQLite state store.

Run A writes its first chunk, then stalls (its guard blocks, as a process frozen by a GC pause or SIGSTOP
would); its short lease expires; run B takes the lease over and syncs the mailbox to the end; then A wakes
up. A's next guard check renews the lease only if A still holds it, so A stops (LeaseLost) before
writing again, and the calendar holds every feed event exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calsync import services
from calsync.adapters.eventmap import TAG_ID
from calsync.services.leases import Lease, hold
from calsync.services.sourcing import Sources
from calsync.settings import load_settings
from calsync.sync.engine import off_loop
from tests.calsync.services.conftest import MAILBOX, Tenant

EVENTS = 150  # two chunks of writes (the engine writes 100 at a time)


def feed(folder: Path) -> Path:
    start = datetime.now(UTC).date() + timedelta(days=1)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for i in range(EVENTS):
        day = start + timedelta(days=i % 90)
        lines += ["BEGIN:VEVENT", f"UID:f{i}@uni", "DTSTAMP:20260101T000000Z",
                  f"DTSTART:{day:%Y%m%d}T100000Z", f"DTEND:{day:%Y%m%d}T110000Z",
                  f"SUMMARY:Lecture {i:03d}", "END:VEVENT"]  # fmt: skip
    path = folder / "feed.ics"
    path.write_text("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n")
    return path


async def test_a_stalled_run_cannot_write_after_another_took_its_mailbox_over(
    tmp_path: Path, tenant: Tenant
) -> None:
    settings = load_settings(tenant.config(tmp_path, feed(tmp_path)))
    async with services.open_deployment(settings) as deployment:
        view = deployment.profile()
        store, engine, window = view.store, await view.engine(), view.window()
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
        first_chunk = len(tenant.events())
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
    tags = [e.extended.get(TAG_ID) for e in tenant.events()]
    assert len(tags) == EVENTS
    assert len(set(tags)) == EVENTS  # nothing written twice: A wrote nothing after the takeover
