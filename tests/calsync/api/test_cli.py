"""`calsync api-keys`: create shows the key once (--json too), list never shows it, revoke is idempotent,
and mistakes are errors with their exit code and a clear text."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from calsync.cli.main import app

runner = CliRunner()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "calsync.toml"
    path.write_text(f'database_url = "sqlite:///{tmp_path / "state.db"}"\n')
    return path


def test_create_list_revoke(tmp_path: Path) -> None:
    config = ["--config", str(_config(tmp_path))]
    made = runner.invoke(app, [*config, "api-keys", "create", "lms", "--scope", "read", "--json"])
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)
    assert key["key"].startswith(f"csk_{key['id']}_")
    assert key["scopes"] == ["read"]
    human = runner.invoke(app, [*config, "api-keys", "create", "timetable"])
    assert human.exit_code == 0
    assert "not shown again" in human.stdout
    listed = runner.invoke(app, [*config, "api-keys", "list", "--json"])
    assert key["key"] not in listed.stdout
    assert [k["name"] for k in json.loads(listed.stdout)] == ["lms", "timetable"]
    for _ in range(2):
        revoked = runner.invoke(app, [*config, "api-keys", "revoke", key["id"], "--json"])
        assert revoked.exit_code == 0, revoked.output
        assert json.loads(revoked.stdout)["revoked"] is not None
    text = runner.invoke(app, [*config, "api-keys", "list"])
    assert "revoked" in text.stdout


def test_mistakes_are_clear_errors(tmp_path: Path) -> None:
    config = ["--config", str(_config(tmp_path))]
    bad = runner.invoke(app, [*config, "api-keys", "create", "x", "--scope", "delete", "--json"])
    assert bad.exit_code == 2
    assert "unknown scope delete" in json.loads(bad.stdout)["error"]["message"]
    unknown = runner.invoke(app, [*config, "api-keys", "revoke", "nosuchkey0"])
    assert unknown.exit_code == 2
    assert "no API key" in unknown.output
