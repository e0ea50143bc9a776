"""Each shim's own cost: start, forward one request to a daemon that does nothing, print, exit.

The daemon here is the daemon's own HTTP server (multus.daemon.http) on a unix socket, answering
`/readyz` with 200 and `/cni` with `{"Result": null}` at once, so what is measured is the shim: process
start-up, reading stdin, the HTTP round trip over the socket, printing. `requests` counts what the
daemon received per run. `/bin/true` is exec'd the same way as the floor of any exec from this process.

Prints one JSON line per shim and command (median, p95 in ms) and a summary line.
Usage: python -m benchmarks.bench_shim [--iterations N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.support import SYSTEM_PATH, emit, ms, percentile, require_native, shims, summary, timed_run
from multus.daemon.http import HTTPServer, Request
from multus.daemon.settings import DaemonConfig

WARMUP = 5


@contextmanager
def noop_daemon(socket_dir: Path) -> Iterator[Counter[str]]:
    """The no-op daemon, in a thread of its own with its own event loop; yields its request counts."""
    socket_dir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    received: Counter[str] = Counter()

    async def readyz(request: Request) -> None:
        received["readyz"] += 1
        request.respond(200, {"ready": True})

    async def cni(request: Request) -> None:
        received["cni"] += 1
        request.respond(200, {"Result": None})

    async def serve() -> None:
        server = HTTPServer(
            {"/readyz": {"GET": readyz}, "/cni": {"POST": cni}},
            max_body=DaemonConfig.make().max_request_bytes,
        )
        await server.start(str(socket_dir / "multus.sock"))
        started.set()
        await stop.wait()
        await server.close(1.0)

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    if not started.wait(30):
        raise SystemExit("the no-op daemon did not start")
    try:
        yield received
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def measure(argv: tuple[str, ...], env: dict[str, str], stdin: bytes, iterations: int) -> list[float]:
    samples = []
    for number in range(WARMUP + iterations):
        elapsed, status, output = timed_run(argv, env, stdin)
        if status != 0:
            raise SystemExit(f"{argv[0]} failed: {output!r}")
        if number >= WARMUP:
            samples.append(elapsed)
    return samples


def environment(command: str) -> dict[str, str]:
    return {
        "PATH": SYSTEM_PATH,
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "bench0123456789",
        "CNI_NETNS": "/var/run/netns/bench-none",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=pod;K8S_POD_UID=0000",
        "CNI_PATH": "/opt/cni/bin",
    }


def run(iterations: int, root: Path) -> dict[str, float]:
    measured, missing = shims(root / "bin")
    if missing:
        if require_native():
            raise SystemExit(missing)
        emit({"bench": "shim start-and-forward: native", "missing": missing})
    stdin = json.dumps(
        {"cniVersion": "1.1.0", "name": "multus-cni-network", "type": "multus-shim", "socketDir": str(root)}
    ).encode()
    floor = measure(("/bin/true",), environment("ADD"), b"", iterations)
    emit(
        {
            "bench": "exec floor: /bin/true",
            "iterations": iterations,
            "median_ms": ms(statistics.median(floor)),
            "p95_ms": ms(percentile(floor, 0.95)),
        }
    )
    medians: dict[str, float] = {}
    with noop_daemon(root) as received:
        for shim in measured:
            for command in ("ADD", "DEL"):
                received.clear()
                samples = measure(shim.argv, environment(command), stdin, iterations)
                runs = WARMUP + iterations
                medians[f"{shim.name} {command}"] = ms(statistics.median(samples))
                emit(
                    {
                        "bench": f"shim start-and-forward: {shim.name} {command} against a no-op daemon",
                        "iterations": iterations,
                        "median_ms": ms(statistics.median(samples)),
                        "p95_ms": ms(percentile(samples, 0.95)),
                        "requests": round(sum(received.values()) / runs, 2),
                    }
                )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="multus-bench-shim-") as folder:
        medians = run(args.iterations, Path(folder))
    summary(
        "shim start-and-forward at the median: "
        + ", ".join(f"{name} {value} ms" for name, value in medians.items())
    )


if __name__ == "__main__":
    main()
