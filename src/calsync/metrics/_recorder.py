"""The metric families and the code that feeds them; imported on first use only (see `multiproc`).

Every label is bounded: fixed vocabularies (run status, action kind, feed outcome, HTTP method) map
anything unknown to "other" rather than raising, so a status added upstream shows up on a dashboard
instead of failing a sync run; free-text error codes go through `LabelCap`. Known label values are
created at zero up front, so `rate()` and dashboards see a series before its first event.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RUN_STATUSES = frozenset({"ok", "partial", "failed", "stopped", "skipped", "not_applicable"})
ACTION_KINDS = frozenset({"created", "updated", "deleted", "adopted", "unchanged", "failed", "quarantined"})
FEED_OUTCOMES = frozenset({"ok", "not_modified", "error"})
NOTIFICATION_OUTCOMES = frozenset(
    {"change", "echo", "duplicate", "foreign", "ignored", "lifecycle_reauthorizationRequired",
     "lifecycle_subscriptionRemoved", "lifecycle_missed"}
)  # fmt: skip

PUSH_TYPES = frozenset(
    {"calendar.changed", "profile.disconnected", "profile.initial_sync_completed", "sync.failed"}
)
PUSH_VERDICTS = frozenset({"delivered", "retry", "gone", "dead"})
# Publish-to-delivery: tens of milliseconds when the receiver is up, up to days through the retries.
PUSH_LAG_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    5.0,
    30.0,
    300.0,
    1800.0,
    7200.0,
    36000.0,
    86400.0,
)
HTTP_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE", "$BATCH"})  # $BATCH: the envelope
OTHER = "other"

# A run takes from a tenth of a second (nothing to do) to an hour (a first sync of a big mailbox
# under throttling); roughly 2-3x steps between.
RUN_DURATION_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
)

_NOT_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.]")


class LabelCap:
    """Turns free text (Graph error codes) into a bounded set of label values.

    Each value is reduced to `[A-Za-z0-9_.]{1,max_len}`; after `limit` distinct values, new ones become
    "other". Prometheus keeps one series per value forever, so one misbehaving server sending a fresh
    message per error must not grow it without bound. The set is per process: with N processes sharing
    a directory, at most N x limit values appear in total.
    """

    def __init__(self, limit: int = 50, max_len: int = 64) -> None:
        self._limit = limit
        self._max_len = max_len
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, raw: str) -> str:
        value = _NOT_LABEL_CHARS.sub("_", raw)[: self._max_len] or "unknown"
        if value in self._seen:  # the common case, read without the lock (set membership is atomic)
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(value)
        return value


def _known(value: str, vocabulary: frozenset[str]) -> str:
    return value if value in vocabulary else OTHER


class Recorder:
    """calsync's metric families registered in one registry, and the recording calls.

    The process normally has one, on prometheus_client's default registry (see `calsync.metrics`);
    a recorder on a private registry is fully isolated, which is what tests of the label rules use.
    """

    def __init__(self, registry: CollectorRegistry, *, version: str, code_limit: int = 50) -> None:
        self._codes = LabelCap(limit=code_limit)
        self.runs = Counter("calsync_runs", "Sync runs, by final status.", ["status"], registry=registry)
        self.actions = Counter(
            "calsync_actions", "Actions taken on managed events, by kind.", ["kind"], registry=registry
        )
        self.failures = Counter(
            "calsync_failures",
            "Failures by error code (run-level and per item); rare codes beyond a cap are 'other'.",
            ["code"],
            registry=registry,
        )
        self.graph_requests = Counter(
            "calsync_graph_requests",
            "Microsoft Graph responses by method and HTTP status ('error': no response).",
            ["method", "status"],
            registry=registry,
        )
        self.throttled = Counter(
            "calsync_graph_throttled", "Graph responses with status 429.", registry=registry
        )
        self.retry_after = Counter(
            "calsync_graph_retry_after_seconds",
            "Seconds of Retry-After that Graph asked calsync to wait.",
            registry=registry,
        )
        self.run_duration = Histogram(
            "calsync_run_duration_seconds",
            "Wall time of one sync run of one mailbox.",
            buckets=RUN_DURATION_BUCKETS,
            registry=registry,
        )
        self.feed_fetches = Counter(
            "calsync_feed_fetches", "iCalendar feed downloads by outcome.", ["outcome"], registry=registry
        )
        self.offboarded_mailboxes = Counter(
            "calsync_offboarded_mailboxes",
            "Mailboxes whose profile's events were removed after they left its selection.",
            registry=registry,
        )
        self.offboarded_events = Counter(
            "calsync_offboarded_events", "Events removed by offboarding.", registry=registry
        )
        self.notifications = Counter(
            "calsync_graph_notifications",
            "Graph change notifications received, by what they were: a user's change, calsync's own echo, "
            "a foreign event, ignored (unknown subscription, wrong clientState), a lifecycle event.",
            ["outcome"],
            registry=registry,
        )
        self.push_notifications = Counter(
            "calsync_push_notifications",
            "Notifications published to subscribers' outboxes, by event type (one per matching channel).",
            ["type"],
            registry=registry,
        )
        self.push_verdicts = Counter(
            "calsync_push_attempts",
            "Delivery attempts to subscribers' callback URLs, by verdict (delivered, retry, gone, dead).",
            ["verdict"],
            registry=registry,
        )
        self.push_attempt_seconds = Histogram(
            "calsync_push_attempt_seconds",
            "Wall time of one delivery attempt.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.push_lag = Histogram(
            "calsync_push_delivery_lag_seconds",
            "Time from publishing a notification to its delivery (retries included).",
            buckets=PUSH_LAG_BUCKETS,
            registry=registry,
        )
        self.in_flight_gauge = Gauge(
            "calsync_mailboxes_in_flight",
            "Mailboxes being synced right now (summed over live processes).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        build_info = Gauge(
            "calsync_build_info",
            "Always 1; the calsync version as a label.",
            ["version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        build_info.labels(version).set(1)
        for status in RUN_STATUSES:
            self.runs.labels(status)
        for kind in ACTION_KINDS:
            self.actions.labels(kind)
        for outcome in FEED_OUTCOMES:
            self.feed_fetches.labels(outcome)
        for push_type in PUSH_TYPES:
            self.push_notifications.labels(push_type)
        for verdict in PUSH_VERDICTS:
            self.push_verdicts.labels(verdict)

    def run(
        self, status: str, duration_s: float | None, counts: Mapping[str, int], error_code: str | None
    ) -> None:
        if any(n < 0 for n in counts.values()):
            raise ValueError(f"action counts must not be negative: {dict(counts)}")
        self.runs.labels(_known(status, RUN_STATUSES)).inc()
        for kind, n in counts.items():
            if n:
                self.actions.labels(_known(kind, ACTION_KINDS)).inc(n)
        if duration_s is not None:
            self.run_duration.observe(duration_s)
        if error_code is not None:
            self.failure(error_code)

    def failure(self, code: str) -> None:
        self.failures.labels(self._codes(code)).inc()

    def graph_response(self, method: str, status: int | None, retry_after_s: float | None) -> None:
        if status is None:
            label = "error"
        elif 100 <= status <= 599:
            label = str(status)
        else:
            label = OTHER
        upper = method.upper()
        self.graph_requests.labels(upper if upper in HTTP_METHODS else OTHER, label).inc()
        if status == 429:
            self.throttled.inc()
        if retry_after_s is not None and retry_after_s > 0:
            self.retry_after.inc(retry_after_s)

    def offboarded(self, deleted: int) -> None:
        if deleted < 0:
            raise ValueError(f"deleted must not be negative: {deleted}")
        self.offboarded_mailboxes.inc()
        self.offboarded_events.inc(deleted)

    def notification(self, outcome: str) -> None:
        self.notifications.labels(_known(outcome, NOTIFICATION_OUTCOMES)).inc()

    def push_published(self, event_type: str, channels: int) -> None:
        if channels < 0:
            raise ValueError(f"channels must not be negative: {channels}")
        if channels:
            self.push_notifications.labels(_known(event_type, PUSH_TYPES)).inc(channels)

    def push_attempt(self, verdict: str, seconds: float, lag_s: float | None) -> None:
        self.push_verdicts.labels(_known(verdict, PUSH_VERDICTS)).inc()
        self.push_attempt_seconds.observe(max(0.0, seconds))
        if lag_s is not None:
            self.push_lag.observe(max(0.0, lag_s))

    def feed(self, outcome: str) -> None:
        self.feed_fetches.labels(_known(outcome, FEED_OUTCOMES)).inc()

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        self.in_flight_gauge.inc()
        try:
            yield
        finally:
            self.in_flight_gauge.dec()
