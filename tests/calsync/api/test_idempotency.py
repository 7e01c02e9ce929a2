"""Retried POSTs and a faulty Graph (throttling, 5xx, writes committed but answered with a failure)
never make a second event, and lose none: every accepted event ends up in Graph exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from tests.calsync.api.conftest import ApiTenant, api_client, eventually

COUNT = 24


def _event(n: int, summary: str) -> dict[str, object]:
    return {
        "event_id": f"ev-{n}",
        "summary": summary,
        "start": f"2027-04-{1 + n % 28:02d}T{8 + n % 9:02d}:00:00Z",
        "end": f"2027-04-{1 + n % 28:02d}T{9 + n % 9:02d}:00:00Z",
    }


async def test_retries_and_faults_never_duplicate_or_lose(api_tenant: ApiTenant, folder: Path) -> None:
    faults = api_tenant.faults
    faults.seed = 7
    faults.statuses = (429, 503)
    faults.retry_after = 0.01
    faults.rate = 0.3
    faults.commit_then_drop_rate = 0.3
    faults.commit_then_drop_mode = "503"
    async with api_client(api_tenant, folder) as c:
        faults.rate, faults.commit_then_drop_rate = 0.0, 0.0  # the calendar list itself is read cleanly
        headers = c.auth("read", "write")
        cid = next(
            cal["calendar_id"]
            for cal in (await c.http.get("/v1/calendars", headers=headers)).json()["calendars"]
            if cal["calendar_primary"]
        )
        faults.rate, faults.commit_then_drop_rate = 0.3, 0.3
        url = f"/v1/calendars/{cid}/events"

        async def send(n: int) -> None:
            for _ in range(3):  # a client retrying the same request (its answer was lost, say)
                answer = await c.http.post(url, json=_event(n, f"v1 {n}"), headers=headers)
                assert answer.status_code == 202, answer.text
            await asyncio.sleep(0.2 * (n % 4))
            if n % 3 == 0:  # and some change their mind afterwards, while runs are under way
                answer = await c.http.post(url, json=_event(n, f"v2 {n}"), headers=headers)
                assert answer.status_code == 202

        await asyncio.gather(*(send(n) for n in range(COUNT)))
        await eventually(lambda: len(api_tenant.calendar_events()) >= COUNT // 2, "some events written")
        await asyncio.sleep(1.0)
        faults.rate, faults.commit_then_drop_rate = 0.0, 0.0
        expected = {f"v2 {n}" if n % 3 == 0 else f"v1 {n}" for n in range(COUNT)}

        def converged() -> bool:
            subjects = [e.props["subject"] for e in api_tenant.calendar_events()]
            return sorted(subjects) == sorted(expected)

        await eventually(converged, "every event exactly once, as last sent", limit=120)
        counters = api_tenant.world.counters
        assert counters.injected_faults > 0  # the faults did happen
        assert counters.commit_then_drop > 0  # writes that succeeded but were answered with a 503
        assert counters.retry_after_violations == 0
        tags = Counter(v for e in api_tenant.calendar_events() for v in e.extended.values() if "ev-" in v)
        assert len(tags) == COUNT
        assert set(tags.values()) == {1}
