"""`calsync demo` end to end on a small tenant: two syncs, a user's delete repaired, foreign events kept."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from calsync.cli.main import app

runner = CliRunner()


def calsync_version() -> str:
    return version("calsync")


def test_demo_runs_and_leaves_a_readable_database(tmp_path: Path) -> None:
    """The demo syncs, changes the term, repairs a deleted lecture, and `status` reads its database.

    Each course is one series (`recurrence = "series"`, the default): the student's deleted lecture is
    one occurrence, which the second run puts back by updating its series, creating nothing."""
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path), "--students", "12", "--staff", "2"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    second = re.search(r"Second run: (\d+) created, (\d+) updated, (\d+) deleted \(([^)]*)\)", output)
    assert second is not None, output
    created, deleted, repaired = int(second.group(1)), int(second.group(3)), second.group(4)
    assert (created, deleted, repaired) == (0, 0, "the deleted lecture is back")
    assert "appointments calsync did not create are untouched" in output
    assert "mailbox_not_enabled" in output  # the unlicensed student is reported, not retried forever
    status = runner.invoke(app, ["--config", str(tmp_path / "calsync.toml"), "status", "--json"])
    rows = json.loads(status.stdout)
    assert len(rows) == 15  # 12 students, 2 lecturers, 1 without a mailbox
    assert sum(r["status"] == "ok" for r in rows) == 14


@pytest.mark.slow
def test_demo_serve_leaves_the_service_running_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`calsync demo --serve` prints its URLs; /readyz and /metrics answer; a user's edit in graphemu is
    put right through a Graph change notification; SIGTERM ends it with 0."""
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "calsync"), "demo", "--dir", str(tmp_path / "demo"),
             "--students", "12", "--staff", "2", "--serve", "--port", "0"],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not re.search(r"metrics +(http://\S+)/metrics", out.read_text()):
            assert process.poll() is None, out.read_text()
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not start: {out.read_text()}")
            time.sleep(0.1)
        found = re.search(r"metrics +(http://\S+)/metrics", out.read_text())
        assert found is not None
        base = found.group(1)
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
        samples = {
            (s.name, tuple(s.labels.items())): s.value
            for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
            for s in family.samples
        }
        assert samples[("calsync_build_info", (("version", calsync_version()),))] == 1
        # the demo's two syncs ran in this process: 14 mailboxes ok and 1 without a mailbox, twice
        assert samples[("calsync_runs_total", (("status", "ok"),))] >= 28
        assert samples[("calsync_runs_total", (("status", "not_applicable"),))] >= 2
        # a user's edit in graphemu, put right through a change notification
        while "put right by calsync" not in out.read_text():
            assert "not put right" not in out.read_text(), out.read_text()
            if time.monotonic() > deadline:
                pytest.fail(f"the edit was not put right: {out.read_text()}")
            time.sleep(0.1)

        def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            return {
                (s.name, tuple(s.labels.items())): s.value
                for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
                for s in family.samples
            }

        assert scraped()[("calsync_graph_notifications_total", (("outcome", "change"),))] >= 1
        # every mailbox subscribed; the person without a mailbox cannot be (Graph refuses: "failed")
        while scraped()[("calsync_graph_subscriptions", (("status", "active"),))] < 14:
            if time.monotonic() > deadline:
                pytest.fail(f"not every mailbox was subscribed: {scraped()}")
            time.sleep(0.1)
        assert scraped()[("calsync_graph_subscriptions", (("status", "failed"),))] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0, out.read_text()[-2000:]
