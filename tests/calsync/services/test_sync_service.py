"""calsync.services.sync_mailbox, the scheduler's and the workers' unit of work, against graphemu over TLS:
a credential refused in the middle of a service's life is recorded as the run's failure (so `status`,
metrics and alerts show it), not raised past the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calsync import services
from calsync.certs import create_certificate
from calsync.settings import load_settings
from graphemu import EmulatorConfig, world_from_seed
from graphemu.server import BackgroundServer

TENANT = "5a1c0e9d-1111-4222-8333-444455556666"
CLIENT = "c0ffee00-aaaa-4bbb-8ccc-dddddddddddd"
MAILBOX = "ada@uni.example"
FEED = """BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a@uni\r
DTSTAMP:20260101T000000Z\r\nDTSTART:20300105T100000Z\r\nDTEND:20300105T110000Z\r\nSUMMARY:A\r
END:VEVENT\r\nEND:VCALENDAR\r\n"""


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Any]:
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
    (tmp_path / "feed.ics").write_text(FEED)
    yield info, cert
    server.stop()


def config(tmp_path: Path, info: Any, cert: Any) -> Path:
    path = tmp_path / "calsync.toml"
    path.write_text(
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n'
        f'certificate_file = "{cert.certificate}"\nprivate_key_file = "{cert.private_key}"\n'
        f'authority_host = "{info.base_url}"\ngraph_url = "{info.graph}"\nca_file = "{info.ca}"\n'
        f'database_url = "sqlite:///{tmp_path / "state.db"}"\nmailboxes = ["{MAILBOX}"]\n'
        f'ics_file = "{tmp_path / "feed.ics"}"\nwindow_days_ahead = 3650\n'
    )
    return path


async def test_a_refused_credential_is_the_runs_recorded_failure(tmp_path: Path, tenant: Any) -> None:
    info, cert = tenant
    settings = load_settings(config(tmp_path, info, cert))
    async with services.open_deployment(settings) as deployment:
        report = await services.sync_mailbox(deployment, MAILBOX)
    assert (report.status, report.created) == ("ok", 1)
    stranger = create_certificate(tmp_path / "unknown")  # a certificate the app registration never had
    settings = load_settings(config(tmp_path, info, stranger))
    async with services.open_deployment(settings) as deployment:
        report = await services.sync_mailbox(deployment, MAILBOX, full=True)
        found = services.status(deployment)
    assert (report.status, report.error_code) == ("failed", "auth_refused")
    assert "credential" in (report.message or "")
    assert [(s.last_run.error_code, s.consecutive_failures) for s in found] == [("auth_refused", 1)]
