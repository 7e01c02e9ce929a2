"""`calsync demo` end to end on a small tenant: two syncs, a user's delete repaired, foreign events kept."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from calsync.cli.main import app

runner = CliRunner()


def test_demo_runs_and_leaves_a_readable_database(tmp_path: Path) -> None:
    """The demo syncs, changes the term, repairs a deleted lecture, and `status` reads its database."""
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path), "--students", "12", "--staff", "2"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    second = re.search(r"Second run: (\d+) created \(the deleted lecture is back\), (\d+) updated", output)
    assert second is not None, output
    assert int(second.group(1)) == 1
    assert "appointments calsync did not create are untouched" in output
    assert "mailbox_not_enabled" in output  # the unlicensed student is reported, not retried forever
    status = runner.invoke(app, ["--config", str(tmp_path / "calsync.toml"), "status", "--json"])
    rows = json.loads(status.stdout)
    assert len(rows) == 15  # 12 students, 2 lecturers, 1 without a mailbox
    assert sum(r["status"] == "ok" for r in rows) == 14
