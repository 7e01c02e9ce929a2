"""Scrape-time values: gauges computed when `/metrics` is read, not recorded as things happen.

Lag since each mailbox's last success and the job queue depth live in the database; reading them per
scrape is both cheaper and truer than keeping gauges up to date from every process. The callables run
on the scraping thread, synchronously, once per scrape: keep them to one indexed query.

A callable that raises is logged (by exception type only: database errors can quote connection
details) and its series are left out of that scrape, so one unreachable database does not hide every
other metric; alert on `absent(...)` of these series. prometheus_client is imported inside `collect`,
not at import time (see `calsync.metrics.multiproc`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

_log = logging.getLogger(__name__)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_T = TypeVar("_T")

LAG_NAME = "calsync_mailbox_lag_seconds"
MAX_LAG_NAME = "calsync_mailbox_max_lag_seconds"


def gauge_collector(name: str, help: str, value: Callable[[], float | None]) -> Collector:
    """One unlabelled gauge read at scrape time, e.g. `calsync_queue_depth`; a None value (not known,
    e.g. no task engine configured) emits nothing."""
    if not _METRIC_NAME.fullmatch(name):
        raise ValueError(f"not a Prometheus metric name: {name!r}")
    return _ScrapeGauge(name, help, value)


def lag_collector(lags: Callable[[], Mapping[str, float]], *, per_mailbox: bool = True) -> Collector:
    """`calsync_mailbox_lag_seconds{mailbox}` (seconds since each mailbox's last successful run) and
    `calsync_mailbox_max_lag_seconds` (the worst of them; absent when there are no mailboxes).

    `per_mailbox=False` keeps only the maximum: one series per mailbox is fine for hundreds of
    mailboxes but a burden on Prometheus at tens of thousands. The mailbox label is whatever key
    `lags` returns; prefer object ids to addresses.
    """
    return _LagCollector(lags, per_mailbox=per_mailbox)


class _ScrapeGauge:
    def __init__(self, name: str, help: str, value: Callable[[], float | None]) -> None:
        self._name = name
        self._help = help
        self._value = value

    def describe(self) -> list[Metric]:
        """Lets a registry reject a second collector with the same name when it is registered."""
        from prometheus_client.core import GaugeMetricFamily

        return [GaugeMetricFamily(self._name, self._help)]

    def collect(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        value = _guarded(self._name, self._value)
        if value is None:
            return []
        return [GaugeMetricFamily(self._name, self._help, value=value)]


class _LagCollector:
    _LAG_HELP = "Seconds since each mailbox's last successful run."
    _MAX_HELP = "Seconds since the last successful run of the mailbox that waited longest."

    def __init__(self, lags: Callable[[], Mapping[str, float]], *, per_mailbox: bool) -> None:
        self._lags = lags
        self._per_mailbox = per_mailbox

    def describe(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        families: list[Metric] = [GaugeMetricFamily(MAX_LAG_NAME, self._MAX_HELP)]
        if self._per_mailbox:
            families.append(GaugeMetricFamily(LAG_NAME, self._LAG_HELP, labels=["mailbox"]))
        return families

    def collect(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        lags = _guarded(LAG_NAME, self._lags)
        if not lags:
            return []
        families: list[Metric] = []
        if self._per_mailbox:
            per = GaugeMetricFamily(LAG_NAME, self._LAG_HELP, labels=["mailbox"])
            for mailbox, seconds in sorted(lags.items()):
                per.add_metric([mailbox], seconds)
            families.append(per)
        families.append(GaugeMetricFamily(MAX_LAG_NAME, self._MAX_HELP, value=max(lags.values())))
        return families


def _guarded(name: str, read: Callable[[], _T]) -> _T | None:
    try:
        return read()
    except Exception as exc:  # a scrape must survive a failing source of one gauge
        _log.warning("metrics: reading %s failed (%s); left out of this scrape", name, type(exc).__name__)
        return None


def labelled_gauge_collector(
    name: str, help: str, label: str, values: Callable[[], Mapping[str, float]]
) -> Collector:
    """One gauge with one label read at scrape time, e.g. `calsync_graph_subscriptions{status}`."""
    if not _METRIC_NAME.fullmatch(name):
        raise ValueError(f"not a Prometheus metric name: {name!r}")
    return _LabelledGauge(name, help, label, values)


class _LabelledGauge:
    def __init__(self, name: str, help: str, label: str, values: Callable[[], Mapping[str, float]]) -> None:
        self._name, self._help, self._label, self._values = name, help, label, values

    def describe(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        return [GaugeMetricFamily(self._name, self._help, labels=[self._label])]

    def collect(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        values = _guarded(self._name, self._values)
        if values is None:
            return []
        family = GaugeMetricFamily(self._name, self._help, labels=[self._label])
        for key, value in sorted(values.items()):
            family.add_metric([key], value)
        return [family]
