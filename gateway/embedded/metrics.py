"""Prometheus metrics of the embedded stack, in its own registry (several stacks can live in
one test process), served at /metrics: how far Realtime's change feed is behind, and the
Postgres Changes channels its limits shut down."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class EmbeddedMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._dispatch = Histogram(
            "embedded_realtime_dispatch_lag_seconds",
            "From a transaction's commit to the change feed handing it over (broadcasts sent,"
            " row changes queued for Postgres Changes).",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.lag_seconds = Gauge(
            "embedded_realtime_change_feed_lag_seconds",
            "Age of the oldest committed change not yet dispatched (0 when caught up).",
            registry=r,
        )
        self.lag_bytes = Gauge(
            "embedded_realtime_change_feed_lag_bytes",
            "WAL written past the position the change feed has dispatched (-1: unknown).",
            registry=r,
        )
        self._filter_timeouts = Counter(
            "embedded_realtime_postgres_changes_filter_timeouts",
            "Channels shut down because their filters took longer than their budget.",
            registry=r,
        )
        self._overflows = Counter(
            "embedded_realtime_postgres_changes_overflows",
            "Channels shut down because too many changes waited for their checks.",
            registry=r,
        )

    def dispatched(self, lag_seconds: float) -> None:
        self._dispatch.observe(max(0.0, lag_seconds))

    def filter_timed_out(self) -> None:
        self._filter_timeouts.inc()

    def channel_overflowed(self) -> None:
        self._overflows.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
