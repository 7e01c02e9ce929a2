"""`calsync channels list|delete|deliveries` for operators, through the real CLI on a real database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from calsync.cli.main import app
from calsync.services import open_deployment, push
from tests.calsync.push.conftest import push_settings

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "calsync.toml"
    path.write_text(f'database_url = "sqlite:///{tmp_path / "state.db"}"\n')
    monkeypatch.setenv("CALSYNC_TOKEN_KEYS", Fernet.generate_key().decode())
    return path


def cli(config: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout


def test_operators_list_and_delete_channels_and_see_deliveries(config: Path, tmp_path: Path) -> None:
    settings = push_settings(f"sqlite:///{tmp_path / 'state.db'}")

    async def setup() -> push.NewChannel:
        async with open_deployment(settings) as deployment:
            made = await push.create_channel(
                deployment, owner="key1", callback_url="http://127.0.0.1:9/hook?token=s3cret-token"
            )
            await push.publish(deployment, "sync.failed", {"error_code": "x"}, profile_id="pro_x")
            return made

    made = asyncio.run(setup())
    code, out = cli(config, "channels", "list", "--json")
    assert code == 0, out
    (listed,) = json.loads(out)
    assert (listed["channel_id"], listed["owner"], listed["status"]) == (made.channel.id, "key1", "active")
    assert "s3cret-token" not in out
    assert made.secret not in out
    code, out = cli(config, "channels", "deliveries", "--json")
    assert code == 0, out
    assert [(d["type"], d["state"], d["attempts"]) for d in json.loads(out)] == [
        ("sync.failed", "pending", 0)
    ]
    code, out = cli(config, "channels", "list")
    assert made.channel.id in out
    assert "s3cret-token" not in out
    code, out = cli(config, "channels", "delete", made.channel.id)
    assert (code, out.strip()) == (0, f"Channel {made.channel.id} deleted.")
    assert json.loads(cli(config, "channels", "list", "--json")[1]) == []
    assert json.loads(cli(config, "channels", "deliveries", "--json")[1]) == []
    code, out = cli(config, "channels", "delete", made.channel.id, "--json")
    assert code == 2
    assert json.loads(out)["error"]["type"] == "ChannelNotFound"
