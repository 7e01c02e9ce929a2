"""People connecting their own calendars (delegated permissions) against graphemu over TLS.

`people` runs a tenant whose app has a redirect URI, a feed server answering each person's timetable at
/{upn}.ics, and calsync.toml with `ics_url_template` pointing there. `Delegated.sign_in` does what a
browser does on graphemu's sign-in and consent page (GET the page, POST "Accept" with its form fields and
its CSRF cookie) and returns the redirect's query parameters; the browser tests do the same in Chromium.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from calsync.services import Deployment, open_deployment
from calsync.settings import Settings, load_settings
from graphemu import EmulatorConfig, World
from tests.calsync.feedserver import FeedServer
from tests.calsync.graph.identity import HiddenFields
from tests.calsync.tenants import calsync_toml, running_tenant

ADA = "ada@uni.example"
BOB = "bob@uni.example"
REDIRECT = "http://localhost:8400/auth/callback"

# Ada's timetable: two lectures and a lab in 2030, each tagged with its activity type as a category.
TIMETABLE = """BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r
BEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300105T100000Z\r\nDTEND:20300105T110000Z\r
SUMMARY:Algebra\r\nCATEGORIES:Lecture\r\nEND:VEVENT\r
BEGIN:VEVENT\r\nUID:2\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300106T100000Z\r\nDTEND:20300106T110000Z\r
SUMMARY:Ethics\r\nCATEGORIES:Lecture\r\nEND:VEVENT\r
BEGIN:VEVENT\r\nUID:3\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300107T100000Z\r\nDTEND:20300107T120000Z\r
SUMMARY:Chemistry lab\r\nCATEGORIES:Lab\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"""


@dataclass
class Delegated:
    world: World
    info: Any
    feed: FeedServer
    config: Path
    folder: Path

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @asynccontextmanager
    async def deployment(self) -> AsyncIterator[Deployment]:
        async with open_deployment(self.settings) as deployment:
            yield deployment

    async def sign_in(
        self, auth_uri: str, user: str, *, accept: bool = True, password: str = ""
    ) -> dict[str, str]:
        """What graphemu's sign-in page sends back to the redirect URI when `user` accepts (or not)."""
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(self.info.ca))) as browser:
            page = await browser.get(auth_uri)
            assert page.status_code == 200, page.text
            form = HiddenFields(page.text).fields
            who = self.world.find_user(user)
            assert who is not None
            answer = await browser.post(
                auth_uri,
                data={
                    **form,
                    "user": who.id,
                    "password": password,
                    "action": "accept" if accept else "cancel",
                },
            )
        assert answer.status_code in (302, 303), answer.text
        location = answer.headers["location"]
        assert location.startswith(REDIRECT)
        return dict(parse_qsl(urlsplit(location).query))

    def events(self, user: str) -> list[Any]:
        who = self.world.find_user(user)
        assert who is not None
        return list(self.world.events[who.id].values())


def people_toml(folder: Path, tenant: Any, feed: FeedServer, extra: str = "") -> Path:
    return calsync_toml(
        folder,
        tenant,
        f'permissions = "delegated"\nredirect_uri = "{REDIRECT}"\n'
        f'ics_url_template = "http://127.0.0.1:{feed.port}/{{upn}}.ics"\n'
        f"allow_http_feeds = true\nallow_private_feeds = true\n{extra}",
    )


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig()


@pytest.fixture
def people(tmp_path: Path, emulator_config: EmulatorConfig) -> Iterator[Delegated]:
    with (
        running_tenant(
            tmp_path, [ADA, BOB], app={"redirectUris": [REDIRECT]}, config=emulator_config
        ) as tenant,
        FeedServer(TIMETABLE) as feed,
    ):
        folder = tmp_path / "calsync"
        yield Delegated(tenant[0], tenant[1], feed, people_toml(folder, tenant, feed), folder)
