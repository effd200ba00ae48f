"""Prometheus metrics of one gateway process, in its own registry (so several apps can
live in one test process), served at /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._sockets = Gauge("gateway_sockets", "Open client WebSockets.", registry=r)
        self._messages_in = Counter(
            "gateway_messages_in", "Messages stored on behalf of clients.", registry=r
        )
        self._messages_out = Counter(
            "gateway_messages_out", "Message frames delivered to client sockets.", registry=r
        )
        self._latency = Histogram(
            "gateway_delivery_latency_seconds",
            "From commit (created_at) to the frame being queued for the receiver's sockets.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._recovered = Counter(
            "gateway_messages_recovered",
            "Messages the live stream lost, read from the database by the position check.",
            registry=r,
        )
        self._errors = Counter(
            "gateway_errors", "Errors returned to clients, by code.", ["code"], registry=r
        )

    def socket_opened(self) -> None:
        self._sockets.inc()

    def socket_closed(self) -> None:
        self._sockets.dec()

    def message_in(self) -> None:
        self._messages_in.inc()

    def delivered(self, sockets: int, latency_seconds: float | None) -> None:
        if sockets:
            self._messages_out.inc(sockets)
        if latency_seconds is not None:
            self._latency.observe(max(0.0, latency_seconds))

    def recovered(self, messages: int) -> None:
        self._recovered.inc(messages)

    def error(self, code: str) -> None:
        self._errors.labels(code=code).inc()

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read when scraped (upstream sockets, channels…)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def counter(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A counter whose value is read when scraped, from a count a component keeps
        anyway (no work on its path); exported as `<name>_total`."""
        self.registry.register(_ReadCounter(name, documentation, read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ReadCounter(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._documentation, self._read = name, documentation, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._documentation, value=self._read())

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._documentation)
