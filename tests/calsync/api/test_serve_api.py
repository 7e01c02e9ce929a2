"""The documented way (docs/api.md), for real: `calsync api-keys create` prints a key, `calsync serve`
answers the API on a loopback port, a client application upserts and deletes over HTTP, and the events
appear in and vanish from graphemu (a separate process, over TLS); a revoked key is refused at once. On
SQLite the serve process runs the writes itself; on PostgreSQL it enqueues them and `calsync worker` runs
them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.calsync.emulated import BIN, Emulator, calsync_env, emulator_process
from tests.calsync.test_serve import free_port

pytestmark = pytest.mark.slow

MAILBOX = "grace@serve.example"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with emulator_process(tmp_path, [MAILBOX]) as emu:
        yield emu


def run(workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "calsync"), *args], env=calsync_env(workdir), capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def start(workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    with (workdir / f"{args[0]}.log").open("ab") as log:
        return subprocess.Popen(
            [str(BIN / "calsync"), *args], env=calsync_env(workdir), stdout=log, stderr=subprocess.STDOUT
        )


def wait(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def subjects(emulator: Emulator) -> list[str]:
    events = emulator.control.get(f"/_emu/events/{MAILBOX}").json()["value"]
    return sorted(e["props"]["subject"] for e in events)


def drive(emulator: Emulator, workdir: Path, port: int) -> None:
    made = json.loads(run(workdir, "api-keys", "create", "timetable", "--scope", "read", "--scope", "write",
                          "--json"))  # fmt: skip
    key = made["key"]
    listed = run(workdir, "api-keys", "list", "--json")
    assert key not in listed
    assert json.loads(listed)[0]["id"] == made["id"]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as api:
        _client_app(emulator, workdir, api, made["id"])
    assert (httpx.get(f"http://127.0.0.1:{port}/docs")).status_code == 200


def _client_app(emulator: Emulator, workdir: Path, api: httpx.Client, key_id: str) -> None:

    def up() -> bool:
        try:
            return api.get("/v1/profiles").status_code == 200
        except httpx.TransportError:
            return False

    wait("the API", up)
    (profile,) = api.get("/v1/profiles").json()["profiles"]
    assert profile["profile_name"] == MAILBOX
    calendar = next(c for c in api.get("/v1/calendars").json()["calendars"] if c["calendar_primary"])
    url = f"/v1/calendars/{calendar['calendar_id']}/events"
    body = {"event_id": "exam-1", "summary": "Exam", "start": "2027-01-11T09:00:00Z",
            "end": "2027-01-11T11:00:00Z", "conferencing": {"profile_id": "default"}}  # fmt: skip
    assert api.post(url, json=body).status_code == 202
    wait("the event in Graph", lambda: subjects(emulator) == ["Exam"])
    assert api.post(url, json={**body, "summary": "Exam (room 2)"}).status_code == 202
    wait("the update in Graph", lambda: subjects(emulator) == ["Exam (room 2)"])
    assert api.request("DELETE", url, json={"event_id": "exam-1"}).status_code == 202
    wait("the event gone", lambda: subjects(emulator) == [])
    run(workdir, "api-keys", "revoke", key_id)
    wait("the revoked key refused", lambda: api.get("/v1/calendars").status_code == 401, seconds=30)
    refused = api.get("/v1/calendars")
    assert refused.status_code == 401
    assert refused.json()["errors"]["authorization"][0]["key"] == "errors.unauthorized"


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_serve_on_sqlite(emulator: Emulator, tmp_path: Path) -> None:
    emulator.write_config(tmp_path, [MAILBOX], f'ics_file = "{tmp_path / "empty.ics"}"\n')
    (tmp_path / "empty.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
    )
    port = free_port()
    serve = start(tmp_path, "serve", "--port", str(port))
    try:
        drive(emulator, tmp_path, port)
    finally:
        stop(serve)


@pytest.mark.postgres
def test_serve_and_worker_on_postgresql(
    emulator: Emulator, tmp_path: Path, pg_schema_factory: Callable[[], URL]
) -> None:
    url = pg_schema_factory().render_as_string(hide_password=False)
    (tmp_path / "empty.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
    )
    emulator.write_config(
        tmp_path, [MAILBOX], f'ics_file = "{tmp_path / "empty.ics"}"\ndatabase_url = "{url}"\n'
    )
    run(tmp_path, "db", "upgrade")
    port = free_port()
    serve = start(tmp_path, "serve", "--port", str(port))
    worker = start(tmp_path, "worker")
    try:
        drive(emulator, tmp_path, port)
    finally:
        stop(serve)
        stop(worker)
