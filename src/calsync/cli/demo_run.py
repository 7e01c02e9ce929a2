"""`calsync demo`: the whole main job on one machine with nothing else running.

1. A demo tenant in graphemu, served over TLS with its own CA; calsync signs in with a certificate.
2. A semester timetable served as per-person iCalendar feeds (weekly sessions across a DST change,
   a teaching-free week, cancellations); a few people already have their own appointments.
3. A full sync of every member of the "Timetable sync" group, with progress and a summary.
4. The registry office edits the term and one student deletes a lecture in Outlook; a second sync puts
   things right and shows what changed. The database is left for `calsync status`.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from calsync.cli.render import print_summary
from calsync.cli.syncing import run_sync
from calsync.demo import tenant as demo_tenant
from calsync.demo import timetable
from calsync.demo.feeds import FeedServer
from calsync.services import MailboxOutcome
from graphemu import EmulatorConfig
from graphemu.server import BackgroundServer


def _config(directory: Path, info: Any, tenant: demo_tenant.DemoTenant, feeds: FeedServer, term: Any) -> Path:
    today = datetime.now(UTC).date()
    back = max((today - term.term_start).days + 7, 1)
    ahead = max((term.term_end - today).days + 7, 1)
    path = directory / "calsync.toml"
    path.write_text(
        "# Written by `calsync demo`: calsync against the embedded emulator.\n"
        f'tenant_id = "{demo_tenant.TENANT}"\nclient_id = "{demo_tenant.CLIENT}"\n'
        f'certificate_file = "{tenant.certificate.certificate}"\n'
        f'private_key_file = "{tenant.certificate.private_key}"\n'
        f'authority_host = "{info.base_url}"\ngraph_url = "{info.graph}"\nca_file = "{info.ca}"\n'
        f'database_url = "sqlite:///{directory / "calsync.db"}"\ngroup = "{tenant.group_id}"\n'
        f'ics_url_template = "{feeds.url_template}"\nallow_private_feeds = true\nallow_http_feeds = true\n'
        f"window_days_back = {back}\nwindow_days_ahead = {ahead}\nmailbox_parallelism = 16\n",
        encoding="utf-8",
    )
    return path


async def _graph(info: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A direct Graph call as a user's own Outlook would make it (a token from the emulator's control API)."""
    trust = ssl.create_default_context(cafile=str(info.ca))
    async with httpx.AsyncClient(base_url=info.base_url, verify=trust, trust_env=False) as http:
        token = (await http.post("/_emu/tokens", json={"clientId": demo_tenant.CLIENT})).json()[
            "access_token"
        ]
        response = await http.request(
            method, f"/v1.0{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        response.raise_for_status()
        return response


async def _own_appointments(info: Any, people: list[str], day: date) -> list[dict[str, Any]]:
    created = []
    for i, upn in enumerate(people):
        start = datetime.combine(day + timedelta(days=i), datetime.min.time()).replace(hour=17)
        body = {
            "subject": "Dentist" if i % 2 else "Football training",
            "start": {"dateTime": start.isoformat(), "timeZone": "W. Europe Standard Time"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).isoformat(),
                "timeZone": "W. Europe Standard Time",
            },
        }
        created.append((await _graph(info, "POST", f"/users/{upn}/events", json=body)).json())
    return created


async def _delete_one_lecture(info: Any, upn: str, last_day: date) -> dict[str, Any]:
    """One lecture of the course that starts last in `upn`'s calendar, deleted as their Outlook would:
    one occurrence of its series (with `recurrence = "series"`, the default, each course is one series),
    or the single event."""
    latest = {"$top": "1", "$orderby": "start/dateTime desc"}
    listed = await _graph(info, "GET", f"/users/{upn}/events", params=latest)
    mine: dict[str, Any] = listed.json()["value"][0]
    if mine.get("type") == "seriesMaster":
        span = {
            "startDateTime": mine["start"]["dateTime"],
            "endDateTime": f"{last_day + timedelta(days=1)}T00:00:00",
        }
        found = (await _graph(info, "GET", f"/users/{upn}/events/{mine['id']}/instances", params=span)).json()
        mine = found["value"][-1]
    await _graph(info, "DELETE", f"/users/{upn}/events/{mine['id']}")
    return mine


def _day(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["start"]["dateTime"][:19])


async def _shown(info: Any, upn: str, event: dict[str, Any]) -> bool:
    """Whether `upn`'s calendar shows a lecture of that subject at that time again."""
    span = {"startDateTime": event["start"]["dateTime"], "endDateTime": event["end"]["dateTime"]}
    view = (await _graph(info, "GET", f"/users/{upn}/calendarView", params=span)).json()["value"]
    return any(e["subject"] == event["subject"] and e["start"] == event["start"] for e in view)


def _counts(outcomes: list[MailboxOutcome]) -> dict[str, int]:
    keys = ("created", "updated", "deleted", "adopted", "failed")
    return {k: sum(getattr(o.report, k) for o in outcomes) for k in keys}


async def demo(
    directory: Path, console: Console, *, students: int = 200, staff: int = 12, serve: int | None = None
) -> None:
    """The demo; with `serve` (a port, 0 for any), the service then keeps running against the demo tenant
    (scheduler, health, metrics) until Ctrl-C or SIGTERM."""
    began = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("calsync.db", "calsync.db-wal", "calsync.db-shm"):
        (directory / stale).unlink(missing_ok=True)
    console.rule("[bold]calsync demo")
    tenant = demo_tenant.build(directory, students=students, staff=staff)
    term = timetable.build(
        tenant.students, staff=tenant.staff, term_start=timetable.term_start_for(date.today())
    )
    console.print(
        f"Tenant [bold]Example University[/]: {len(tenant.students)} students, "
        f"{len(tenant.staff)} lecturers, group '{demo_tenant.GROUP}' (nested), "
        "the app restricted to it by an access policy; "
        f"term {term.term_start:%d %b} - {term.term_end:%d %b %Y}, {len(term.courses)} weekly sessions."
    )
    feeds = FeedServer(term).start()
    # --serve: graphemu posts change notifications to calsync serve on loopback, over http (demo only)
    emulator = EmulatorConfig(allow_http_notification_url=serve is not None)
    server = BackgroundServer(tenant.world, emulator, tls_dir=directory / "tls", log_level="error")
    info = server.start()
    try:
        console.print(f"graphemu over TLS at {info.base_url} (CA {info.ca}); feeds at {feeds.url_template}")
        foreign = await _own_appointments(info, tenant.students[:8], term.term_start + timedelta(weeks=7))
        console.print(
            f"{len(foreign)} students already have their own appointments (calsync must not touch them)."
        )
        config = _config(directory, info, tenant, feeds, term)

        console.rule("First sync")
        first = (await run_sync(str(config), None, dry_run=False, force=False, quiet=False)).outcomes
        print_summary(first, limit=8)

        console.rule("Changes")
        for note in timetable.change_term(term):
            console.print(f"  registry office: {note}")
        victim = tenant.students[10]
        gone = await _delete_one_lecture(info, victim, term.term_end)
        console.print(f"  {victim} deleted '{gone['subject']}' on {_day(gone):%a %d %b} in Outlook")

        console.rule("Second sync")
        second = (await run_sync(str(config), None, dry_run=False, force=False, quiet=False)).outcomes
        print_summary(second, limit=8)
        changed = _counts(second)
        back = (
            "the deleted lecture is back"
            if await _shown(info, victim, gone)
            else "the deleted lecture is NOT back"
        )
        console.print(
            f"Second run: {changed['created']} created, {changed['updated']} updated, "
            f"{changed['deleted']} deleted ({back}); nothing else was rewritten."
        )
        for event in foreign:
            owner = event["organizer"]["emailAddress"]["address"]
            now = (await _graph(info, "GET", f"/users/{owner}/events/{event['id']}")).json()
            assert now["changeKey"] == event["changeKey"], "a foreign event was changed"
        console.print(f"The {len(foreign)} appointments calsync did not create are untouched.")
        if serve is not None:
            await _serve(config, console, serve, info, tenant.students[11])
    finally:
        server.stop()
        feeds.stop()
    console.rule()
    console.print(f"Done in {time.monotonic() - began:.0f} s. See the state with:")
    command = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "calsync" else "calsync"
    console.print(f"  {command} --config {config} status")


async def _serve(config: Path, console: Console, port: int, info: Any, user: str) -> None:
    """`calsync serve` on the demo's configuration, the emulator and feeds still running, subscribed to
    change notifications: a user's edit in graphemu is shown put right within seconds."""
    import socket

    from calsync.cli.service import run_service
    from calsync.settings import load_settings

    if port == 0:  # the public URL must be known before the service starts
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    settings = load_settings(
        config, sync_interval_minutes=1.0, public_url=f"http://127.0.0.1:{port}", change_notifications=True
    )
    shows: set[asyncio.Task[None]] = set()

    def ready(url: str) -> None:
        console.rule("The service")
        console.print(
            "calsync serve is running against the demo tenant, a round every minute, subscribed to\n"
            "Graph change notifications (graphemu posts them to /graph/notifications):\n"
            f"  liveness   {url}/healthz\n  readiness  {url}/readyz\n  metrics    {url}/metrics\n"
            f"  status     calsync --config {config} status\n"
            "Press Ctrl-C to stop (it finishes the runs in flight first)."
        )
        show = asyncio.get_running_loop().create_task(_show_repair(info, console, user))
        shows.add(show)
        show.add_done_callback(shows.discard)

    try:
        await run_service(settings, port=port, on_ready=ready)
    finally:
        for show in shows:
            show.cancel()


async def _show_repair(info: Any, console: Console, user: str) -> None:
    """Once `user` has a subscription, rename one of their lectures as their Outlook would, and print
    how long calsync took to put it back (it hears of it through a change notification)."""
    from calsync.adapters.eventmap import TAG_ID

    trust = ssl.create_default_context(cafile=str(info.ca))
    async with httpx.AsyncClient(base_url=info.base_url, verify=trust, trust_env=False) as control:

        async def lectures() -> list[dict[str, Any]]:
            events = (await control.get(f"/_emu/events/{user}")).json()["value"]
            return [e for e in events if (e.get("extended") or {}).get(TAG_ID)]

        resource = f"/users/{user}/events"
        for _ in range(600):
            subs = (await control.get("/_emu/subscriptions")).json()["value"]
            if any(s["resource"] == resource for s in subs) and await lectures():
                break
            await asyncio.sleep(0.2)
        else:
            console.print(f"[yellow]No subscription for {user} after 2 minutes; see the log.")
            return
        target = (await lectures())[0]
        original = target["props"]["subject"]
        began = time.monotonic()
        await _graph(info, "PATCH", f"/users/{user}/events/{target['id']}", json={"subject": "Skipped!"})
        console.print(f"  {user} renamed '{original}' to 'Skipped!' in Outlook")
        for _ in range(1200):
            now = {e["id"]: e["props"]["subject"] for e in await lectures()}
            if now.get(target["id"]) == original:
                console.print(
                    f"  put right by calsync {time.monotonic() - began:.1f} s later, "
                    "through a Graph change notification (not the nightly run)"
                )
                return
            await asyncio.sleep(0.1)
        console.print("[yellow]The edit was not put right within 2 minutes; see the log.")


def main(directory: Path, console: Console, **kwargs: Any) -> None:
    asyncio.run(demo(directory, console, **kwargs))
