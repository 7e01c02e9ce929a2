"""Serving over real sockets: TLS from the generated CA, advertised URLs, dropped connections, the CLI."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphemu import EmulatorConfig, World, world_from_seed
from graphemu.seed import load_seed
from graphemu.server import BackgroundServer, ServerInfo
from tests.graphemu.conftest import SEED, mint

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SEED = ROOT / "examples" / "graphemu-seed.json"
ADELE = "adele@contoso.onmicrosoft.com"
EVENT = {
    "subject": "Dropped answer",
    "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[BackgroundServer]:
    running = BackgroundServer(world_from_seed(SEED), EmulatorConfig(), port=0, tls_dir=tmp_path / "tls")
    running.start()
    yield running
    running.stop()


def trusting(info: ServerInfo, **kwargs: Any) -> httpx.Client:
    """An httpx client that trusts only the emulator's CA (no environment, no system store)."""
    assert info.ca is not None
    return httpx.Client(verify=ssl.create_default_context(cafile=info.ca), trust_env=False, **kwargs)


def authorized(server: BackgroundServer, **kwargs: Any) -> httpx.Client:
    token = mint(server.app)
    return trusting(server.info, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def test_tls_server_answers_401_in_graph_shape(server: BackgroundServer) -> None:
    """A token-less request over TLS, trusted through the generated CA, gets Graph's 401 error shape."""
    info = server.info
    assert info.base_url == f"https://127.0.0.1:{info.port}"
    assert info.port != 0
    with trusting(info) as client:
        response = client.get(f"{info.graph}/users", headers={"client-request-id": "tls-1"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["innerError"]["client-request-id"] == "tls-1"
    assert response.headers["request-id"] == error["innerError"]["request-id"]
    assert "www-authenticate" in response.headers


def test_untrusted_client_is_refused(server: BackgroundServer) -> None:
    """Without the emulator's CA the TLS handshake fails: the certificate really is private."""
    with (
        httpx.Client(verify=ssl.create_default_context(), trust_env=False) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get(f"{server.info.graph}/users")


def test_advertised_urls_point_back_to_the_server(server: BackgroundServer) -> None:
    """config.base_url is the bound https://host:port, so nextLinks lead back to this server."""
    assert server.app.state.config.base_url == server.info.base_url
    assert server.app.state.config.login_base_url == server.info.base_url
    with authorized(server) as client:
        first = client.get(f"{server.info.graph}/users", params={"$top": "2"}).json()
        assert first["@odata.nextLink"].startswith(f"{server.info.graph}/users?")
        second = client.get(first["@odata.nextLink"])
    assert second.status_code == 200
    assert len(second.json()["value"]) == 2


def test_commit_then_drop_reset_drops_the_connection_after_the_write(server: BackgroundServer) -> None:
    """A reset drop surfaces as httpx.RemoteProtocolError while the event is created all the same."""
    world: World = server.app.state.world
    adele = world.find_user(ADELE)
    assert adele is not None
    faults = server.app.state.config.faults
    faults.commit_then_drop_rate, faults.commit_then_drop_mode = 1.0, "reset"
    with authorized(server) as client, pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{server.info.graph}/users/{ADELE}/events", json=EVENT)
    assert [e.props.get("subject") for e in world.events[adele.id].values()] == ["Dropped answer"]
    assert world.counters.commit_then_drop == 1
    faults.commit_then_drop_rate = 0.0
    with authorized(server) as client:
        assert client.get(f"{server.info.graph}/users/{ADELE}").status_code == 200


def test_commit_then_drop_timeout_hangs_until_the_client_gives_up(server: BackgroundServer) -> None:
    """A timeout drop sends the head and then nothing, so the client's read timeout fires.

    The server ends its hang by aborting the connection, which the client would see as
    `RemoteProtocolError` (an incomplete body); a `ReadTimeout` therefore shows that the client's 0.5 s
    read timeout fired while the server was still hanging (for 5 s), with no clock read by the test."""
    faults = server.app.state.config.faults
    faults.commit_then_drop_rate, faults.commit_then_drop_mode = 1.0, "timeout"
    faults.commit_then_drop_methods, faults.timeout_hang_seconds = ("GET",), 5.0
    with authorized(server, timeout=httpx.Timeout(5.0, read=0.5)) as client, pytest.raises(httpx.ReadTimeout):
        client.get(f"{server.info.graph}/users")
    assert server.app.state.world.counters.commit_then_drop == 1


def test_batch_drop_loses_the_whole_batch(server: BackgroundServer) -> None:
    """A drop inside a $batch resets the connection for the whole batch."""
    faults = server.app.state.config.faults
    faults.commit_then_drop_rate, faults.commit_then_drop_methods = 1.0, ("GET",)
    batch = {"requests": [{"id": "1", "method": "GET", "url": "/users"}]}
    with authorized(server) as client, pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{server.info.graph}/$batch", json=batch)


def test_plain_http_and_ready_file(tmp_path: Path) -> None:
    """--http serves plain HTTP on the bound port and the ready file reports where."""
    ready = tmp_path / "ready.json"
    running = BackgroundServer(
        world_from_seed(SEED), EmulatorConfig(), port=0, tls_dir=None, ready_file=ready
    )
    info = running.start()
    try:
        data = json.loads(ready.read_text())
        assert data == {
            "port": info.port,
            "ca": None,
            "graph": f"http://127.0.0.1:{info.port}/v1.0",
            "login": f"http://127.0.0.1:{info.port}",
            "base": f"http://127.0.0.1:{info.port}",
        }
        response = httpx.get(f"{data['graph']}/users", trust_env=False)
        assert response.status_code == 401
    finally:
        running.stop()


def test_example_seed_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/graphemu-seed.json is a valid seed once GRAPHEMU_DEMO_SECRET is set."""
    monkeypatch.setenv("GRAPHEMU_DEMO_SECRET", "demo-secret")
    world = load_seed(EXAMPLE_SEED)
    assert len(world.tenants) == 1
    assert len(world.users) == 5
    assert sum(not u.has_mailbox for u in world.users.values()) == 1
    group = next(iter(world.groups.values()))
    assert (group.mail_enabled, group.security_enabled, group.group_types) == (True, True, [])
    assert [p.group_id for p in world.policies] == [group.id]
    app = next(iter(world.apps.values()))
    assert app.secrets[0].value == "demo-secret"


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return dict(json.loads(path.read_text()))
        if process.poll() is not None:
            raise AssertionError(f"graphemu exited early: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("graphemu did not become ready")


@pytest.mark.slow
def test_cli_serves_prints_hints_and_snapshots_on_shutdown(tmp_path: Path) -> None:
    """`python -m graphemu serve --port 0` serves TLS, prints CA and hints, and snapshots on SIGINT."""
    ready, snap = tmp_path / "ready.json", tmp_path / "state.json"
    env = {**os.environ, "GRAPHEMU_DEMO_SECRET": "demo-secret", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "graphemu", "serve", "--port", "0", "--seed", str(EXAMPLE_SEED)]
    command += ["--tls-dir", str(tmp_path / "tls"), "--ready-file", str(ready), "--snapshot", str(snap)]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        info = _wait_for(ready, process)
        context = ssl.create_default_context(cafile=info["ca"])
        response = httpx.get(f"{info['graph']}/users", verify=context, trust_env=False)
        assert response.status_code == 401
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert info["ca"] in out
    assert f"curl --cacert {info['ca']}" in out
    assert "trust_env = False" in out
    assert snap.exists()
    assert json.loads(snap.read_text())["format"] == "graphemu-snapshot"


@pytest.mark.slow
def test_cli_restarts_from_its_snapshot(tmp_path: Path) -> None:
    """A second start with --snapshot reuses the saved world, including the token-signing key."""
    from graphemu import snapshot

    snap = tmp_path / "state.json"
    world = world_from_seed(SEED)
    running = BackgroundServer(world, EmulatorConfig(), port=0, tls_dir=tmp_path / "tls")
    running.start()
    token = mint(running.app)
    running.stop()
    snapshot.save(world, snap)
    ready = tmp_path / "ready.json"
    command = [sys.executable, "-m", "graphemu", "serve", "--port", "0", "--http", "--snapshot", str(snap)]
    command += ["--ready-file", str(ready)]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        info = _wait_for(ready, process)
        response = httpx.get(f"{info['graph']}/users/{ADELE}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
