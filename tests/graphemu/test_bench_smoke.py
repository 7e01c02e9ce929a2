"""The graphemu benchmark (bench/graphemu_bench.py) runs and reports its figures; speed itself is never
asserted here (it depends on the machine), only that every figure is measured and nothing failed."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from bench import graphemu_bench as bench


def _assert_figures(result: dict[str, Any]) -> None:
    for name in bench.FIGURES:  # CPU time of another process is read in 10 ms ticks: may be 0 in a tiny run
        assert math.isfinite(result[name]), name
        assert result[name] >= 0, name
        assert result[name] > 0 or name.startswith("cpu_"), name
    assert result["errors"] == []
    assert result["throttled"] == {
        "throttled_mailbox_concurrency": 0,
        "throttled_window": 0,
        "injected_faults": 0,
    }


async def test_inprocess_run_measures_every_figure_without_errors_or_throttling() -> None:
    """A tiny in-process run reports positive rates and CPU costs, no errors and no throttled request."""
    _assert_figures(await bench.inprocess_run(n=24, users=3))


def test_event_bodies_are_realistic_and_unique() -> None:
    """Each create body carries a Windows time zone, two extended properties and its own transactionId."""
    first, second = bench.event_body(1), bench.event_body(2)
    assert first["start"]["timeZone"] == "W. Europe Standard Time"
    assert len(first["singleValueExtendedProperties"]) == 2
    assert first["transactionId"] != second["transactionId"]


def test_summary_takes_medians_and_renders_a_table() -> None:
    """Runs are summarised as medians with errors and throttles summed; the table names every mode."""
    run = dict.fromkeys(bench.FIGURES, 10.0) | {"errors": [], "throttled": {"throttled_window": 0}}
    runs = [run, {**run, "gets_per_s": 30.0}, {**run, "gets_per_s": 20.0}]
    summary = bench.summarise(runs) | {"pinning": "core 0"}
    assert summary["gets_per_s"] == 20.0
    assert summary["errors"] == 0
    info = {"date": "2025-01-01", "machine": bench.machine(), "n": 1, "users": 1, "repeat": 3}
    assert "inprocess" in bench.render({"inprocess": summary}, info)


def test_main_prints_the_table_and_a_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The command line runs in-process and ends with one JSON line holding the medians and the machine."""
    code = bench.main(["--mode", "inprocess", "--n", "20", "--users", "2", "--repeat", "1", "--no-pin"])
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert code == 0
    assert report["bench"] == "graphemu"
    assert report["machine"]["python"]
    _assert_figures(report["results"]["inprocess"] | {"errors": []})


@pytest.mark.slow
async def test_tls_run_against_graphemu_serve() -> None:
    """`graphemu serve` in a subprocess answers a tiny run over TLS, its CPU time read from /proc."""
    with bench.tls_server(users=2, core=None) as info:
        runs = await bench.tls_runs(info, n=20, repeat=1, connections=4)
    _assert_figures(runs[0])
