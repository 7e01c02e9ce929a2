"""Fixtures for the pages: the app in-process (httpx over ASGI), a real `calsync serve` against graphemu
over TLS, and headless Chromium through Playwright.

- `web_app(tmp_path, body)` (async context manager): calsync's FastAPI app on a SQLite deployment and an
  `httpx.AsyncClient` talking to it over ASGI, for header, CSRF and session tests.
- `served` (session scope; `serve_calsync(folder, ...)` for a test's own): graphemu (TLS, in a thread)
  with a tenant, people and an app registration
  whose redirect URIs point at a real `calsync serve` subprocess started on a free port with
  `public_url = http://127.0.0.1:<port>`. Tests reach the world through `served.world`, the pages at
  `served.url`, and the service's log at `served.log_text()`.
- `browser` (module scope) / `page`: Chromium from CALSYNC_TEST_CHROMIUM or /usr/bin/chromium with
  `--no-sandbox`; Playwright never downloads a browser (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is set, and an
  explicit executable_path is always given). Without Chromium the tests skip (CI turns that into a failure).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.certs import CertificateFiles, create_certificate
from calsync.settings import load_settings
from graphemu import EmulatorConfig, World, world_from_seed
from graphemu.server import BackgroundServer
from tests.calsync.emulated import BIN, calsync_env

TENANT = "7e0d3c2b-1111-4222-8333-444455556666"
CLIENT = "ca15e9c0-aaaa-4bbb-8ccc-dddddddddddd"
DOMAIN = "uni.example"
ADMIN = f"admin@{DOMAIN}"
ADA_FEED_MAILBOX = f"ada@{DOMAIN}"
PEOPLE = (ADMIN, ADA_FEED_MAILBOX, f"bob@{DOMAIN}")
FEED = """BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r
BEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300105T100000Z\r\nDTEND:20300105T110000Z\r
SUMMARY:Algebra\r\nEND:VEVENT\r
BEGIN:VEVENT\r\nUID:2\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300106T100000Z\r\nDTEND:20300106T110000Z\r
SUMMARY:Ethics\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"""
CHROMIUM = os.environ.get("CALSYNC_TEST_CHROMIUM") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- in-process (ASGI) -------------------------------------------------------------------------------


@dataclass
class WebApp:
    app: Any  # the FastAPI app
    client: httpx.AsyncClient
    deployment: Any  # calsync.services.Deployment
    folder: Path


@asynccontextmanager
async def web_app(
    folder: Path, body: str = "", *, public_url: str = "http://127.0.0.1:8400"
) -> AsyncIterator[WebApp]:
    """calsync's app on a SQLite deployment in `folder` (no Graph is reached unless a page needs it)."""
    from calsync import services, web

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "calsync.toml"
    config.write_text(
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\nclient_secret_file = "{folder / "secret"}"\n'
        f'database_url = "sqlite:///{folder / "state.db"}"\npublic_url = "{public_url}"\n'
        f'mailboxes = ["ada@{DOMAIN}"]\nics_file = "{folder / "feed.ics"}"\n{body}'
    )
    (folder / "secret").write_text("not-a-real-secret\n")
    (folder / "feed.ics").write_text(FEED)
    settings = load_settings(config, env={})

    async def ready() -> list[str]:
        return []

    async with services.open_deployment(settings) as deployment:
        app = web.create_app(deployment, runtime_ready=ready, queue_depth=lambda: 0.0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=public_url) as client:
            yield WebApp(app, client, deployment, folder)


# ---- a real calsync serve against graphemu ------------------------------------------------------------


@dataclass
class Served:
    """A running `calsync serve` and the graphemu tenant it uses."""

    url: str
    folder: Path
    world: World
    emulator: Any  # graphemu.server.ServerInfo
    cert: CertificateFiles
    process: subprocess.Popen[bytes]
    extra_env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        return (self.folder / "serve.log").read_text(errors="replace")

    def emulator_events(self, mailbox: str) -> list[dict[str, Any]]:
        """calsync's events in a mailbox of graphemu (those with its ownership tag), as Graph shows them."""
        from calsync.adapters.eventmap import TAG_ID

        user = self.world.find_user(mailbox)
        return [{"id": e.id, "subject": e.props.get("subject")} for e in self.world.events[user.id].values()
                if (e.extended or {}).get(TAG_ID)]  # fmt: skip

    def store(self) -> Any:
        """The service's state store (SQLite in WAL mode: safe beside the running service)."""
        from calsync.store import SqlStateStore, make_engine

        return SqlStateStore(make_engine(f"sqlite:///{self.folder / 'state.db'}"))

    def wait_for_runs(self, mailboxes: Sequence[str], seconds: float = 60) -> None:
        """Until each mailbox has a finished run (the service's first round)."""
        store = self.store()
        deadline = time.monotonic() + seconds
        while True:
            done = {r.mailbox for r in store.last_runs() if r.finished is not None}
            if set(mailboxes) <= done:
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"no finished runs of {mailboxes} (have {sorted(done)}):\n{self.log_text()[-3000:]}"
                )
            time.sleep(0.1)
        store.engine.dispose()

    def calsync(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a calsync command on the same configuration and database."""
        return subprocess.run(
            [str(BIN / "calsync"), *args],
            env=calsync_env(self.folder, **self.extra_env),
            capture_output=True,
            text=True,
            cwd=self.folder,
            timeout=120,
            check=False,
        )


def seed(
    cert: CertificateFiles, people: Sequence[str], redirect_uris: Sequence[str], **extra: Any
) -> dict[str, Any]:
    return {
        "tenants": [{"id": TENANT, "domain": DOMAIN}],
        "users": [{"userPrincipalName": p, "displayName": p.split("@")[0].title()} for p in people],
        "apps": [
            {
                "clientId": CLIENT,
                "displayName": "calsync",
                "certificates": [{"pem": cert.certificate.read_text()}],
                "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"],
                "redirectUris": list(redirect_uris),
                "appRoles": [{"value": "calsync.admin"}],
                "appRoleAssignments": [{"principal": ADMIN, "role": "calsync.admin"}],
                **extra.pop("app", {}),
            }
        ],
        **extra,
    }


@contextmanager
def serve_calsync(
    folder: Path,
    *,
    people: Sequence[str] = PEOPLE,
    body: str = "",
    app: dict[str, Any] | None = None,
    emulator: EmulatorConfig | None = None,
    **extra: Any,
) -> Iterator[Served]:
    """graphemu + `calsync serve` (see the module docstring); `body` is appended to calsync.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    cert = create_certificate(folder / "cert")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    redirect_uris = [
        f"{url}/admin/signin/callback",
        f"{url}/admin/consent/callback",
        f"{url}/connect/callback",
    ]
    world = world_from_seed(seed(cert, people, redirect_uris, app=app or {}, **extra))
    server = BackgroundServer(world, emulator or EmulatorConfig(), tls_dir=folder / "tls")
    info = server.start()
    (folder / "feed.ics").write_text(FEED)
    (folder / "calsync.toml").write_text(
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n'
        f'certificate_file = "{cert.certificate}"\nprivate_key_file = "{cert.private_key}"\n'
        f'authority_host = "{info.base_url}"\ngraph_url = "{info.graph}"\nca_file = "{info.ca}"\n'
        f'database_url = "sqlite:///{folder / "state.db"}"\nwindow_days_ahead = 3650\n'
        f'public_url = "{url}"\nmailboxes = {list(people[1:])!r}\nics_file = "{folder / "feed.ics"}"\n'
        f"sync_interval_minutes = 600\n{body}".replace("'", '"')
    )
    with (folder / "serve.log").open("ab") as log:
        process = subprocess.Popen(
            [
                str(BIN / "calsync"),
                "--log-format",
                "json",
                "--log-level",
                "debug",
                "serve",
                "--port",
                str(port),
            ],
            env=calsync_env(folder),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
    served = Served(url, folder, world, info, cert, process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"calsync serve exited:\n{served.log_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("calsync serve did not answer within 60 s")
            time.sleep(0.05)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.stop()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `calsync serve` + graphemu shared by the browser tests (starting them is most of their time)."""
    with serve_calsync(tmp_path_factory.mktemp("served")) as running:
        yield running


# ---- Chromium ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), driven by Playwright's sync API.

    Module scope, not session: while the sync API is open it marks an event loop as running in the
    main thread, which would break the asyncio tests of other modules; browser tests live in their own
    modules (test_browser_*.py) with only plain (sync) test functions."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (set CALSYNC_TEST_CHROMIUM)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; graphemu's TLS certificate is made by the test run."""
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
