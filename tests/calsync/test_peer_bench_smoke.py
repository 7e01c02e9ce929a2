"""bench/peer_bench.py's floor and calsync parts on a tiny workload (the msgraph-sdk script needs its own
virtualenv and is left out): every figure is measured, both contenders store every source occurrence,
and calsync's no-op resync writes nothing. Speed itself is never asserted here."""

from __future__ import annotations

import json
import math

import pytest
from bench import peer_bench


@pytest.mark.slow
def test_floor_and_calsync_sync_both_workloads_and_report_every_figure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # occurrences, not calsync's default (series): both contenders then store and write each occurrence
    argv = ["--contenders", "floor,calsync", "--rounds", "1", "--mailboxes", "2", "--events", "6",
            "--students", "2", "--latency-ms", "0", "--recurrence", "occurrences", "--json"]  # fmt: skip
    assert peer_bench.main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["bench"] == "peer"
    flat, timetable = report["summary"]["flat"], report["summary"]["timetable"]
    assert flat["occurrences"] == 12
    assert timetable["occurrences"] > 20  # two students' weekly sessions over a term
    for block in (flat, timetable):
        n = block["occurrences"]
        for contender in ("floor", "calsync"):
            initial, noop = block[f"{contender}.initial"], block[f"{contender}.noop"]
            assert (initial["stored"], noop["stored"]) == (n, n), contender
            assert initial["writes_per_occurrence"] == 1.0  # occurrences: one create each
            assert noop["writes_per_occurrence"] == noop["write_requests_per_occurrence"] == 0.0
            # creates go out in `$batch` envelopes of up to 20: at least one, never one per create
            envelopes = initial["write_requests_per_occurrence"] * n
            assert math.ceil(n / 20) <= envelopes < n, contender
            assert initial["throttled"] == noop["throttled"] == 0
            for figures in (initial, noop):
                for name in ("wall", "cpu", "rss_mib"):
                    assert math.isfinite(figures[name]), (contender, name)
                    assert figures[name] > 0, (contender, name)
        assert set(block["ratios"]) == {"initial: calsync / floor", "noop: calsync / floor"}
