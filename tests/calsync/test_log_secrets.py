"""No secret in DEBUG logs: real `calsync --log-level debug sync` processes against graphemu over TLS.

Each run signs in with a client secret (from CALSYNC_CLIENT_SECRET or from client_secret_file) or with a
certificate and its private key, and fetches per-mailbox feeds whose URL carries `?token=...`. Its stderr,
as text and as JSON lines, must show the work (Graph request lines with their client_request_id, httpx's
request line for each feed) and none of: the client secret, the feed token, any line of the private key,
a JWT (the access tokens graphemu issues and the client assertions calsync signs both start `eyJ`).
A JSON run's lines are each one object, and every line about a mailbox's Graph calls or feed carries that
mailbox and its run's run_id. Secrets kept in files are registered with the redactor like the others.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from calsync import logs, redact
from calsync.cli.state import CliState, settings_from
from tests.calsync.emulated import BIN, CLIENT, TENANT, Emulator, calsync_env, emulator_process
from tests.calsync.feedserver import FeedServer

RUNS = [("secret", "text"), ("secret-file", "json"), ("certificate", "text"), ("certificate", "json")]
NAMES = [*(f"{credential}-{fmt}" for credential, fmt in RUNS), "context"]  # each run has its mailboxes
SECRET_CLIENT = "5ec7e700-aaaa-4bbb-8ccc-dddddddddddd"
SECRET = "Qx8~client.Secret-for_log-tests-5b9c2e7a"
FEED_TOKEN = "feedTOKEN-7c1e5d9f3a2b"
CERT_KEYS = ("certificate_file", "private_key_file")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}")


def feed_body() -> str:
    """One event tomorrow, inside the default window (so each run writes it)."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\nUID:ethics@logs\n"
        f"DTSTART:{day:%Y%m%d}T120000Z\nDTEND:{day:%Y%m%d}T130000Z\nSUMMARY:Data ethics\n"
        "END:VEVENT\nEND:VCALENDAR\n"
    )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """graphemu with the certificate app of tests/calsync/emulated.py and a second app that signs in with
    a client secret (added through the control API, as a seed)."""
    everyone = [m for name in NAMES for m in mailboxes_of(name)]
    with emulator_process(tmp_path_factory.mktemp("graphemu"), everyone) as emu:
        app = {"clientId": SECRET_CLIENT, "secrets": [{"value": SECRET}],
               "applicationPermissions": ["Calendars.ReadWrite", "User.Read.All"]}  # fmt: skip
        emu.control.post("/_emu/seed", json={"apps": [app]}).raise_for_status()
        yield emu


@pytest.fixture(scope="module")
def feed() -> Iterator[FeedServer]:
    with FeedServer(feed_body()) as server:
        yield server


def mailboxes_of(name: str) -> tuple[str, str]:
    """Two mailboxes of the run's own, so that each run creates its events (and logs its writes)."""
    return f"ada.{name}@logs.example", f"bob.{name}@logs.example"


def run_sync(
    emulator: Emulator, feed: FeedServer, folder: Path, *, credential: str, fmt: str, name: str
) -> list[str]:
    """`calsync --log-level debug --log-format {fmt} sync` of the mailboxes of `name`, in `folder` (its
    own database: each run reads the feeds in full and lists and writes both calendars); its stderr
    lines. `credential`: "secret" (CALSYNC_CLIENT_SECRET), "secret-file" or "certificate"."""
    mailboxes = mailboxes_of(name)
    folder.mkdir()
    template = f"http://127.0.0.1:{feed.port}/feeds/{{upn}}.ics?token={FEED_TOKEN}"
    extra = f'ics_url_template = "{template}"\nallow_http_feeds = true\nallow_private_feeds = true\n'
    path = emulator.write_config(folder, mailboxes, extra)
    env = calsync_env(folder)
    if credential != "certificate":
        kept = [line for line in path.read_text().splitlines() if not line.startswith(CERT_KEYS)]
        text = "\n".join(kept)
        text = text.replace(f'client_id = "{CLIENT}"', f'client_id = "{SECRET_CLIENT}"')
        if credential == "secret-file":
            (folder / "client.secret").write_text(SECRET + "\n")
            text += f'\nclient_secret_file = "{folder / "client.secret"}"'
        else:
            env["CALSYNC_CLIENT_SECRET"] = SECRET
        path.write_text(text + "\n")
    done = subprocess.run(
        [str(BIN / "calsync"), "--log-level", "debug", "--log-format", fmt, "sync", "--json"],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    reports = {r["mailbox"]: r["status"] for r in json.loads(done.stdout)}
    assert reports == dict.fromkeys(mailboxes, "ok")
    return done.stderr.splitlines()


def secrets_of(emulator: Emulator) -> list[str]:
    """Every value that must never appear: the secret, the feed token and each line of the private key."""
    key_lines = [line for line in emulator.cert.private_key.read_text().splitlines() if line.strip()]
    assert len(key_lines) > 10  # the base64 body, not only the armour lines
    return [SECRET, FEED_TOKEN, *key_lines]


@pytest.mark.slow
@pytest.mark.parametrize(("credential", "fmt"), RUNS)
def test_debug_logs_show_the_work_and_no_secret(
    emulator: Emulator, feed: FeedServer, tmp_path: Path, credential: str, fmt: str
) -> None:
    """The DEBUG log of a sync names each Graph request and feed fetch, and no secret, token or key."""
    name = f"{credential}-{fmt}"
    lines = run_sync(emulator, feed, tmp_path / "run", credential=credential, fmt=fmt, name=name)
    text = "\n".join(lines)
    graph_lines = [line for line in lines if "calsync.graph.request" in line]
    assert len(graph_lines) >= 5, text[-4000:]  # the reachability check, then per mailbox: list, $batch
    assert all("client_request_id" in line for line in graph_lines)
    assert any("$batch" in line for line in graph_lines)
    for upn in mailboxes_of(name):
        url = f"http://127.0.0.1:{feed.port}/feeds/{quote(upn)}.ics"
        fetched = [line for line in lines if f"HTTP Request: GET {url}" in line]
        assert fetched, text[-4000:]
    for secret in secrets_of(emulator):
        assert secret not in text, f"{secret[:8]}... leaked"
    assert not JWT.search(text), JWT.search(text)
    assert any(f"?token={FEED_TOKEN}" in r for r in feed.requests)  # the token was used, only not logged


@pytest.mark.slow
def test_json_lines_carry_the_run_and_the_mailbox(
    emulator: Emulator, feed: FeedServer, tmp_path: Path
) -> None:
    """Every stderr line of a JSON run is one JSON object; the lines about a mailbox's Graph calls and
    its feed carry that mailbox and one run_id, a different one for each mailbox."""
    lines = run_sync(emulator, feed, tmp_path / "run", credential="certificate", fmt="json", name="context")
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    ada, bob = mailboxes_of("context")
    runs: dict[str, set[str]] = {ada: set(), bob: set()}
    for record in records:
        about = _mailbox_of(record, (ada, bob), feed.port)
        if about is not None:
            assert record.get("mailbox") == about, record
            assert record.get("run_id"), record
            runs[about].add(record["run_id"])
    assert all(len(ids) == 1 for ids in runs.values()), runs
    assert runs[ada] != runs[bob]


@pytest.mark.parametrize("kind", ["client_secret_file", "pkcs12_password_file"])
def test_secrets_kept_in_files_are_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A client secret or PKCS#12 password given as a file is registered with the redactor when the
    settings are read, like one given in a variable: no log line can print it afterwards."""
    for name in [n for n in os.environ if n.startswith("CALSYNC_")]:
        monkeypatch.delenv(name)
    value = f"kept-in-a-file.{secrets.token_urlsafe(16)}"  # never registered before this test
    (tmp_path / "secret.txt").write_text(value + "\n")
    credential = (
        f'client_secret_file = "{tmp_path / "secret.txt"}"'
        if kind == "client_secret_file"
        else f'pkcs12_file = "{tmp_path / "app.pfx"}"\npkcs12_password_file = "{tmp_path / "secret.txt"}"'
    )
    config = tmp_path / "calsync.toml"
    config.write_text(f'tenant_id = "{TENANT}"\nclient_id = "{SECRET_CLIENT}"\n{credential}\n')
    assert value in redact.redact(f"before: {value}")
    try:
        settings_from(CliState(str(config)))
    finally:
        logs.reset_logging()
    assert redact.redact(f"after: {value}") == f"after: {redact.MARK}"


def _mailbox_of(record: dict[str, Any], mailboxes: tuple[str, str], port: int) -> str | None:
    """The mailbox a log line is about: a Graph request under /users/{upn}, or the fetch of its feed."""
    text = json.dumps(record)
    for upn in mailboxes:
        if f"/users/{upn}" in text or f"127.0.0.1:{port}/feeds/{quote(upn)}" in text:
            return upn
    return None
