"""calsync's Prometheus metrics: recording calls for the services, runtime and Graph observer, and
`render` for the web app's `/metrics`.

Below every other calsync layer: imports only the standard library and (on first use) prometheus_client.

Two modes, chosen by the PROMETHEUS_MULTIPROC_DIR environment variable:
- unset: values live in this process, in prometheus_client's default registry; `render` shows them
  (plus the default process/platform collectors).
- set (`calsync serve` and workers on one host): every process writes per-process files there and
  `render` sums them with a fresh `MultiProcessCollector` per scrape.

The ordering rule. prometheus_client fixes the mode when *it* is first imported, for every metric the
process will ever create. This package therefore imports prometheus_client lazily, on the first
`record_*`, `in_flight`, `render` or `mark_dead` call, so `import calsync.metrics` is free and may
happen anywhere. What must come first is the directory: `prepare_multiprocess_dir(path)` (serve,
wipes stale files) or `use_multiprocess_dir(path)` / the inherited environment variable (workers),
before the first such call and before any other library imports prometheus_client. Getting it wrong
raises `MetricsError` rather than silently losing a process's metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from calsync.metrics.collectors import gauge_collector, labelled_gauge_collector, lag_collector
from calsync.metrics.multiproc import (
    MetricsError,
    check_mode,
    mark_dead,
    multiprocess_dir,
    prepare_multiprocess_dir,
    use_multiprocess_dir,
)

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from calsync.metrics._recorder import Recorder

__all__ = [
    "MetricsError",
    "gauge_collector",
    "in_flight",
    "labelled_gauge_collector",
    "lag_collector",
    "mark_dead",
    "multiprocess_dir",
    "prepare_multiprocess_dir",
    "record_failure",
    "record_feed",
    "record_graph_response",
    "record_notification",
    "record_offboarded",
    "record_push_attempt",
    "record_push_published",
    "record_run",
    "render",
    "use_multiprocess_dir",
]


class _DefaultRecorder:
    """The process's recorder on the default registry, built once on first use (under a lock: two
    threads building it would register every name twice)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recorder: Recorder | None = None

    def get(self) -> Recorder:
        recorder = self._recorder
        if recorder is None:
            with self._lock:
                if self._recorder is None:
                    check_mode()
                    from prometheus_client import REGISTRY

                    from calsync.metrics._recorder import Recorder

                    self._recorder = Recorder(REGISTRY, version=_version())
                recorder = self._recorder
        return recorder


_default = _DefaultRecorder()


def _version() -> str:
    from importlib import metadata  # ~20 ms of imports, paid on first use rather than at import

    try:
        return metadata.version("calsync")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def record_run(
    status: str, duration_s: float | None, counts: Mapping[str, int], error_code: str | None = None
) -> None:
    """One finished run of one mailbox: its status (ok, partial, failed, stopped, skipped,
    not_applicable), wall time (None for a run that never started, e.g. skipped), action counts by kind
    (created, updated, deleted, adopted, unchanged, failed, quarantined; zeros may be included) and
    its run-level error code. Raises ValueError for a negative count."""
    _default.get().run(status, duration_s, counts, error_code)


def record_failure(code: str) -> None:
    """One failure with an error code (an item's Graph error, a source's code), capped in cardinality."""
    _default.get().failure(code)


def record_graph_response(method: str, status: int | None, retry_after_s: float | None = None) -> None:
    """One Graph request: its HTTP status, or None when no response came (timeout, reset); and the
    Retry-After it carried, in seconds. A 429 also counts as throttled."""
    _default.get().graph_response(method, status, retry_after_s)


def record_feed(outcome: str) -> None:
    """One feed download: ok, not_modified or error."""
    _default.get().feed(outcome)


def record_offboarded(deleted: int) -> None:
    """One mailbox offboarded (it left its profile's selection): the events removed from it."""
    _default.get().offboarded(deleted)


def record_notification(outcome: str) -> None:
    """One Graph change notification received: change, echo, duplicate, foreign, ignored, or
    lifecycle_<event>."""
    _default.get().notification(outcome)


def record_push_published(event_type: str, channels: int) -> None:
    """One notification published (calsync.services.push) and how many channels' outboxes got it."""
    _default.get().push_published(event_type, channels)


def record_push_attempt(verdict: str, seconds: float, lag_s: float | None = None) -> None:
    """One delivery attempt to a subscriber: its verdict (delivered, retry, gone, dead), how long the
    attempt took and, when delivered, the time from publishing to delivery."""
    _default.get().push_attempt(verdict, seconds, lag_s)


@contextmanager
def in_flight() -> Iterator[None]:
    """Counts a mailbox as being synced for the duration of the block (`with in_flight(): ...`)."""
    with _default.get().in_flight():
        yield


def render(extra: Iterable[Collector] | None = None) -> tuple[bytes, str]:
    """The `/metrics` body and its content type: calsync's metrics (summed over processes in
    multiprocess mode) plus `extra` collectors such as `lag_collector` and `gauge_collector`, which
    run now, on this thread. Raises MetricsError when the process's mode is inconsistent."""
    path = check_mode()
    _default.get()  # every family appears (at zero) from the first scrape on
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    registry = CollectorRegistry()
    if path is None:
        registry.register(REGISTRY)
    else:
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]  # untyped in 0.26
    for collector in extra or ():
        registry.register(collector)
    # The classic text format, as prometheus_client serves it to a scraper that states no preference.
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
