"""Prometheus metrics of the node daemon, in a registry of its own (tests run several daemons).

`multus_server_request_total` is upstream's, labelled as upstream's promhttp labels it, so dashboards
and alerts made for upstream Multus keep working; the others are ours. They are served by
prometheus_client's own HTTP server on a thread: a web framework for one GET would cost the daemon a
megabyte of memory (benchmarks/RESULTS.md)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Pod operations take from a few milliseconds (cached DEL) to tens of seconds (slow IPAM).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.server_requests = Counter(
            "multus_server_request_total",
            "Counter of HTTP requests",  # upstream's help text
            ["handler", "code", "method"],
            registry=self.registry,
        )
        self.requests = Counter(
            "multus_requests",
            "CNI requests served, by command and result",
            ["command", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "multus_request_duration_seconds",
            "Time to answer a CNI request",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.delegate_latency = Histogram(
            "multus_delegate_duration_seconds",
            "Time one delegate plugin run took, by plugin type",
            ["plugin", "command"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "multus_requests_in_flight", "Requests being served now", registry=self.registry
        )
        self.cache_objects = Gauge(
            "multus_cache_objects", "Objects held by the watch caches", ["kind"], registry=self.registry
        )
        self.cache_misses = Counter(
            "multus_cache_misses",
            "Reads that missed the caches and went to the API server",
            registry=self.registry,
        )

    def count_cached(self, kind: str, size: Callable[[], int]) -> None:
        """`multus_cache_objects{kind}` is `size()` when scraped."""
        self.cache_objects.labels(kind).set_function(size)

    def serve(self, address: str | None, port: int) -> Callable[[], None]:
        """Serve the registry over HTTP at `address`:`port`, on a thread; returns what stops it.

        No address means every address: IPv6's any-address also takes IPv4 on Linux; a host without
        IPv6 gets IPv4's."""
        try:
            server, _ = start_http_server(port, address or "::", self.registry)
        except OSError:
            if address:
                raise
            server, _ = start_http_server(port, "0.0.0.0", self.registry)  # noqa: S104  as asked

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return stop
