"""The command line starts without the packages it does not use (issue 8; bench/startup_bench.py times it).

Each case runs in a fresh interpreter and reads `sys.modules` afterwards: what a command imports is a
fact of the code, unlike its start-up time, so these tests do not flake on a busy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import calsync
from calsync.store import SqlStateStore, make_engine, upgrade
from calsync.sync.ports import RunReport
from tests.calsync.cli.conftest import ADA, CLIENT, SECRET, TENANT, Emulator

# Runs `calsync ARGS` as the console script does, then writes which of the WATCHED modules are loaded.
SCRIPT = """
import json, sys
watched, out, argv = sys.argv[1].split(","), sys.argv[2], sys.argv[3:]
code = None
if argv != ["--import-only"]:
    from calsync.cli.main import app
    try:
        app(argv, prog_name="calsync")
    except SystemExit as exc:
        code = exc.code
else:
    import calsync.cli.main
with open(out, "w") as f:
    json.dump({"exit": code, "loaded": sorted(m for m in watched if m in sys.modules)}, f)
"""

GRAPH = ["msal", "httpx", "cryptography", "calsync.graph", "calsync.certs", "calsync.adapters"]
SOURCES = ["icalendar", "calsync.sources", "graphemu"]
STORE = ["sqlalchemy", "alembic", "calsync.store", "calsync.services.deployment"]
SETTINGS = ["calsync.settings", "structlog", "calsync.logs"]
# What a sync from a CSV export, signed in with a client secret, has no use for (issue 12): the iCalendar
# readers and their parser; push channels and deliveries (a run only publishes to the outbox); cryptography,
# which only a certificate credential (or a key ring) needs.
NOT_FOR_A_CSV_SYNC = [
    *("icalendar", "dateutil", "calsync.sources.ics", "calsync.sources.feeds"),
    *("calsync.services.push.channels", "calsync.services.push.delivery", "standardwebhooks"),
    *("calsync.services.secretbox", "cryptography"),
]


def python(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python *args` in a new interpreter that imports the same calsync as these tests, without the
    environment's CALSYNC_* variables."""
    src = str(Path(calsync.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    command = [sys.executable, *args]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def loaded_after(tmp_path: Path, watched: list[str], *argv: str, exit_code: int = 0) -> tuple[list[str], str]:
    """The `watched` modules loaded once `calsync *argv` has run (exiting `exit_code`), and its stdout."""
    out = tmp_path / "modules.json"
    done = python(tmp_path, "-c", SCRIPT, ",".join(watched), str(out), *argv)
    result = json.loads(out.read_text())
    assert (result["exit"] or 0) == exit_code, done.stdout + done.stderr
    loaded: list[str] = result["loaded"]
    return loaded, done.stdout


def test_importing_the_cli_loads_no_graph_store_settings_or_sources(tmp_path: Path) -> None:
    watched = [*GRAPH, *SOURCES, *STORE, *SETTINGS, "calsync.wiring", "calsync.services.syncing"]
    assert loaded_after(tmp_path, watched, "--import-only") == ([], "")


@pytest.mark.parametrize("argv", [["--help"], ["sync", "--help"], ["graph", "--help"], ["status", "--help"]])
def test_help_loads_no_graph_store_settings_or_sources(tmp_path: Path, argv: list[str]) -> None:
    loaded, out = loaded_after(tmp_path, [*GRAPH, *SOURCES, *STORE, *SETTINGS], *argv)
    assert loaded == []
    assert "Usage: calsync" in out


def test_a_usage_error_under_json_loads_no_graph_or_settings(tmp_path: Path) -> None:
    """The JSON error document of a bad command line is rendered without the renderings of Graph's and
    the settings' errors (calsync.cli.errortext), which would import both."""
    watched = [*GRAPH, *SETTINGS, "calsync.cli.errortext"]
    loaded, out = loaded_after(tmp_path, watched, "status", "--no-such-option", "--json", exit_code=2)
    assert loaded == []
    assert json.loads(out)["error"]["exit_code"] == 2


def test_status_reads_the_store_without_graph_sources_or_migrations(tmp_path: Path) -> None:
    """`calsync status` opens SQLite without migrating: no Alembic, no Graph client, no feed parser."""
    database = f"sqlite:///{tmp_path / 'state.db'}"
    engine = make_engine(database)
    upgrade(engine)
    SqlStateStore(engine).record_run(RunReport("ada@example.org", datetime(2026, 3, 2, 8, tzinfo=UTC)))
    engine.dispose()
    config = tmp_path / "calsync.toml"
    config.write_text(f'database_url = "{database}"\n', encoding="utf-8")

    argv = ["--config", str(config), "status", "--json"]
    loaded, out = loaded_after(tmp_path, [*GRAPH, *SOURCES, *STORE], *argv)

    assert loaded == ["calsync.services.deployment", "calsync.store", "sqlalchemy"]
    assert [s["mailbox"] for s in json.loads(out)] == ["ada@example.org"]


def test_a_csv_sync_with_a_secret_loads_only_what_it_uses(tmp_path: Path, emulator: Emulator) -> None:
    """`calsync sync` of a CSV export (issue 12): what it needs is loaded, what only other sources, other
    credentials or other commands use is not."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    export = tmp_path / "timetable.csv"
    rows = [f"{ADA},l{i},Lesson {i},2026-10-0{i + 1}T09:00,2026-10-0{i + 1}T10:00,UTC\n" for i in range(3)]
    export.write_text("mailbox,source_id,subject,start,end,time_zone\n" + "".join(rows), encoding="utf-8")
    info = emulator.info
    config = tmp_path / "calsync.toml"
    config.write_text(
        f'tenant_id = "{TENANT}"\nclient_id = "{CLIENT}"\nclient_secret_file = "{secret}"\n'
        f'authority_host = "{info.base_url}"\ngraph_url = "{info.graph}"\nca_file = "{info.ca}"\n'
        f'database_url = "sqlite:///{tmp_path / "state.db"}"\nmailboxes = ["{ADA}"]\ncsv_file = "{export}"\n'
        "window_days_back = 3650\nwindow_days_ahead = 3650\n",
        encoding="utf-8",
    )

    needed = ["calsync.services.push.publish", "calsync.sources.tabular_index", "msal", "sqlalchemy"]
    argv = ["--config", str(config), "sync", "--json"]
    loaded, out = loaded_after(tmp_path, [*NOT_FOR_A_CSV_SYNC, *needed], *argv)

    assert loaded == needed
    [report] = json.loads(out)
    assert (report["mailbox"], report["status"], report["created"]) == (ADA, "ok", 3)


def test_services_status_is_the_function_even_when_its_module_is_imported_first(tmp_path: Path) -> None:
    """calsync.services imports most names on first use; `status`, also the name of its module, must not
    turn into that module when `calsync.services.status` is imported before the package's attribute is read
    (a first import of a submodule sets the package's attribute to the module)."""
    code = (
        "import sys\n"
        "import calsync.services.status\n"
        "from calsync import services\n"
        "assert services.status is sys.modules['calsync.services.status'].status, services.status\n"
        "assert services.sync_mailboxes.__module__ == 'calsync.services.syncing'\n"
    )
    python(tmp_path, "-c", code)
