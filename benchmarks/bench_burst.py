"""50 pods ADDed at once through shim → daemon, as on a node that reboots or takes a burst of pods.

A real daemon serves a real API server. 50 pods (eth0 + 2 NAD networks each: three bridge plugin runs)
are created on the daemon's node and the daemon's pod cache is allowed to see them; then 50 shims are
started at the same moment, one per pod. Each ADD's latency runs from its shim's start to its exit.
Then the 50 DELs go the same way, and nothing may be left behind.

Prints the ADD and DEL latency (median, p99), the wall time of the whole burst and the error count
(which must be 0: the benchmark fails otherwise). Uses the native shim when it is built (what the
DaemonSet installs), the Python one otherwise. Needs root.
Usage: python -m benchmarks.bench_burst [--pods N] [--samples FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.support import (
    Daemon,
    Sandbox,
    Shim,
    daemon,
    emit,
    ms,
    node,
    percentile,
    require_native,
    shims,
    summary,
)
from tests.testenv import running

MAX_CONCURRENT = 16  # as deploy/node/daemon-config.yaml sets it


async def one(shim: Shim, served: Daemon, box: Sandbox, command: str, stdin: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *shim.argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=box.environment(command),
    )
    output, _ = await process.communicate(stdin)
    elapsed = time.perf_counter() - started
    return elapsed, "" if process.returncode == 0 else output.decode(errors="replace")


async def burst(
    shim: Shim, served: Daemon, boxes: list[Sandbox], command: str
) -> tuple[list[float], list[str], float]:
    stdin = served.node_config.read_bytes()
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(shim, served, box, command, stdin) for box in boxes))
    wall = time.perf_counter() - started
    return [elapsed for elapsed, _ in outcomes], [error for _, error in outcomes if error], wall


def wait_for_cache(served: Daemon, pods: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while served.metrics().get('multus_cache_objects{kind="pods"}', 0) < pods:
        if time.monotonic() > deadline:
            raise SystemExit(f"the daemon's pod cache did not reach {pods} pods")
        time.sleep(0.2)


def run(pods: int, root: Path, samples_file: Path | None = None) -> list[dict[str, Any]]:
    measured, missing = shims(root / "bin")
    if missing and require_native():
        raise SystemExit(missing)
    shim = measured[0]
    lines = []
    raw: dict[str, Any] = {"pods": pods}  # every latency in seconds, by command, for benchmarks/plots.py
    with (
        running(root / "testenv") as env,
        node(env, root / "node") as world,
        daemon(world, maxConcurrentRequests=MAX_CONCURRENT) as served,
    ):
        boxes = [world.sandbox() for _ in range(pods)]
        wait_for_cache(served, pods)
        for command in ("ADD", "DEL"):
            latencies, errors, wall = asyncio.run(burst(shim, served, boxes, command))
            raw[command] = latencies
            line = {
                "bench": f"{pods} pods {command} at once: {shim.name} shim -> daemon, eth0 + 2 networks each",
                "pods": pods,
                "max_concurrent_requests": MAX_CONCURRENT,
                "median_ms": ms(statistics.median(latencies)),
                "p99_ms": ms(percentile(latencies, 0.99)),
                "max_ms": ms(max(latencies)),
                "wall_ms": ms(wall),
                "errors": len(errors),
                "goal_errors": 0,
            }
            emit(line)
            lines.append(line)
            if errors:
                raise SystemExit(f"{len(errors)} {command}s failed, first: {errors[0]}")
        left = world.leftovers(boxes)
        if left:
            raise SystemExit(f"left behind after DEL: {left[:10]}")
    if samples_file is not None:
        samples_file.parent.mkdir(parents=True, exist_ok=True)
        samples_file.write_text(json.dumps(raw))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--samples", type=Path, help="also write every latency to this JSON file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        lines = run(args.pods, Path(folder), args.samples)
    summary(
        "; ".join(
            f"{line['pods']} concurrent {command}s: median {line['median_ms']} ms, p99 {line['p99_ms']} ms,"
            f" all done in {line['wall_ms']} ms, {line['errors']} errors"
            for command, line in zip(("ADD", "DEL"), lines, strict=True)
        )
    )


if __name__ == "__main__":
    main()
