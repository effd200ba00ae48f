"""Prometheus metrics of the embedded stack, in its own registry (several stacks can live in
one test process), served at /metrics: the Postgres Changes channels its limits shut down."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class EmbeddedMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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

    def filter_timed_out(self) -> None:
        self._filter_timeouts.inc()

    def channel_overflowed(self) -> None:
        self._overflows.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
