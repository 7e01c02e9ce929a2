"""How long the `calsync` command takes to start (issue 8, "Start-up"): help texts and `status`.

    PYTHONPATH=src .venv/bin/python bench/startup_bench.py [--repeat 10] [--top 15] [--json]

Each command below runs `--repeat` times as a subprocess of the same interpreter (rounds interleave the
commands, so a slow moment of the machine is shared rather than landing on one of them; one unmeasured
warm-up run each first, which also writes the bytecode caches):

- `python -c pass`: the interpreter's own start, the floor;
- `calsync --help`, `calsync sync --help`, `calsync graph --help`: Typer's help, no settings read;
- `calsync status`: settings read from a calsync.toml written to a temporary directory, the SQLite state
  database beside it (created by the migrations, with a few recorded runs and a quarantined item) opened
  without migrating, the table printed; no Graph client, no credential.

`calsync` is run as its console script does (`from calsync.cli.main import app; app()`), through
`python -c`, with this checkout's `src` first on PYTHONPATH and no CALSYNC_* variables, so the figures
are this checkout's code whatever the virtualenv has installed. Every run must exit 0.

Prints median, min and max wall time per command and the median's difference to `python -c pass` (the
issue's target: within 0.3 s), and the median CPU time (user + system, from the children's rusage) and
its difference: on a busy machine the wall times spread, the CPU times much less. Then the imports of
`calsync --help` that take longest, by cumulative time, from `python -X importtime` (one run, after the
timed ones); then one JSON line (`{"bench": "startup", ...}`) with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # set up the database with this checkout's calsync, as measured

from calsync.domain import SourceKey  # noqa: E402
from calsync.store import SqlStateStore, make_engine, upgrade  # noqa: E402
from calsync.sync.ports import Quarantined, RunReport  # noqa: E402

ENTRY = "import sys; from calsync.cli.main import app; sys.argv[0] = 'calsync'; sys.exit(app())"
MAILBOXES = ("ada@example.org", "grace@example.org", "alan@example.org")


def environment() -> dict[str, str]:
    """This checkout first on PYTHONPATH; no CALSYNC_* variable (they would change what status reads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    paths = [str(ROOT / "src"), env.get("PYTHONPATH", "")]
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


def commands(python: str, config: Path) -> dict[str, list[str]]:
    calsync = [python, "-c", ENTRY]
    return {
        "python -c pass": [python, "-c", "pass"],
        "calsync --help": [*calsync, "--help"],
        "calsync sync --help": [*calsync, "sync", "--help"],
        "calsync status": [*calsync, "--config", str(config), "status"],
        "calsync graph --help": [*calsync, "graph", "--help"],
    }


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run; a non-zero exit stops the bench (a
    broken command is not fast)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{argv[2:]} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


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
    env = environment()
    with tempfile.TemporaryDirectory(prefix="calsync-startup-") as tmp:
        workdir = Path(tmp)
        runs = commands(args.python, make_state(workdir))
        check_status(runs["calsync status"], env, workdir)
        for argv in runs.values():
            run_once(argv, env, workdir)  # warm-up: bytecode caches, page cache
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, argv in runs.items():
                wall, cpu = run_once(argv, env, workdir)
                times[name].append(wall)
                cpus[name].append(cpu)
        imports = import_times(runs["calsync --help"], env, workdir)
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
        }
        for name, t in times.items()
    }
    top = sorted(imports, key=lambda r: r["cumulative_us"], reverse=True)[: args.top]
    return {"bench": "startup", "repeat": args.repeat, "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "commands": figures,
            "help_imports": top, "help_modules_imported": len(imports)}  # fmt: skip


def report(result: dict[str, Any]) -> None:
    head = f"{'command':<24}{'median':>9}{'min':>9}{'max':>9}{'- python':>10}{'cpu':>9}{'- python':>10}"
    print(f"{head}   (seconds, {result['repeat']} runs; cpu: user + system, median)")
    for name, f in result["commands"].items():
        first = name == "python -c pass"
        over = "" if first else f"{f['over_python_s']:+10.3f}"
        cpu_over = "" if first else f"{f['cpu_over_python_s']:+10.3f}"
        print(f"{name:<24}{f['median_s']:9.3f}{f['min_s']:9.3f}{f['max_s']:9.3f}{over:>10}"
              f"{f['cpu_median_s']:9.3f}{cpu_over:>10}")  # fmt: skip
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
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    result = measure(args)
    if not args.json:
        report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
