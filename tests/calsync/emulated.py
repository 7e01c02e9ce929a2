"""graphemu as a real process over TLS, for tests that run calsync as a real process against it.

`emulator_process(workdir, mailboxes)` starts `graphemu serve` seeded with one tenant, the mailboxes
and an app that signs in with a certificate made here; `Emulator.write_config` writes a calsync.toml for
it. The control API (`/_emu/...`) shows the calendars and the request log.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.adapters.eventmap import TAG_ID
from calsync.certs import CertificateFiles, create_certificate

BIN = Path(sys.executable).parent
TENANT = "3c1d5e7f-1111-4222-8333-444455556666"
CLIENT = "d00dfeed-aaaa-4bbb-8ccc-dddddddddddd"


@dataclass
class Emulator:
    process: subprocess.Popen[bytes]
    base: str
    ca: str
    graph: str
    control: httpx.Client
    cert: CertificateFiles

    def write_config(self, workdir: Path, mailboxes: Sequence[str], extra: str = "") -> Path:
        """calsync.toml in `workdir` for this emulator (SQLite state in workdir unless `extra` says)."""
        path = workdir / "calsync.toml"
        database = "" if "database_url" in extra else f'database_url = "sqlite:///{workdir / "state.db"}"\n'
        path.write_text(
            f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\n'
            f'certificate_file = "{self.cert.certificate}"\nprivate_key_file = "{self.cert.private_key}"\n'
            f'authority_host = "{self.base}"\ngraph_url = "{self.graph}"\nca_file = "{self.ca}"\n'
            f"{database}mailboxes = {json.dumps(list(mailboxes))}\n{extra}"
        )
        return path

    def managed(self, mailbox: str) -> list[dict[str, Any]]:
        """The mailbox's events that carry calsync's tag."""
        events = self.control.get(f"/_emu/events/{mailbox}").json()["value"]
        return [e for e in events if (e.get("extended") or {}).get(TAG_ID)]


@contextmanager
def emulator_process(workdir: Path, mailboxes: Sequence[str]) -> Iterator[Emulator]:
    domain = mailboxes[0].split("@")[1]
    cert = create_certificate(workdir / "cert")
    seed = {
        "tenants": [{"id": TENANT, "domain": domain}],
        "users": [{"userPrincipalName": m} for m in mailboxes],
        "apps": [
            {
                "clientId": CLIENT,
                "displayName": "calsync tests",
                "certificates": [{"pem": cert.certificate.read_text()}],
                "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"],
            }
        ],
    }
    (workdir / "seed.json").write_text(json.dumps(seed))
    ready = workdir / "ready.json"
    log = (workdir / "graphemu.log").open("wb")
    process = subprocess.Popen(
        [
            *(str(BIN / "graphemu"), "serve", "--seed", str(workdir / "seed.json"), "--port", "0"),
            *("--ready-file", str(ready), "--tls-dir", str(workdir / "tls")),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() or not ready.read_text().strip():
            assert process.poll() is None, (workdir / "graphemu.log").read_text()
            if time.monotonic() > deadline:
                pytest.fail("graphemu did not start within 30 s")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        control = httpx.Client(
            base_url=info["base"], verify=ssl.create_default_context(cafile=info["ca"]), timeout=30
        )
        yield Emulator(process, info["base"], info["ca"], info["graph"], control, cert)
        control.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def calsync_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a calsync process for `workdir`'s calsync.toml (the test's CALSYNC_* removed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env["CALSYNC_CONFIG"] = str(workdir / "calsync.toml")
    env.update(extra)
    return env
