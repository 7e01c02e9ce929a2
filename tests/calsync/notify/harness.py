"""`calsync serve`'s pieces on loopback, with graphemu (TLS, in a thread) delivering notifications to it.

`notified_service` starts what `calsync serve` starts on SQLite: the deployment, the in-process scheduler,
the web app with the Graph hooks under a real uvicorn on 127.0.0.1, and the subscription upkeep once the
app listens. graphemu posts its notifications over real HTTP (it allows http for the test); calsync
talks to graphemu over TLS as always.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from calsync import services
from calsync.adapters.eventmap import TAG_ID
from calsync.runtime.embedded import EmbeddedRuntime
from calsync.services import Deployment
from calsync.settings import load_settings
from calsync.web import create_app
from calsync.web.graphhooks import GraphHooks
from tests.calsync.tenants import FEED, Tenant, calsync_toml

ADA, BOB = "ada@uni.example", "bob@uni.example"  # the two people of the notification tests' tenant

WAIT_S = 60.0  # a bound on waiting for something that must happen; never a speed claim


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    deployment: Deployment
    runtime: EmbeddedRuntime
    hooks: GraphHooks
    url: str
    emu: httpx.AsyncClient  # graphemu's control API

    async def managed(self, mailbox: str) -> list[dict[str, Any]]:
        events = (await self.emu.get(f"/_emu/events/{mailbox}")).json()["value"]
        return [e for e in events if (e.get("extended") or {}).get(TAG_ID)]

    async def user_edit(self, mailbox: str, event_id: str, subject: str) -> None:
        """A change to a managed event that calsync did not make (as a user's Outlook would)."""
        client = await self.deployment.graph()
        await client.request_json("PATCH", f"/users/{mailbox}/events/{event_id}", json={"subject": subject})

    async def subscriptions(self) -> list[dict[str, Any]]:
        return list((await self.emu.get("/_emu/subscriptions")).json()["value"])

    async def writes(self, since: int = 0) -> int:
        """Event writes graphemu answered (inside calsync's $batch calls or not)."""
        log = (await self.emu.get("/_emu/requests", params={"since": since})).json()["value"]
        return sum(
            1
            for e in log
            if e["method"] in ("POST", "PATCH", "DELETE") and "/events" in e["path"] and e["status"] < 300
        )

    async def last_seq(self) -> int:
        log = (await self.emu.get("/_emu/requests")).json()["value"]
        return max((e["seq"] for e in log), default=0)

    async def limits(self, **values: object) -> None:
        (await self.emu.put("/_emu/limits", json=values)).raise_for_status()

    def runs_started(self) -> int:
        return self.runtime.scheduler.snapshot().counts.started

    async def idle(self) -> None:
        """graphemu delivered what is due, calsync sorted it, and no run is going or waiting."""
        await until(self.nothing_pending)

    async def nothing_pending(self) -> bool:
        await self.emu.post("/_emu/notifications/drain")
        await self.hooks.settled()
        snap = self.runtime.scheduler.snapshot()
        return not snap.running and not snap.pending and self.hooks.queue.empty()


async def until(check: Callable[[], Awaitable[bool]], what: str = "the condition") -> None:
    """Poll `check` until it holds; fail the test (not a time assertion: a bound on a hang) after WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"{what} did not happen")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def notified_service(
    folder: Path, tenant: Tenant, mailboxes: list[str], extra: str = ""
) -> AsyncIterator[Service]:
    _, info, _ = tenant
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    feed = folder / "feed.ics"
    folder.mkdir(exist_ok=True)
    feed.write_text(FEED)
    path = calsync_toml(
        folder,
        tenant,
        f'mailboxes = {mailboxes!r}\nics_file = "{feed}"\nsync_interval_minutes = 1440\n'
        f'public_url = "{url}"\nchange_notifications = true\n{extra}'.replace("'", '"'),
    )
    settings = load_settings(path, env={})
    emu = httpx.AsyncClient(base_url=info.base_url, verify=ssl.create_default_context(cafile=info.ca))
    await emu.put("/_emu/limits", json={"allowHttpNotificationUrl": True})
    async with services.open_deployment(settings) as deployment:
        runtime = EmbeddedRuntime(deployment)
        runtime.start()
        hooks = GraphHooks(deployment, runtime.reconcile)
        app = create_app(
            deployment, runtime_ready=runtime.ready, queue_depth=runtime.queue_depth, graph_hooks=hooks
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            await until(lambda: _started(server, serving), "uvicorn listening")
            runtime.serving()
            yield Service(deployment, runtime, hooks, url, emu)
        finally:
            server.should_exit = True
            await serving
            await hooks.aclose()
            await runtime.stop()
            await emu.aclose()


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> bool:
    if serving.done():
        serving.result()  # raises what stopped it
    return bool(server.started)


def world_edit(world: Any, mailbox: str, event_id: str, subject: str) -> None:
    """A user's edit made inside graphemu's world, as Outlook would (no Graph request, so it is not in
    the request log). Called from a thread with no event loop: the notification is queued, not sent, until
    the control API's drain, so a test can gather a storm and release it at once."""
    user = world.find_user(mailbox)
    event = world.events[user.id][event_id]
    event.props["subject"] = subject
    world.put_event(event, "updated")


async def synced(svc: Service) -> None:
    """Both mailboxes hold their two lectures, each has its subscription, and nothing is pending."""

    async def ready() -> bool:
        subs = await svc.subscriptions()
        counts = [len(await svc.managed(m)) for m in (ADA, BOB)]
        return counts == [2, 2] and len(subs) == 2 and await svc.nothing_pending()

    await until(ready, "the first sync and the subscriptions")
