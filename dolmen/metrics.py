"""Prometheus metrics: one registry per process, names in base units with `_total` counters.

Labels must have bounded values (verbs, statuses, device names), never object
names or request ids.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """A registry with helpers that prefix every name with `dolmen_<service>_`."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.prefix = f"dolmen_{service.replace('-', '_')}_"

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        assert name.endswith("_total"), name
        # prometheus_client appends `_total` itself.
        return Counter(
            self.prefix + name.removesuffix("_total"), documentation, labels, registry=self.registry
        )

    def gauge(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(self.prefix + name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] = LATENCY_BUCKETS_S,
    ) -> Histogram:
        return Histogram(self.prefix + name, documentation, labels, buckets=buckets, registry=self.registry)

    def exposition(self) -> bytes:
        """The text format served at /metrics."""
        return generate_latest(self.registry)


class HttpMetrics:
    """The metrics every HTTP service keeps about the requests it answers."""

    def __init__(self, metrics: Metrics) -> None:
        self.registry = metrics
        self.requests_total = metrics.counter("requests_total", "Requests answered", ("method", "status"))
        self.request_seconds = metrics.histogram(
            "request_seconds", "Request duration, to the last byte", ("method",)
        )
        self.received_bytes_total = metrics.counter("received_bytes_total", "Request body bytes received")
        self.sent_bytes_total = metrics.counter("sent_bytes_total", "Response body bytes sent")
        # The labelled series by (method, status): prometheus_client's labels() costs as much as
        # the counting itself, on every request. Methods and statuses are few (bounded sets).
        self._series: dict[tuple[str, int], tuple[Any, Any]] = {}

    def record(self, method: str, status: int, seconds: float, bytes_in: int, bytes_out: int) -> None:
        """Count one answered request."""
        series = self._series.get((method, status))
        if series is None:
            series = self._series[(method, status)] = (
                self.requests_total.labels(method, str(status)),
                self.request_seconds.labels(method),
            )
        requests, durations = series
        requests.inc()
        durations.observe(seconds)
        self.received_bytes_total.inc(bytes_in)
        self.sent_bytes_total.inc(bytes_out)
