"""A resync whose mailbox's source rows and calendar are as the last good run left them writes nothing and
neither parses the rows nor plans (calsync.sync.unchanged); anything that changed on either side is
planned as before: a person's edit or delete in Outlook, a changed row, a purge; a full run always plans.

Work is observed, not timed: the calls of the planner and of the CSV row parser are counted while the
run goes (tests/work.py `calls_of`), and graphemu's request log shows what was sent."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import httpx

from calsync import services
from calsync.settings import load_settings
from calsync.sources.tabular_rows import _Collector
from calsync.sync import planner
from calsync.sync.ports import RunReport
from calsync.sync.unchanged import SKIPPED_MESSAGE
from tests.calsync.services.conftest import CLIENT, MAILBOX, Tenant
from tests.work import calls_of

EVENTS = 12
COUNTED = {"plan": planner.plan, "row": _Collector.add}


def export(path: Path, subjects: dict[int, str] | None = None) -> None:
    rows = ["mailbox,source_id,subject,start,end,time_zone,location"]
    for n in range(EVENTS):
        subject = (subjects or {}).get(n, f"Lecture {n}")
        day = f"2030-01-{n + 1:02d}"
        rows.append(f"{MAILBOX},l{n},{subject},{day}T10:00,{day}T11:00,Europe/Berlin,HS {n}")
    path.write_text("\n".join(rows) + "\n")


def configure(tmp_path: Path, tenant: Tenant) -> Path:
    csv = tmp_path / "export.csv"
    export(csv)
    config = tenant.config(tmp_path, tmp_path / "unused.ics").read_text()
    (tmp_path / "calsync.toml").write_text(
        config.replace(f'ics_file = "{tmp_path / "unused.ics"}"', f'csv_file = "{csv}"')
    )
    return csv


def sync(tmp_path: Path, *, full: bool = False) -> tuple[RunReport, dict[str, int]]:
    """One run of the mailbox as the scheduler and the workers run it, in a process of its own making
    (a new deployment: nothing is kept in memory from the run before)."""

    async def go() -> RunReport:
        async with services.open_deployment(load_settings(tmp_path / "calsync.toml")) as deployment:
            return await services.sync_mailbox(deployment, MAILBOX, full=full)

    return calls_of(lambda: asyncio.run(go()), COUNTED)


def graph(tenant: Tenant) -> httpx.Client:
    assert tenant.info.ca is not None
    context = ssl.create_default_context(cafile=tenant.info.ca)
    return httpx.Client(base_url=tenant.info.base_url, verify=context, trust_env=False, timeout=30)


def requests(tenant: Tenant) -> list[dict[str, Any]]:
    with graph(tenant) as http:
        return list(http.get("/_emu/requests", params={"since": 0}).json()["value"])


def clear_log(tenant: Tenant) -> None:
    with graph(tenant) as http:
        http.delete("/_emu/requests").raise_for_status()


def as_person(tenant: Tenant, method: str, subject: str | None = None) -> None:
    """Edit (or delete) the first managed event through Graph, as a person in Outlook would."""
    with graph(tenant) as http:
        token = http.post("/_emu/tokens", json={"clientId": CLIENT}).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        first = sorted(tenant.events(), key=lambda e: e.id)[0]
        path = f"{tenant.info.graph}/users/{MAILBOX}/events/{first.id}"
        answer = http.request(method, path, json={"subject": subject} if subject else None)
        assert answer.status_code in (200, 204), answer.text


def writes(log: list[dict[str, Any]]) -> list[str]:
    return [f"{e['method']} {e['path']}" for e in log if e["method"] in ("POST", "PATCH", "PUT", "DELETE")]


def test_a_noop_resync_writes_nothing_and_neither_parses_nor_plans(tmp_path: Path, tenant: Tenant) -> None:
    configure(tmp_path, tenant)
    first, work = sync(tmp_path)
    assert (first.status, first.created, work) == ("ok", EVENTS, {"plan": 1, "row": EVENTS})
    clear_log(tenant)
    for _ in range(2):
        again, work = sync(tmp_path)
        assert (again.status, again.unchanged, again.message) == ("ok", EVENTS, SKIPPED_MESSAGE)
        assert work == {"plan": 0, "row": 0}
    log = requests(tenant)
    assert writes(log) == []
    listings = [e for e in log if e["method"] == "GET" and e["path"].endswith("/events")]
    assert len(listings) == 2  # one listing (tag and changeKey) per run: how a person's edits are seen


def test_a_persons_edit_in_outlook_is_seen_on_the_next_incremental_run(
    tmp_path: Path, tenant: Tenant
) -> None:
    configure(tmp_path, tenant)
    sync(tmp_path)
    sync(tmp_path)
    as_person(tenant, "PATCH", "Moved to Zoom")
    fixed, work = sync(tmp_path)
    assert (fixed.status, fixed.updated, work["plan"]) == ("ok", 1, 1)  # source-wins: put back
    assert sorted(e.props["subject"] for e in tenant.events()) == sorted(
        f"Lecture {n}" for n in range(EVENTS)
    )
    after, work = sync(tmp_path)
    assert (after.unchanged, work) == (EVENTS, {"plan": 0, "row": 0})


def test_a_persons_delete_is_recreated_on_the_next_incremental_run(tmp_path: Path, tenant: Tenant) -> None:
    configure(tmp_path, tenant)
    sync(tmp_path)
    as_person(tenant, "DELETE")
    fixed, work = sync(tmp_path)
    assert (fixed.status, fixed.created, work["plan"]) == ("ok", 1, 1)
    assert len(tenant.events()) == EVENTS


def test_a_changed_row_is_planned_and_only_that_mailbox_parsed_again(tmp_path: Path, tenant: Tenant) -> None:
    csv = configure(tmp_path, tenant)
    sync(tmp_path)
    export(csv, {3: "Lecture 3 (room change)"})
    changed, work = sync(tmp_path)
    assert (changed.status, changed.updated, work) == ("ok", 1, {"plan": 1, "row": EVENTS})
    assert any(e.props["subject"] == "Lecture 3 (room change)" for e in tenant.events())


def test_full_runs_and_purged_mailboxes_are_always_planned(tmp_path: Path, tenant: Tenant) -> None:
    configure(tmp_path, tenant)
    sync(tmp_path)
    full, work = sync(tmp_path, full=True)
    assert (full.status, full.unchanged, work) == ("ok", EVENTS, {"plan": 1, "row": EVENTS})
    skipped, work = sync(tmp_path)  # the full run stored its digest again
    assert (skipped.message, work) == (SKIPPED_MESSAGE, {"plan": 0, "row": 0})

    async def purge() -> None:
        async with services.open_deployment(load_settings(tmp_path / "calsync.toml")) as deployment:
            await services.purge_mailbox(deployment, MAILBOX)

    asyncio.run(purge())
    assert tenant.events() == []
    back, work = sync(tmp_path)
    assert (back.status, back.created, work["plan"]) == ("ok", EVENTS, 1)


def test_a_mailbox_whose_rows_have_problems_is_read_every_run_so_they_stay_reported(
    tmp_path: Path, tenant: Tenant
) -> None:
    csv = configure(tmp_path, tenant)
    csv.write_text(csv.read_text() + f"{MAILBOX},bad,Broken,2030-02-01T10:00,not a date,Europe/Berlin,HS\n")
    first, _ = sync(tmp_path)
    again, work = sync(tmp_path)
    assert first.problems
    assert (again.problems, work["plan"]) == (first.problems, 1)
