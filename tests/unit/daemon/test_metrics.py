"""The daemon's metrics as Prometheus reads them: the exposition parsed by prometheus_client's own parser,
and the endpoint on loopback answering GET, HEAD, other paths, other methods and garbage."""

from __future__ import annotations

import asyncio
import socket

from prometheus_client.parser import text_string_to_metric_families

from multus.daemon.metrics import CONTENT_TYPE, DaemonMetrics


def samples(metrics: DaemonMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.registry.exposition().decode())
        for sample in family.samples
    }


def test_each_kind_reads_back_as_prometheus_parses_it() -> None:
    metrics = DaemonMetrics()
    metrics.requests.labels("ADD", "ok").inc()
    metrics.requests.labels("ADD", "ok").inc()
    metrics.server_requests.labels("/cni", "200", "post").inc()
    metrics.in_flight.inc()
    metrics.in_flight.inc()
    metrics.in_flight.dec()
    objects = [1, 2, 3]
    metrics.count_cached("pods", objects.__len__)
    for seconds in (0.003, 0.3, 3.0, 300.0):
        metrics.latency.labels("ADD").observe(seconds)
    metrics.delegate_latency.labels('odd"name\\\n', "DEL").observe(0.02)
    objects.append(4)

    found = samples(metrics)

    assert found[("multus_requests_total", (("command", "ADD"), ("result", "ok")))] == 2
    assert (
        found[("multus_server_request_total", (("code", "200"), ("handler", "/cni"), ("method", "post")))]
        == 1
    )
    assert found[("multus_requests_in_flight", ())] == 1
    assert found[("multus_cache_objects", (("kind", "pods"),))] == 4  # read when scraped
    assert found[("multus_cache_misses_total", ())] == 0  # unlabelled: there from the start
    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in found.items()
        if name == "multus_request_duration_seconds_bucket"
    }
    assert (buckets["0.005"], buckets["0.5"], buckets["5.0"], buckets["60.0"], buckets["+Inf"]) == (
        1,
        2,
        3,
        3,
        4,
    )
    assert found[("multus_request_duration_seconds_count", (("command", "ADD"),))] == 4
    assert found[("multus_request_duration_seconds_sum", (("command", "ADD"),))] == 303.303
    odd = (("command", "DEL"), ("plugin", 'odd"name\\\n'))
    assert found[("multus_delegate_duration_seconds_count", odd)] == 1


def test_the_registry_names_each_family_and_its_type() -> None:
    families = {(family.name, family.type) for family in DaemonMetrics().registry.collect()}
    assert ("multus_server_request", "counter") in families  # exported with its _total
    assert ("multus_request_duration_seconds", "histogram") in families
    assert ("multus_requests_in_flight", "gauge") in families


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    writer.write_eof()  # nothing more comes: a request cut short is seen as such at once
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def test_the_endpoint_serves_metrics_only() -> None:
    metrics = DaemonMetrics()
    metrics.requests.labels("DEL", "error").inc()

    async def scenario() -> list[bytes]:
        server = await metrics.serve("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return [
                await exchange(port, request)
                for request in (
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                    b"\x16\x03\x01 not http\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\n",  # the client stops before the head ends
                )
            ]
        finally:
            server.close()
            await server.wait_closed()

    got, head, other, post, garbage, cut = asyncio.run(scenario())

    status, _, body = got.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Type: {CONTENT_TYPE}".encode() in status
    assert b'multus_requests_total{command="DEL",result="error"} 1.0\n' in body
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")  # the headers, no body
    assert other.startswith(b"HTTP/1.1 404 ")
    assert post.startswith(b"HTTP/1.1 405 ")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    assert cut == b""


def test_every_address_takes_ipv4() -> None:
    async def scenario() -> bytes:
        with socket.socket() as probe:  # a free port, then served on every address
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = await DaemonMetrics().serve(None, port)
        try:
            return await exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n")
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()).startswith(b"HTTP/1.1 200 OK\r\n")
