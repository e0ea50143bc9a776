"""50 pods ADDed at once through shim → daemon, as on a node that reboots or takes a burst of pods.

A real daemon serves a real API server. 50 pods (eth0 + 2 NAD networks each: three bridge plugin runs)
are created on the daemon's node and the daemon's pod cache is allowed to see them; then 50 shims are
started at the same moment, one per pod. Each ADD's latency runs from its shim's start to its exit.
Once the daemon has reported every pod (network-status and Events, which it writes when no request is
under way), the 50 DELs go the same way, and nothing may be left behind.

The floor: the same 150 delegate calls run directly, 50 pods at once (each pod's three plugins one
after the other, with the stdin and environment the daemon gives them), ADDs then DELs, in the same
sandboxes under new container IDs. Each pod's latency runs from its first plugin's start to its last
plugin's exit.

Prints the ADD and DEL latency (median, p99) of both ways, the wall time of each burst, the error count
(which must be 0: the benchmark fails otherwise) and the ratio daemon/direct at p50 and p99 (goal ≤ 1.2
each). Uses the native shim when it is built (what the DaemonSet installs), the Python one otherwise.
Needs root.
Usage: python -m benchmarks.bench_burst [--pods N]
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
    Delegate,
    Sandbox,
    Shim,
    bridges_delegates,
    daemon,
    emit,
    ms,
    node,
    percentile,
    require_native,
    shims,
    summary,
)
from multus.cni import Result, parse_result
from tests.testenv import running

MAX_CONCURRENT = 16  # as deploy/node/daemon-config.yaml sets it
GOAL_RATIO = 1.2


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


async def run_plugin(argv: list[str], environment: dict[str, str], stdin: bytes) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=environment,
    )
    output, _ = await process.communicate(stdin)
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {output.decode(errors='replace')}")
    return output


async def direct_pod(
    delegates: list[Delegate], box: Sandbox, command: str, results: list[Result]
) -> tuple[float, str]:
    """One pod's plugins, one after the other; ADD fills `results`, DEL undoes them in reverse."""
    started = time.perf_counter()
    try:
        if command == "ADD":
            for delegate in delegates:
                result: Result | None = None
                for plugin in delegate.conflist.plugins:
                    result = parse_result(
                        await run_plugin(*delegate.invocation(box, command, plugin, result))
                    )
                assert result is not None
                results.append(result)
        else:
            for delegate, added in reversed(list(zip(delegates, results, strict=True))):
                for plugin in reversed(delegate.conflist.plugins):
                    await run_plugin(*delegate.invocation(box, command, plugin, added))
    except RuntimeError as error:
        return time.perf_counter() - started, str(error)
    return time.perf_counter() - started, ""


async def direct_burst(
    delegates: list[Delegate], boxes: list[Sandbox], command: str, results: dict[str, list[Result]]
) -> tuple[list[float], list[str], float]:
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(direct_pod(delegates, box, command, results.setdefault(box.pod, [])) for box in boxes)
    )
    wall = time.perf_counter() - started
    return [elapsed for elapsed, _ in outcomes], [error for _, error in outcomes if error], wall


def wait_for_cache(served: Daemon, pods: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while served.metrics().get('multus_cache_objects{kind="pods"}', 0) < pods:
        if time.monotonic() > deadline:
            raise SystemExit(f"the daemon's pod cache did not reach {pods} pods")
        time.sleep(0.2)


def wait_for_reports(served: Daemon, boxes: list[Sandbox], timeout: float = 60.0) -> None:
    """Until the daemon has written every pod's network-status and Events, which it does once no request
    is under way: the DELs are measured as a burst of their own, as the ADDs were, not under the ADDs'
    reports (a node's pods are not deleted the moment they have started)."""
    wanted = {box.container_id for box in boxes}
    deadline = time.monotonic() + timeout
    while True:
        lines = served.log_file.read_text().splitlines()
        reported = {json.loads(line).get("container") for line in lines if '"pod reported"' in line}
        if wanted <= reported:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the daemon reported {len(wanted & reported)} of {len(wanted)} pods")
        time.sleep(0.2)


def figures(latencies: list[float], wall: float) -> dict[str, float]:
    return {
        "median_ms": ms(statistics.median(latencies)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(max(latencies)),
        "wall_ms": ms(wall),
    }


def run(pods: int, root: Path, samples_file: Path | None = None) -> list[dict[str, Any]]:
    measured, missing = shims(root / "bin")
    if missing and require_native():
        raise SystemExit(missing)
    shim = measured[0]
    lines = []
    # Every latency in seconds, by command, through the daemon and direct, for benchmarks/plots.py.
    raw: dict[str, Any] = {"pods": pods, "direct": {}}
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
            line: dict[str, Any] = {
                "bench": f"{pods} pods {command} at once: {shim.name} shim -> daemon, eth0 + 2 networks each",
                "pods": pods,
                "max_concurrent_requests": MAX_CONCURRENT,
                **figures(latencies, wall),
                "errors": len(errors),
                "goal_errors": 0,
            }
            emit(line)
            lines.append(line)
            if errors:
                raise SystemExit(f"{len(errors)} {command}s failed, first: {errors[0]}")
            if command == "ADD":
                wait_for_reports(served, boxes)
        left = world.leftovers(boxes)
        if left:
            raise SystemExit(f"left behind after DEL: {left[:10]}")
        delegates, results = bridges_delegates(world), dict[str, list[Result]]()
        for box in boxes:
            box.container_id = f"direct{os.urandom(10).hex()}"
        for command, through in zip(("ADD", "DEL"), lines[:2], strict=True):
            latencies, errors, wall = asyncio.run(direct_burst(delegates, boxes, command, results))
            raw["direct"][command] = latencies
            if errors:
                raise SystemExit(f"{len(errors)} direct {command}s failed, first: {errors[0]}")
            direct: dict[str, Any] = {
                "bench": f"{pods} pods {command} at once: the same {3 * pods} delegate calls direct",
                "pods": pods,
                **figures(latencies, wall),
            }
            emit(direct)
            ratio = {
                "bench": f"{pods} pods {command} at once: daemon / direct",
                "ratio_p50": round(through["median_ms"] / direct["median_ms"], 3),
                "ratio_p99": round(through["p99_ms"] / direct["p99_ms"], 3),
                "goal_ratio": GOAL_RATIO,
            }
            emit(ratio)
            lines.append(ratio)
        left = world.leftovers(boxes)
        if left:
            raise SystemExit(f"left behind after the direct DELs: {left[:10]}")
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
    through, ratios = lines[:2], lines[2:]
    summary(
        "; ".join(
            f"{line['pods']} concurrent {command}s: median {line['median_ms']} ms, p99 {line['p99_ms']} ms,"
            f" all done in {line['wall_ms']} ms, {line['errors']} errors,"
            f" {ratio['ratio_p50']}x / {ratio['ratio_p99']}x the direct calls at p50 / p99"
            for command, line, ratio in zip(("ADD", "DEL"), through, ratios, strict=True)
        )
    )


if __name__ == "__main__":
    main()
