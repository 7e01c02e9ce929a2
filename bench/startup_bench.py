"""How long the `calsync` command takes to start (issues 8 and 12): help texts, `status`, a small `sync`.

    PYTHONPATH=src .venv/bin/python bench/startup_bench.py [--repeat 10] [--top 15] [--no-sync] [--src DIR]
                                                           [--json]

Each command below runs `--repeat` times as a subprocess of the same interpreter (rounds interleave the
commands, so a slow moment of the machine is shared rather than landing on one of them; one unmeasured
warm-up run each first, which also writes the bytecode caches):

- `python -c pass`: the interpreter's own start, the floor;
- `calsync --help`, `calsync sync --help`, `calsync graph --help`: Typer's help, no settings read;
- `calsync status`: settings read from a calsync.toml written to a temporary directory, the SQLite state
  database beside it (created by the migrations, with a few recorded runs and a quarantined item) opened
  without migrating, the table printed; no Graph client, no credential;
- `calsync sync` (1 x 10 CSV; issue 12; left out with `--no-sync`): one mailbox's 10 events from a CSV
  export into an empty calendar of graphemu (`graphemu serve` in its own process, TLS, no added latency),
  signed in with a client secret, SQLite state: every run syncs a mailbox of its own (its calsync.toml
  names it and its CSV file), all into one database that the warm-up run migrated, so each measured run
  is a first sync of 10 events without the migrations.

`calsync` is run as its console script does (`from calsync.cli.main import app; app()`), through
`python -c`, with this checkout's `src` (or `--src`) first on PYTHONPATH, no CALSYNC_* variables and
bytecode caches allowed (PYTHONDONTWRITEBYTECODE unset: an installed calsync runs from .pyc files), so
the figures are that code's whatever the virtualenv has installed. Every run must exit 0. Each process
writes, as it exits, how many modules it loaded and its peak RSS (VmHWM; `ru_maxrss` would count the RSS
of this process at the fork).

Prints median, min and max wall time per command and the median's difference to `python -c pass` (the
issue's target: within 0.3 s), and the median CPU time (user + system, from the children's rusage) and
its difference, the median peak RSS and the modules loaded: on a busy machine the wall times spread, the
CPU times much less. Then the imports of
`calsync --help` that take longest, by cumulative time, from `python -X importtime` (one run, after the
timed ones); then one JSON line (`{"bench": "startup", ...}`) with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # set up the database with this checkout's calsync, as measured
sys.path.insert(0, str(ROOT / "bench"))

import peer_bench  # noqa: E402  # graphemu started as peer_bench starts it
import sync_bench  # noqa: E402  # its tenant, mailbox names and CSV export

from calsync.domain import SourceKey  # noqa: E402
from calsync.store import SqlStateStore, make_engine, upgrade  # noqa: E402
from calsync.sync.ports import Quarantined, RunReport  # noqa: E402

# Every process run writes "<modules loaded> <peak RSS in KiB>" to the file named by its first argument as
# it exits (atexit: after the command, before the interpreter's shutdown).
REPORT = (
    "import atexit, sys\n"
    "report = sys.argv.pop(1)\n"
    "def _report():\n"
    "    with open('/proc/self/status') as s:\n"
    "        peak = next(line.split()[1] for line in s if line.startswith('VmHWM:'))\n"
    "    with open(report, 'w') as f:\n"
    "        f.write(f'{len(sys.modules)} {peak}')\n"
    "atexit.register(_report)\n"
)
ENTRY = REPORT + "from calsync.cli.main import app; sys.argv[0] = 'calsync'; sys.exit(app())"
MAILBOXES = ("ada@example.org", "grace@example.org", "alan@example.org")
SYNC = "calsync sync (1 x 10 CSV)"
SYNC_EVENTS = 10


def environment(src: Path) -> dict[str, str]:
    """`src` first on PYTHONPATH; no CALSYNC_* variable (they would change what status reads); bytecode
    caches written and read, as an installed calsync's are."""
    skip = ("CALSYNC_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    paths = [str(src), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def make_state(workdir: Path) -> Path:
    """A calsync.toml and its SQLite database with four runs per mailbox (one failed) and one quarantined
    item: what `calsync status` reads. Returns the calsync.toml."""
    database = f"sqlite:///{workdir / 'state.db'}"
    engine = make_engine(database)
    try:
        upgrade(engine)
        store = SqlStateStore(engine)
        start = datetime.now(UTC) - timedelta(hours=4)
        for i in range(4):
            for mailbox in MAILBOXES:
                began = start + timedelta(hours=i)
                failed = mailbox == MAILBOXES[1] and i == 3
                store.record_run(
                    RunReport(
                        mailbox,
                        began,
                        began + timedelta(seconds=3),
                        status="failed" if failed else "ok",
                        created=10 if i == 0 else 0,
                        unchanged=0 if i == 0 else 10,
                        error_code="SourceUnavailable" if failed else None,
                    )
                )
        store.put_quarantine(Quarantined(MAILBOXES[2], SourceKey("lesson-17"), "BadRequest", "no subject", 3))
    finally:
        engine.dispose()
    config = workdir / "calsync.toml"
    config.write_text(f'[calsync]\ndatabase_url = "{database}"\n', encoding="utf-8")
    return config


Argv = Callable[[int], list[str]]
"""run number (0 is the warm-up) -> the command line of that run."""


def commands(python: str, workdir: Path, config: Path, sync: SyncSetup | None) -> dict[str, Argv]:
    report = str(workdir / "report.txt")
    calsync = [python, "-c", ENTRY, report]
    runs: dict[str, Argv] = {
        "python -c pass": lambda _: [python, "-c", REPORT + "pass", report],
        "calsync --help": lambda _: [*calsync, "--help"],
        "calsync sync --help": lambda _: [*calsync, "sync", "--help"],
        "calsync status": lambda _: [*calsync, "--config", str(config), "status"],
        "calsync graph --help": lambda _: [*calsync, "graph", "--help"],
    }
    if sync is not None:
        runs[SYNC] = lambda i: [*calsync, "--config", str(sync.config(i)), "sync", "--json"]
    return runs


@dataclass
class Run:
    wall: float
    cpu: float  # user + system
    modules: int
    peak_mib: float


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    """One run: wall and CPU seconds, modules loaded and peak RSS; a non-zero exit stops the bench (a
    broken command is not fast)."""
    report = Path(argv[3])
    report.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{argv[4:]} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    modules, peak_kib = report.read_text().split()
    return Run(elapsed, cpu, int(modules), int(peak_kib) / 1024)


@dataclass
class SyncSetup:
    """graphemu with a tenant of `mailboxes` users and an app that signs in with a client secret, and per
    run a CSV export of one mailbox's events and a calsync.toml naming that mailbox (one SQLite database
    for all)."""

    folder: Path
    server: subprocess.Popen[bytes]
    info: dict[str, Any]

    @classmethod
    def start(cls, folder: Path, mailboxes: int) -> SyncSetup:
        secret = secrets.token_urlsafe(30)
        (folder / "secret.txt").write_text(secret, encoding="utf-8")
        server, info = peer_bench.start_graphemu(folder, mailboxes, secret, 0.0)
        return cls(folder, server, info)

    def config(self, run: int) -> Path:
        mailbox = sync_bench.upn(run)
        csv_file = self.folder / f"sync-{run}.csv"
        sync_bench.write_csv(csv_file, 1, SYNC_EVENTS)
        csv_file.write_text(csv_file.read_text(encoding="utf-8").replace(sync_bench.upn(0), mailbox))
        path = self.folder / f"sync-{run}.toml"
        info = self.info
        path.write_text(
            f'tenant_id = "{sync_bench.TENANT}"\nclient_id = "{sync_bench.CLIENT}"\n'
            f'client_secret_file = "{self.folder / "secret.txt"}"\nauthority_host = "{info["login"]}"\n'
            f'graph_url = "{info["graph"]}"\nca_file = "{info["ca"]}"\n'
            f'database_url = "sqlite:///{self.folder / "sync.db"}"\nmailboxes = ["{mailbox}"]\n'
            f'csv_file = "{csv_file}"\nwindow_days_back = 3650\nwindow_days_ahead = 3650\n',
            encoding="utf-8",
        )
        return path

    def stop(self) -> None:
        self.server.kill()
        self.server.wait()


def check_sync(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """A measured `calsync sync` must have created its mailbox's events (a failed sign-in is not fast)."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False, text=True)
    created = [r.get("created") for r in json.loads(done.stdout or "[]")] if done.returncode == 0 else None
    if created != [SYNC_EVENTS]:
        sys.exit(f"calsync sync exited {done.returncode}, created {created}:\n{done.stdout}{done.stderr}")


def check_status(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """`calsync status` must have read the runs (not an empty or a new database)."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False, text=True)
    if done.returncode != 0:
        sys.exit(f"calsync status exited {done.returncode}:\n{done.stdout}{done.stderr}")
    out = done.stdout
    missing = [m for m in MAILBOXES if m not in out]
    if missing:
        sys.exit(f"calsync status did not list {missing}:\n{out}")


def import_times(argv: list[str], env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """`python -X importtime` of one run: each import's self and cumulative microseconds and its depth
    (the nesting of the tree Python prints), in the order printed."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=cwd, capture_output=True, check=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append({"module": name.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us),
                     "depth": depth})  # fmt: skip
    return rows


def measure(args: argparse.Namespace) -> dict[str, Any]:
    env = environment(args.src)
    with tempfile.TemporaryDirectory(prefix="calsync-startup-") as tmp:
        workdir = Path(tmp)
        sync = None if args.no_sync else SyncSetup.start(workdir, args.repeat + 2)
        try:
            runs = commands(args.python, workdir, make_state(workdir), sync)
            check_status(runs["calsync status"](0), env, workdir)
            for argv in runs.values():
                run_once(argv(0), env, workdir)  # warm-up: bytecode caches, page cache; sync: migrations
            if sync is not None:
                check_sync(runs[SYNC](1), env, workdir)  # mailbox 1 is not measured either
            measured: dict[str, list[Run]] = {name: [] for name in runs}
            for i in range(args.repeat):
                for name, argv in runs.items():
                    measured[name].append(run_once(argv(i + 2), env, workdir))
            imports = import_times(runs["calsync --help"](0), env, workdir)
        finally:
            if sync is not None:
                sync.stop()
    times = {name: [r.wall for r in rs] for name, rs in measured.items()}
    cpus = {name: [r.cpu for r in rs] for name, rs in measured.items()}
    floor = statistics.median(times["python -c pass"])
    cpu_floor = statistics.median(cpus["python -c pass"])
    figures = {
        name: {
            "median_s": statistics.median(t),
            "min_s": min(t),
            "max_s": max(t),
            "over_python_s": statistics.median(t) - floor,
            "cpu_median_s": statistics.median(cpus[name]),
            "cpu_over_python_s": statistics.median(cpus[name]) - cpu_floor,
            "peak_rss_mib": statistics.median(r.peak_mib for r in measured[name]),
            "modules": statistics.median(r.modules for r in measured[name]),
        }
        for name, t in times.items()
    }
    top = sorted(imports, key=lambda r: r["cumulative_us"], reverse=True)[: args.top]
    return {"bench": "startup", "repeat": args.repeat, "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "src": str(args.src),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3], "commands": figures,
            "help_imports": top, "help_modules_imported": len(imports)}  # fmt: skip


def report(result: dict[str, Any]) -> None:
    head = (f"{'command':<27}{'median':>9}{'min':>9}{'max':>9}{'- python':>10}{'cpu':>9}{'- python':>10}"
            f"{'peak MiB':>10}{'modules':>9}")  # fmt: skip
    print(f"{head}   (seconds, {result['repeat']} runs; cpu: user + system; medians)")
    for name, f in result["commands"].items():
        first = name == "python -c pass"
        over = "" if first else f"{f['over_python_s']:+10.3f}"
        cpu_over = "" if first else f"{f['cpu_over_python_s']:+10.3f}"
        memory = f"{f['peak_rss_mib']:10.1f}{f['modules']:9.0f}"
        print(f"{name:<27}{f['median_s']:9.3f}{f['min_s']:9.3f}{f['max_s']:9.3f}{over:>10}"
              f"{f['cpu_median_s']:9.3f}{cpu_over:>10}{memory}")  # fmt: skip
    print(f"load average (1, 5, 15 min) at the end: {' '.join(result['loadavg'])}")
    print(f"\n`calsync --help`: {result['help_modules_imported']} imports; the longest by cumulative time")
    print(f"{'cumulative ms':>14}{'self ms':>9}  module")
    for row in result["help_imports"]:
        indent = "  " * row["depth"]
        print(f"{row['cumulative_us'] / 1000:14.1f}{row['self_us'] / 1000:9.1f}  {indent}{row['module']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--top", type=int, default=15, help="imports of `calsync --help` to list")
    parser.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    parser.add_argument(
        "--src",
        type=Path,
        default=ROOT / "src",
        help="the calsync to measure: a checkout's src folder (default: this checkout's)",
    )
    parser.add_argument("--no-sync", action="store_true", help="leave out `calsync sync` (and graphemu)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    result = measure(args)
    if not args.json:
        report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
