"""A one-mailbox tenant in graphemu over TLS (in a thread), and calsync.toml files pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from calsync.certs import CertificateFiles, create_certificate
from graphemu import EmulatorConfig, World, world_from_seed
from graphemu.server import BackgroundServer

TENANT = "5a1c0e9d-1111-4222-8333-444455556666"
CLIENT = "c0ffee00-aaaa-4bbb-8ccc-dddddddddddd"
MAILBOX = "ada@uni.example"


@dataclass
class Tenant:
    world: World
    info: Any  # graphemu.server.ServerInfo: base_url, graph, ca
    cert: CertificateFiles

    def config(self, folder: Path, feed: Path, *, cert: CertificateFiles | None = None) -> Path:
        """calsync.toml for MAILBOX with `feed` as its iCalendar file (and another certificate if given)."""
        cert = cert or self.cert
        path = folder / "calsync.toml"
        path.write_text(
            f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n'
            f'certificate_file = "{cert.certificate}"\nprivate_key_file = "{cert.private_key}"\n'
            f'authority_host = "{self.info.base_url}"\ngraph_url = "{self.info.graph}"\n'
            f'ca_file = "{self.info.ca}"\ndatabase_url = "sqlite:///{folder / "state.db"}"\n'
            f'mailboxes = ["{MAILBOX}"]\nics_file = "{feed}"\nwindow_days_ahead = 3650\n'
        )
        return path

    def events(self) -> list[Any]:
        return list(self.world.events[self.world.find_user(MAILBOX).id].values())


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Tenant]:
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
    yield Tenant(world, server.start(), cert)
    server.stop()
