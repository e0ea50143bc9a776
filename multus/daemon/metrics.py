"""Prometheus metrics of the node daemon, in a registry of its own (tests run several daemons).

`multus_server_request_total` is upstream's, labelled as upstream's promhttp labels it, so dashboards
and alerts made for upstream Multus keep working; the others are ours."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
