"""calsync.metrics: what is recorded is what a scraper parses, labels stay bounded, scrape-time
collectors, and the real multiprocess mode across separate Python processes.

In-process tests share prometheus_client's default registry with the rest of the test session, so they
compare samples before and after (deltas), or use a `Recorder` on a private registry.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

import calsync.metrics
from calsync.metrics import (
    MetricsError,
    gauge_collector,
    in_flight,
    lag_collector,
    prepare_multiprocess_dir,
    record_failure,
    record_feed,
    record_graph_response,
    record_run,
    render,
)
from calsync.metrics._recorder import OTHER, LabelCap, Recorder
from calsync.metrics.multiproc import ENV_VAR

Key = tuple[str, frozenset[tuple[str, str]]]


def parse(body: bytes) -> dict[Key, float]:
    """Every sample of an exposition, keyed by sample name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def scrape(*extra: Collector) -> dict[Key, float]:
    body, content_type = render(extra)
    assert content_type.startswith("text/plain; version=0.0.4")
    return parse(body)


def k(name: str, **labels: str) -> Key:
    return (name, frozenset(labels.items()))


def delta(before: dict[Key, float], after: dict[Key, float], key: Key) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests run in single-process mode whatever the caller's environment says."""
    monkeypatch.delenv(ENV_VAR, raising=False)


# --- recording, read back through render() ----------------------------------------------------------


def test_runs_actions_durations_and_failures_are_scraped_as_recorded() -> None:
    before = scrape()
    record_run("ok", 0.3, {"created": 2, "updated": 1, "unchanged": 40, "deleted": 0})
    record_run("partial", 42.0, {"created": 1, "failed": 3, "quarantined": 1}, "ErrorItemNotFound")
    record_run("skipped", None, {})
    record_run("brand_new_status", 1.0, {"teleported": 5})
    after = scrape()

    runs = {s: delta(before, after, k("calsync_runs_total", status=s)) for s in ("ok", "partial", "skipped")}
    assert runs == {"ok": 1, "partial": 1, "skipped": 1}
    assert delta(before, after, k("calsync_runs_total", status="failed")) == 0
    assert delta(before, after, k("calsync_runs_total", status=OTHER)) == 1
    kinds = ("created", "updated", "unchanged", "deleted", "failed", "quarantined", OTHER)
    assert {kind: delta(before, after, k("calsync_actions_total", kind=kind)) for kind in kinds} == {
        "created": 3,
        "updated": 1,
        "unchanged": 40,
        "deleted": 0,
        "failed": 3,
        "quarantined": 1,
        OTHER: 5,
    }
    assert delta(before, after, k("calsync_failures_total", code="ErrorItemNotFound")) == 1
    # Three durations (the skipped run had none): 0.3 s, 42 s and 1 s.
    assert delta(before, after, k("calsync_run_duration_seconds_count")) == 3
    assert delta(before, after, k("calsync_run_duration_seconds_sum")) == pytest.approx(43.3)
    assert delta(before, after, k("calsync_run_duration_seconds_bucket", le="0.5")) == 1
    assert delta(before, after, k("calsync_run_duration_seconds_bucket", le="1.0")) == 2
    assert delta(before, after, k("calsync_run_duration_seconds_bucket", le="60.0")) == 3


def test_item_failures_are_counted_by_their_code() -> None:
    before = scrape()
    record_failure("ErrorInvalidRecurrence")
    record_failure("ErrorInvalidRecurrence")
    record_failure("Error: Invalid/Recurrence")
    after = scrape()
    assert delta(before, after, k("calsync_failures_total", code="ErrorInvalidRecurrence")) == 2
    assert delta(before, after, k("calsync_failures_total", code="Error__Invalid_Recurrence")) == 1


def test_a_negative_count_is_refused_before_anything_is_recorded() -> None:
    before = scrape()
    with pytest.raises(ValueError, match="negative"):
        record_run("ok", 1.0, {"created": 1, "deleted": -1})
    after = scrape()
    assert delta(before, after, k("calsync_runs_total", status="ok")) == 0
    assert delta(before, after, k("calsync_actions_total", kind="created")) == 0


def test_graph_responses_throttling_and_transport_errors() -> None:
    before = scrape()
    record_graph_response("GET", 200, None)
    record_graph_response("get", 200, None)
    record_graph_response("PATCH", 429, 2.5)
    record_graph_response("PATCH", 429, 10)
    record_graph_response("POST", 503, 1.0)
    record_graph_response("POST", None, None)
    record_graph_response("PROPFIND", 999, -3.0)
    after = scrape()

    def requests(method: str, status: str) -> float:
        return delta(before, after, k("calsync_graph_requests_total", method=method, status=status))

    assert requests("GET", "200") == 2
    assert requests("PATCH", "429") == 2
    assert requests("POST", "503") == 1
    assert requests("POST", "error") == 1
    assert requests(OTHER, OTHER) == 1
    assert delta(before, after, k("calsync_graph_throttled_total")) == 2
    # Retry-After from the 429s and the 503; a negative value is not a wait.
    assert delta(before, after, k("calsync_graph_retry_after_seconds_total")) == pytest.approx(13.5)


def test_feed_outcomes() -> None:
    before = scrape()
    for outcome in ("ok", "ok", "not_modified", "error", "exploded"):
        record_feed(outcome)
    after = scrape()
    outcomes = ("ok", "not_modified", "error", OTHER)
    got = {o: delta(before, after, k("calsync_feed_fetches_total", outcome=o)) for o in outcomes}
    assert got == {"ok": 2, "not_modified": 1, "error": 1, OTHER: 1}


def test_in_flight_counts_the_block_and_is_released_on_error() -> None:
    gauge = k("calsync_mailboxes_in_flight")
    base = scrape()[gauge]

    def failing_run() -> None:
        with in_flight():
            assert scrape()[gauge] == base + 2
            raise RuntimeError("run failed")

    with in_flight():
        assert scrape()[gauge] == base + 1
        with pytest.raises(RuntimeError):
            failing_run()
        assert scrape()[gauge] == base + 1
    assert scrape()[gauge] == base


def test_every_family_is_exposed_before_anything_happens() -> None:
    """Known label values exist at zero, so rate() has a series before the first event."""
    names = {name for name, _ in scrape()}
    assert {
        "calsync_runs_total",
        "calsync_actions_total",
        "calsync_feed_fetches_total",
        "calsync_graph_throttled_total",
        "calsync_graph_retry_after_seconds_total",
        "calsync_run_duration_seconds_count",
        "calsync_mailboxes_in_flight",
        "calsync_offboarded_mailboxes_total",
        "calsync_offboarded_events_total",
        "calsync_build_info",
    } <= names
    assert scrape()[k("calsync_runs_total", status="not_applicable")] >= 0


# --- bounded failure codes ---------------------------------------------------------------------------


def test_failure_codes_beyond_the_cap_become_other() -> None:
    registry = CollectorRegistry()
    recorder = Recorder(registry, version="test", code_limit=3)
    for code in ("ErrorItemNotFound", "SourceUnavailable", "Error Quota/Exceeded!", "Fourth", "Fifth"):
        recorder.failure(code)
    recorder.failure("ErrorItemNotFound")  # a code seen before the cap keeps its own series
    samples = parse(generate_latest(registry))
    failures = {
        dict(labels)["code"]: value
        for (name, labels), value in samples.items()
        if name == "calsync_failures_total"
    }
    assert failures == {"ErrorItemNotFound": 2, "SourceUnavailable": 1, "Error_Quota_Exceeded_": 1, OTHER: 2}


def test_run_level_error_codes_share_the_cap() -> None:
    registry = CollectorRegistry()
    recorder = Recorder(registry, version="test", code_limit=1)
    recorder.run("failed", 1.0, {}, "SourceUnavailable")
    recorder.run("failed", 1.0, {}, "x" * 500)
    samples = parse(generate_latest(registry))
    assert samples[k("calsync_failures_total", code="SourceUnavailable")] == 1
    assert samples[k("calsync_failures_total", code=OTHER)] == 1
    assert samples[k("calsync_build_info", version="test")] == 1


@given(st.lists(st.text(max_size=200), max_size=80))
def test_label_cap_output_is_always_a_short_safe_bounded_label(codes: list[str]) -> None:
    cap = LabelCap(limit=5)
    labels = [cap(code) for code in codes]
    assert all(re.fullmatch(r"[A-Za-z0-9_.]{1,64}", label) for label in labels)
    assert len(set(labels) - {OTHER}) <= 5
    # Stable: a code gets the same label every time it comes back.
    assert [cap(code) for code in codes] == labels


# --- scrape-time collectors --------------------------------------------------------------------------


def test_lag_collector_gives_each_mailbox_and_the_maximum() -> None:
    lags = {"mbx-a": 30.0, "mbx-b": 900.0, "mbx-c": 0.0}
    samples = scrape(lag_collector(lambda: lags))
    assert {
        dict(labels)["mailbox"]: value
        for (name, labels), value in samples.items()
        if name == "calsync_mailbox_lag_seconds"
    } == lags
    assert samples[k("calsync_mailbox_max_lag_seconds")] == 900.0


def test_lag_collector_without_per_mailbox_series_or_mailboxes() -> None:
    samples = scrape(lag_collector(lambda: {"mbx-a": 5.0, "mbx-b": 7.0}, per_mailbox=False))
    assert samples[k("calsync_mailbox_max_lag_seconds")] == 7.0
    assert not any(name == "calsync_mailbox_lag_seconds" for name, _ in samples)
    empty = scrape(lag_collector(dict))
    assert not any(name.startswith("calsync_mailbox_") for name, _ in empty)


def test_gauge_collector_reads_at_each_scrape_and_none_emits_nothing() -> None:
    depth: list[float | None] = [12.0]
    collector = gauge_collector("calsync_queue_depth", "Jobs waiting to run.", lambda: depth[0])
    assert scrape(collector)[k("calsync_queue_depth")] == 12.0
    depth[0] = 3.0
    assert scrape(collector)[k("calsync_queue_depth")] == 3.0
    depth[0] = None
    assert k("calsync_queue_depth") not in scrape(collector)


def test_a_failing_source_leaves_out_its_series_not_the_scrape(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> float:
        raise ConnectionError("postgresql://calsync:hunter2@db/calsync unreachable")

    def broken_lags() -> dict[str, float]:
        raise ConnectionError("postgresql://calsync:hunter2@db/calsync unreachable")

    with caplog.at_level(logging.WARNING, logger="calsync.metrics"):
        samples = scrape(gauge_collector("calsync_queue_depth", "Jobs.", broken), lag_collector(broken_lags))
    assert k("calsync_queue_depth") not in samples
    assert k("calsync_mailbox_max_lag_seconds") not in samples
    assert k("calsync_mailboxes_in_flight") in samples
    assert "ConnectionError" in caplog.text
    assert "hunter2" not in caplog.text


def test_collector_names_are_checked() -> None:
    with pytest.raises(ValueError, match="metric name"):
        gauge_collector("calsync queue depth", "Jobs.", lambda: 1.0)
    twice = [gauge_collector("calsync_queue_depth", "Jobs.", lambda: 1.0) for _ in range(2)]
    with pytest.raises(ValueError, match="calsync_queue_depth"):
        render(twice)


# --- mode consistency in this process ----------------------------------------------------------------


def test_setting_the_directory_after_prometheus_client_was_imported_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scrape()  # prometheus_client is imported now, in single-process mode
    with pytest.raises(MetricsError, match="already imported"):
        prepare_multiprocess_dir(tmp_path)
    assert ENV_VAR not in os.environ
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(MetricsError, match="after prometheus_client was imported"):
        render()


# --- real multiprocess mode --------------------------------------------------------------------------

SRC = Path(calsync.metrics.__file__).resolve().parents[2]


def run_python(code: str, *, env_dir: Path | None) -> str:
    """Runs `code` in a fresh interpreter (so prometheus_client is imported under that environment)."""
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(SRC)
    if env_dir is not None:
        env[ENV_VAR] = str(env_dir)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_serve_and_workers_are_summed_by_a_separate_scrape(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    # A previous deployment left its files behind.
    run_python(
        """
        import sys
        import calsync.metrics as m
        assert "prometheus_client" not in sys.modules, "importing calsync.metrics must not choose a mode"
        m.record_run("failed", 5.0, {"deleted": 100})
        """,
        env_dir=metrics_dir,
    )
    assert list(metrics_dir.glob("*.db"))

    # serve start-up: no variable in its environment yet; prepare sets it and wipes the old files.
    out = run_python(
        f"""
        import os
        import calsync.metrics as m
        m.prepare_multiprocess_dir({str(metrics_dir)!r})
        assert os.environ["{ENV_VAR}"] == {str(metrics_dir)!r}
        print(sorted(os.listdir({str(metrics_dir)!r})))
        """,
        env_dir=None,
    )
    assert out.strip() == "[]"

    # Worker 1 inherits the variable.
    run_python(
        """
        import calsync.metrics as m
        m.record_run("ok", 0.2, {"created": 3, "unchanged": 10})
        m.record_run("ok", 0.4, {"created": 1})
        m.record_graph_response("GET", 200)
        m.record_feed("not_modified")
        """,
        env_dir=metrics_dir,
    )
    # Worker 2 is given the directory by configuration.
    run_python(
        f"""
        import calsync.metrics as m
        m.use_multiprocess_dir({str(metrics_dir)!r})
        m.record_run("ok", 2.0, {{"created": 4}})
        m.record_run("partial", 30.0, {{"failed": 2}}, "ErrorItemNotFound")
        m.record_graph_response("GET", 200)
        m.record_graph_response("PATCH", 429, 1.5)
        m.record_feed("not_modified")
        """,
        env_dir=None,
    )
    # Worker 3 dies (no clean-up) while it syncs a mailbox.
    pid = run_python(
        """
        import os
        import calsync.metrics as m
        with m.in_flight():
            print(os.getpid(), flush=True)
            os._exit(0)
        """,
        env_dir=metrics_dir,
    ).strip()

    # The scrape runs in the serve process, which records nothing itself.
    out = run_python(
        f"""
        import calsync.metrics as m
        depth = m.gauge_collector("calsync_queue_depth", "Jobs waiting.", lambda: 6)
        print(m.render([depth])[0].decode())
        print("=====")
        m.mark_dead({pid})
        print(m.render()[0].decode())
        """,
        env_dir=metrics_dir,
    )
    first, after_death = (parse(part.encode()) for part in out.split("=====\n"))

    assert first[k("calsync_runs_total", status="ok")] == 3
    assert first[k("calsync_runs_total", status="partial")] == 1
    assert first[k("calsync_runs_total", status="failed")] == 0  # the old deployment's run was wiped
    assert first[k("calsync_actions_total", kind="created")] == 8
    assert first[k("calsync_actions_total", kind="unchanged")] == 10
    assert first[k("calsync_actions_total", kind="failed")] == 2
    assert first[k("calsync_actions_total", kind="deleted")] == 0
    assert first[k("calsync_failures_total", code="ErrorItemNotFound")] == 1
    assert first[k("calsync_graph_requests_total", method="GET", status="200")] == 2
    assert first[k("calsync_graph_throttled_total")] == 1
    assert first[k("calsync_graph_retry_after_seconds_total")] == 1.5
    assert first[k("calsync_feed_fetches_total", outcome="not_modified")] == 2
    assert first[k("calsync_run_duration_seconds_count")] == 4
    assert first[k("calsync_run_duration_seconds_sum")] == pytest.approx(32.6)
    assert first[k("calsync_run_duration_seconds_bucket", le="0.5")] == 2
    assert first[k("calsync_queue_depth")] == 6
    assert first[k("calsync_mailboxes_in_flight")] == 1  # the dead worker, until it is marked dead
    assert after_death[k("calsync_mailboxes_in_flight")] == 0
    assert after_death[k("calsync_runs_total", status="ok")] == 3  # totals outlive their processes
    assert any(name == "calsync_build_info" for name, _ in after_death)
