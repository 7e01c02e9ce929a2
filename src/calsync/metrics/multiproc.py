"""Prometheus multiprocess mode: one directory of per-process files, summed at scrape time.

`calsync serve` and the `calsync worker` processes on one host each write their metric values to
mmap'ed files in a shared directory (`PROMETHEUS_MULTIPROC_DIR`); the process that answers `/metrics`
merges them per scrape. prometheus_client chooses between in-memory values and those files **once, when
prometheus_client itself is first imported** (`prometheus_client.values.ValueClass`), not per metric. A
process that imports prometheus_client before the variable is set records into its own memory, and no
scrape ever sees it. So this package imports prometheus_client only on first use, and the functions here
refuse (with `MetricsError`) to switch modes once prometheus_client has been imported.

This module itself never imports prometheus_client at import time.
"""

from __future__ import annotations

import glob
import os
import sys

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


class MetricsError(Exception):
    """The metrics layer is set up inconsistently (a deployment problem, reported at start-up or scrape)."""


def multiprocess_dir() -> str | None:
    """The shared directory when this process runs in multiprocess mode, else None."""
    return os.environ.get(ENV_VAR) or None


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> None:
    """For `calsync serve` start-up, before any worker starts: create `path`, delete stale `*.db`
    files, and set PROMETHEUS_MULTIPROC_DIR for this process and the children it starts.

    Why wipe: files of processes that are gone would otherwise be summed into every scrape forever
    (counters of a previous deployment, or a pid reused by a new process). Wipe only when every process
    sharing the directory restarts: a worker still running keeps writing to its deleted file, and its
    counts vanish from scrapes until it restarts. Workers joining a running group use
    `use_multiprocess_dir` instead.

    Must run before the first metric is recorded or rendered (more precisely, before anything imports
    prometheus_client); raises MetricsError otherwise.
    """
    target = os.fspath(path)
    _refuse_if_imported(target, action="prepare")
    os.makedirs(target, exist_ok=True)
    for stale in glob.glob(os.path.join(glob.escape(target), "*.db")):
        os.remove(stale)
    os.environ[ENV_VAR] = target


def use_multiprocess_dir(path: str | os.PathLike[str]) -> None:
    """For a `calsync worker` given the directory by configuration rather than by its environment: set
    PROMETHEUS_MULTIPROC_DIR (creating the directory if the worker starts first) without deleting
    anything. Idempotent; raises MetricsError when prometheus_client is already in the other mode."""
    target = os.fspath(path)
    if _value_class_is_multiprocess() is True and multiprocess_dir() == target:
        return
    _refuse_if_imported(target, action="use")
    os.makedirs(target, exist_ok=True)
    os.environ[ENV_VAR] = target


def mark_dead(pid: int) -> None:
    """Tell the metrics layer that process `pid` (a worker that exited) is gone, so its `live*` gauges
    (e.g. mailboxes in flight) stop counting. Its counters stay: they are totals. No-op outside
    multiprocess mode."""
    path = check_mode()
    if path is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]  # untyped in 0.26


def check_mode() -> str | None:
    """The multiprocess directory (or None), after checking that prometheus_client, if already
    imported, chose the same mode; a mismatch would silently lose this process's metrics."""
    path = multiprocess_dir()
    chosen = _value_class_is_multiprocess()
    if chosen is not None and chosen != (path is not None):
        if path is None:
            raise MetricsError(
                f"prometheus_client is in multiprocess mode but {ENV_VAR} is no longer set in this process"
            )
        raise MetricsError(
            f"{ENV_VAR} was set after prometheus_client was imported, so this process keeps its metrics "
            "in memory where no scrape sees them; set it (or call prepare_multiprocess_dir / "
            "use_multiprocess_dir) before anything imports prometheus_client"
        )
    if path is not None and not os.path.isdir(path):
        raise MetricsError(f"{ENV_VAR} names {path!r}, which is not a directory")
    return path


def _value_class_is_multiprocess() -> bool | None:
    """Which mode prometheus_client chose, or None if it has not been imported yet (nothing chosen).
    Reads the module from sys.modules: importing it here would make the choice."""
    values = sys.modules.get("prometheus_client.values")
    if values is None:
        return None
    return bool(values.ValueClass is not values.MutexValue)


def _refuse_if_imported(target: str, *, action: str) -> None:
    if _value_class_is_multiprocess() is not None:
        raise MetricsError(
            f"cannot {action} the metrics directory {target!r}: prometheus_client was already imported "
            f"in this process and has fixed its mode; call this first thing at start-up"
        )
