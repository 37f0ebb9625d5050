"""The request metrics every HTTP service keeps, as a Prometheus scrape reads them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from dolmen.metrics import LATENCY_BUCKETS_S, HttpMetrics, Metrics


def scraped(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def test_requests_durations_and_bytes_are_scraped_as_counters_and_a_histogram() -> None:
    metrics = Metrics("test-service")
    http = HttpMetrics(metrics)
    for seconds in (0.0001, LATENCY_BUCKETS_S[0], 0.0007, 3.0, 20.0):  # a bound counts as at or under
        http.record("PUT", 201, seconds, 100, 0)
    http.record("PUT", 503, 0.002, 7, 0)
    http.record("GET", 200, 0.002, 0, 4096)
    samples = scraped(metrics)

    assert samples["dolmen_test_service_requests_total", (("method", "PUT"), ("status", "201"))] == 5
    assert samples["dolmen_test_service_requests_total", (("method", "PUT"), ("status", "503"))] == 1
    assert samples["dolmen_test_service_requests_total", (("method", "GET"), ("status", "200"))] == 1
    assert samples["dolmen_test_service_received_bytes_total", ()] == 507
    assert samples["dolmen_test_service_sent_bytes_total", ()] == 4096

    def bucket(method: str, le: str) -> float:
        return samples["dolmen_test_service_request_seconds_bucket", (("le", le), ("method", method))]

    assert [bucket("PUT", le) for le in ("0.0005", "0.001", "0.0025", "2.5", "5.0", "10.0", "+Inf")] == [
        2,
        3,
        4,
        4,
        5,
        5,
        6,
    ]
    assert samples["dolmen_test_service_request_seconds_count", (("method", "PUT"),)] == 6
    assert samples["dolmen_test_service_request_seconds_sum", (("method", "PUT"),)] == sum(
        (0.0001, 0.0005, 0.0007, 3.0, 20.0, 0.002)
    )
    assert bucket("GET", "0.001") == 0 and bucket("GET", "0.0025") == 1 and bucket("GET", "+Inf") == 1


def test_a_service_that_answered_nothing_shows_its_byte_counters_at_zero() -> None:
    metrics = Metrics("test-service")
    HttpMetrics(metrics)
    samples = scraped(metrics)
    assert samples["dolmen_test_service_received_bytes_total", ()] == 0
    assert not any(name.startswith("dolmen_test_service_request_seconds") for name, _ in samples)
