"""A graphemu tenant over TLS in a thread, and calsync.toml files pointing at it, for end-to-end tests
that drive the CLI (profiles, target calendars, offboarding, templates)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from calsync.certs import create_certificate
from graphemu import EmulatorConfig, world_from_seed
from graphemu.server import BackgroundServer

TENANT = "5a1c0e9d-1111-4222-8333-444455556666"
CLIENT = "c0ffee00-aaaa-4bbb-8ccc-dddddddddddd"
PERMISSIONS = ("Calendars.ReadWrite", "User.Read.All")

# A timetable feed of two lectures in 2030 (inside a window_days_ahead of 3650).
FEED = """BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r
BEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300105T100000Z\r\nDTEND:20300105T110000Z\r
SUMMARY:Algebra\r\nEND:VEVENT\r
BEGIN:VEVENT\r\nUID:2\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300106T100000Z\r\nDTEND:20300106T110000Z\r
SUMMARY:Ethics\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"""

Tenant = tuple[Any, Any, Any]  # (graphemu World, the server's info: base_url/graph/ca, CertificateFiles)


@contextmanager
def running_tenant(
    tmp_path: Path,
    people: Sequence[str],
    permissions: Sequence[str] = PERMISSIONS,
    *,
    app: dict[str, Any] | None = None,
    config: EmulatorConfig | None = None,
    **seed: Any,
) -> Iterator[Tenant]:
    """A tenant with `people` and an app that signs in with a certificate made here (extra seed keys,
    e.g. groups, are passed through; `app`'s keys, e.g. redirectUris, are added to the app's)."""
    cert = create_certificate(tmp_path / "cert")
    world = world_from_seed(
        {
            "tenants": [{"id": TENANT, "domain": people[0].split("@")[1]}],
            "users": [{"userPrincipalName": p} for p in people],
            "apps": [{"clientId": CLIENT, "certificates": [{"pem": cert.certificate.read_text()}],
                      "applicationPermissions": list(permissions), **(app or {})}],
            **seed,
        }
    )  # fmt: skip
    server = BackgroundServer(world, config or EmulatorConfig(), tls_dir=tmp_path / "tls")
    try:
        yield world, server.start(), cert
    finally:
        server.stop()


def calsync_toml(folder: Path, tenant: Tenant, body: str) -> Path:
    """calsync.toml in `folder` for `tenant`: the connection, a SQLite database in `folder`, a wide
    window, then `body` (the sources, profiles and whatever the test is about)."""
    _, info, cert = tenant
    folder.mkdir(exist_ok=True)
    path = folder / "calsync.toml"
    path.write_text(
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n'
        f'certificate_file = "{cert.certificate}"\nprivate_key_file = "{cert.private_key}"\n'
        f'authority_host = "{info.base_url}"\ngraph_url = "{info.graph}"\nca_file = "{info.ca}"\n'
        f'database_url = "sqlite:///{folder / "state.db"}"\nwindow_days_ahead = 3650\n{body}'
    )
    return path
