"""Prometheus metrics of the node daemon, in a registry of its own (tests run several daemons).

`multus_server_request_total` is upstream's, labelled as upstream's promhttp labels it, so dashboards
and alerts made for upstream Multus keep working; the others are ours. The three kinds the daemon uses
(counters, gauges, histograms, each with labels) and their text exposition (format 0.0.4) are written
here, and served on the daemon's event loop: prometheus_client would bring its own HTTP server, thread
and WSGI stack, 1.2 MiB of the daemon's memory (benchmarks/RESULTS.md)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

# Pod operations take from a few milliseconds (cached DEL) to tens of seconds (slow IPAM).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# How long a scraper may take to send its request.
REQUEST_SECONDS = 10.0


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _selector(names: Sequence[str], values: Sequence[str]) -> str:
    pairs = ",".join(f'{name}="{_escaped(value)}"' for name, value in zip(names, values, strict=True))
    return f"{{{pairs}}}" if pairs else ""


class _Value:
    """One labelled series of a counter or a gauge."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._value = 0.0
        self._function: Callable[[], float] | None = None

    def inc(self, amount: float = 1.0) -> None:
        with self._lock:  # delegates' timings are observed from worker threads too
            self._value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.inc(-amount)

    def set_function(self, function: Callable[[], float]) -> None:
        """The value is `function()` when scraped."""
        self._function = function

    def get(self) -> float:
        return float(self._function()) if self._function is not None else self._value


class _Buckets:
    """One labelled series of a histogram."""

    def __init__(self, lock: threading.Lock, bounds: Sequence[float]) -> None:
        self._lock = lock
        self.bounds = (*bounds, math.inf)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        with self._lock:
            self.sum += value
            for index, bound in enumerate(self.bounds):
                if value <= bound:
                    self.counts[index] += 1
                    break


Series = TypeVar("Series", _Value, _Buckets)


class _Family(ABC, Generic[Series]):
    """A metric and its series, one per combination of label values; a metric without labels has its
    one series, and its sample, from the start."""

    type = ""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: Registry,
        new: Callable[[threading.Lock], Series],
    ) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self._lock = threading.Lock()
        self._new: Callable[[threading.Lock], Series] = new
        self._series: dict[tuple[str, ...], Series] = {}
        registry.families.append(self)
        if not self.labelnames:
            self._unlabelled()

    def labels(self, *values: str) -> Series:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected, got {len(values)}")
        series = self._series.get(values)
        if series is None:
            with self._lock:
                series = self._series.setdefault(values, self._new(self._lock))
        return series

    def _unlabelled(self) -> Series:
        return self.labels()

    @abstractmethod
    def lines(self) -> Iterator[str]:
        """The family's lines of the exposition."""


class _OneValueFamily(_Family[_Value]):
    """A family whose series are one number each, exported under `sample`."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str] = (), *, registry: Registry
    ) -> None:
        super().__init__(name, documentation, labelnames, registry, _Value)

    @property
    def sample(self) -> str:
        return self.name

    def inc(self, amount: float = 1.0) -> None:
        self._unlabelled().inc(amount)

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.sample} {self.documentation}"
        yield f"# TYPE {self.sample} {self.type}"
        for values, series in list(self._series.items()):
            yield f"{self.sample}{_selector(self.labelnames, values)} {_number(series.get())}"


class Counter(_OneValueFamily):
    """Exported as `<name>_total`; `name` may end in `_total` already."""

    type = "counter"

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str] = (), *, registry: Registry
    ) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames, registry=registry)

    @property
    def sample(self) -> str:
        return f"{self.name}_total"


class Gauge(_OneValueFamily):
    type = "gauge"

    def dec(self, amount: float = 1.0) -> None:
        self._unlabelled().dec(amount)


class Histogram(_Family[_Buckets]):
    type = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: Registry,
    ) -> None:
        bounds = tuple(sorted(buckets))
        super().__init__(name, documentation, labelnames, registry, lambda lock: _Buckets(lock, bounds))

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.documentation}"
        yield f"# TYPE {self.name} histogram"
        names = (*self.labelnames, "le")
        for values, series in list(self._series.items()):
            with self._lock:
                counts, total = list(series.counts), series.sum
            cumulative = 0
            for bound, count in zip(series.bounds, counts, strict=True):
                cumulative += count
                yield f"{self.name}_bucket{_selector(names, (*values, _number(bound)))} {cumulative}.0"
            selector = _selector(self.labelnames, values)
            yield f"{self.name}_count{selector} {cumulative}.0"
            yield f"{self.name}_sum{selector} {_number(total)}"


class Registry:
    def __init__(self) -> None:
        self.families: list[_Family[_Value] | _Family[_Buckets]] = []

    def collect(self) -> list[_Family[_Value] | _Family[_Buckets]]:
        return list(self.families)

    def exposition(self) -> bytes:
        """Every family in the text format Prometheus scrapes."""
        return "".join(f"{line}\n" for family in self.families for line in family.lines()).encode()


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = Registry()
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

    async def serve(self, address: str | None, port: int) -> asyncio.Server:
        """Serve the registry over HTTP at `address`:`port` (GET /metrics) on the running event loop.

        No address means every address, IPv4's and IPv6's; a host without IPv6 gets IPv4's."""
        try:
            return await asyncio.start_server(self._answer, address, port)
        except OSError:
            if address:
                raise
            return await asyncio.start_server(self._answer, "0.0.0.0", port)  # noqa: S104  as asked

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request per connection: the metrics for GET or HEAD /metrics, 404 or 405 otherwise."""
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")  # headers are not needed
            method, _, rest = head.partition(b"\r\n")[0].decode("latin-1").partition(" ")
            target, _, version = rest.partition(" ")
            if not version.startswith("HTTP/1."):
                status, body = "400 Bad Request", b"not an HTTP/1 request\n"
            elif target.partition("?")[0] != "/metrics":
                status, body = "404 Not Found", b"only /metrics is served here\n"
            elif method not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", b"GET /metrics\n"
            else:
                status, body = "200 OK", self.registry.exposition()
            lines = [
                f"HTTP/1.1 {status}",
                f"Content-Type: {CONTENT_TYPE if status == '200 OK' else 'text/plain'}",
                f"Content-Length: {len(body)}",
                "Connection: close",
            ]
            writer.write("\r\n".join([*lines, "", ""]).encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a scraper gone, silent or not speaking HTTP: its connection just closes
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
