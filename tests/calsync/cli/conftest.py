"""One graphemu tenant over TLS for the CLI tests (started once per module), and calsync.toml writers.

The tenant: an app with a certificate and a secret, granted Calendars.ReadWrite and User.Read.All; an
application access policy that admits only the members of "calsync-scope" (ada, bob, nomail); outsider is
outside it; nomail has no mailbox. `emulator` puts the app's permissions back after each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from calsync.certs import CertificateFiles, create_certificate
from graphemu import EmulatorConfig, World, world_from_seed
from graphemu.server import BackgroundServer, ServerInfo

TENANT = "7d0c5e2a-1111-4222-8333-444455556666"
CLIENT = "b0a7c0de-aaaa-4bbb-8ccc-dddddddddddd"
SECRET = "s3cret~Value.for-tests_0123456789abcdef"
DOMAIN = "uni.example"
ADA = f"ada@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
OUTSIDER = f"outsider@{DOMAIN}"
NOMAIL = f"nomail@{DOMAIN}"
GROUP = "9e1f3a5b-7c9d-4e2f-8a1b-3c5d7e9f1a2b"
BASELINE = {"Calendars.ReadWrite", "User.Read.All"}


class Emulator:
    """The running server, its world, and the app's certificate files."""

    def __init__(self, info: ServerInfo, world: World, cert: CertificateFiles) -> None:
        self.info = info
        self.world = world
        self.cert = cert

    def grant(self, *permissions: str) -> None:
        """Replace the app's application permissions (tokens issued afterwards carry them)."""
        self.world.apps[CLIENT].application_permissions = set(permissions)


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    base = tmp_path_factory.mktemp("graphemu")
    cert = create_certificate(base / "cert")
    seed: dict[str, Any] = {
        "tenants": [{"id": TENANT, "domain": DOMAIN}],
        "users": [
            {"userPrincipalName": ADA},
            {"userPrincipalName": BOB},
            {"userPrincipalName": OUTSIDER},
            {"userPrincipalName": NOMAIL, "hasMailbox": False},
        ],
        "groups": [
            {
                "id": GROUP,
                "displayName": "calsync-scope",
                "mail": f"calsync-scope@{DOMAIN}",
                "members": [ADA, BOB, NOMAIL],
            }
        ],
        "apps": [
            {
                "clientId": CLIENT,
                "certificates": [{"pem": cert.certificate.read_text()}],
                "secrets": [{"value": SECRET, "keyId": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"}],
                "applicationPermissions": sorted(BASELINE),
            }
        ],
        "accessPolicies": [{"clientId": CLIENT, "group": f"calsync-scope@{DOMAIN}"}],
    }
    world = world_from_seed(seed)
    server = BackgroundServer(world, EmulatorConfig(), tls_dir=base / "tls")
    info = server.start()
    yield Emulator(info, world, cert)
    server.stop()


@pytest.fixture
def emulator(_server: Emulator) -> Iterator[Emulator]:
    yield _server
    _server.grant(*BASELINE)


ConfigWriter = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> ConfigWriter:
    """Write a calsync.toml for the emulator: certificate credential unless `secret=True` (then the secret
    comes from CALSYNC_CLIENT_SECRET, as it would in production); `extra` lines are appended."""
    monkeypatch.delenv("CALSYNC_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")  # must not override ca_file

    def write(*, secret: str | None = None, extra: str = "", mailboxes: tuple[str, ...] = (ADA,)) -> Path:
        info, cert = emulator.info, emulator.cert
        credential = (
            f'certificate_file = "{cert.certificate}"\nprivate_key_file = "{cert.private_key}"\n'
            if secret is None
            else ""
        )
        if secret is not None:
            monkeypatch.setenv("CALSYNC_CLIENT_SECRET", secret)
        listed = ", ".join(f'"{m}"' for m in mailboxes)
        path = tmp_path / "calsync.toml"
        path.write_text(
            f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n{credential}'
            f'authority_host = "{info.base_url}"\ngraph_url = "{info.graph}"\nca_file = "{info.ca}"\n'
            f"mailboxes = [{listed}]\n{extra}"
        )
        return path

    return write


@pytest.fixture
def config(write_config: ConfigWriter) -> Path:
    """calsync.toml with the certificate credential and ada as the mailbox."""
    return write_config()
