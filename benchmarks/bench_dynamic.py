"""How long a running pod waits for a network its annotation gained (or lost), beyond the delegate's time.

A real daemon serves a pod attached through the native shim (eth0 + 2 bridge networks). Each round the
pod's networks annotation gains a third bridge network through the API server, as `kubectl annotate`
does, and the benchmark polls the pod's network namespace (every millisecond) until `net3` is there
with its address (the plugin's last step);
then the annotation loses it again, until `net3` is gone. In the same round the same bridge plugin is run
directly for the same network (ADD, then DEL) on another interface of the same namespace: the
delegate's own time. Prints median and p95 of each and the overhead (latency minus the direct run),
next to the goal (100 ms at the median).

Needs root. Usage: python -m benchmarks.bench_dynamic [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.support import (
    NETWORKS_ANNOTATION,
    Node,
    Sandbox,
    daemon,
    emit,
    ms,
    node,
    percentile,
    shims,
    summary,
    timed_run,
)
from multus.cni import parse_network_config, parse_result, plugin_stdin
from multus.netns import Link, interfaces
from tests.testenv import CNI_BIN, running

GOAL_OVERHEAD_MS = 100.0
WARMUP = 2
POLL_SECONDS = 0.001
WAIT_LIMIT_SECONDS = 30.0


def annotate(world: Node, box: Sandbox, networks: str) -> float:
    """Patch the pod's annotation; the monotonic time the API server answered."""
    body = {"metadata": {"annotations": {NETWORKS_ANNOTATION: networks}}}
    world.core.patch_namespaced_pod(box.pod, box.namespace, body)
    return time.perf_counter()


def until(box: Sandbox, condition: Callable[[Mapping[str, Link]], bool], since: float) -> float:
    deadline = time.perf_counter() + WAIT_LIMIT_SECONDS
    while not condition(interfaces(box.netns)):
        if time.perf_counter() > deadline:
            raise SystemExit(f"the pod's interfaces did not follow its annotation in {WAIT_LIMIT_SECONDS:g}s")
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - since


def direct_round(config: dict[str, Any], box: Sandbox) -> tuple[float, float]:
    """The bridge plugin's own ADD and DEL of the same network, on `direct0` of the same namespace."""
    conflist = parse_network_config(json.dumps(config))
    stdin = plugin_stdin(conflist, conflist.plugins[0])
    bridge = str(CNI_BIN / "bridge")
    added, status, output = timed_run([bridge], box.environment("ADD", "direct0"), stdin)
    if status != 0:
        raise SystemExit(f"direct ADD failed: {output!r}")
    stdin = plugin_stdin(conflist, conflist.plugins[0], prev_result=parse_result(output))
    deleted, status, output = timed_run([bridge], box.environment("DEL", "direct0"), stdin)
    if status != 0:
        raise SystemExit(f"direct DEL failed: {output!r}")
    return added, deleted


def stats(samples: list[float]) -> dict[str, float]:
    return {"median_ms": ms(statistics.median(samples)), "p95_ms": ms(percentile(samples, 0.95))}


def run(rounds: int, root: Path) -> list[dict[str, Any]]:
    measured, missing = shims(root / "bin")
    if missing:
        raise SystemExit(missing)
    native = measured[0]
    samples: dict[str, list[float]] = {"attach": [], "detach": [], "direct ADD": [], "direct DEL": []}
    with running(root / "testenv") as env, node(env, root / "node") as world, daemon(world) as served:
        third = world.bridge_network("net-c")
        world.create_nad(third.name, third.config)
        box = world.sandbox()
        stdin = served.node_config.read_bytes()
        _, status, output = timed_run(native.argv, box.environment("ADD"), stdin)
        if status != 0:
            raise SystemExit(f"ADD failed: {output!r}")
        before = ",".join(network.name for network in world.extra)
        for round_number in range(WARMUP + rounds):
            added_to = annotate(world, box, f"{before},{third.name}")
            attach = until(box, lambda links: bool("net3" in links and links["net3"].addresses), added_to)
            detach = until(box, lambda links: "net3" not in links, annotate(world, box, before))
            added, deleted = direct_round({"cniVersion": "1.1.0", "name": third.name, **third.config}, box)
            if round_number >= WARMUP:
                for key, value in (
                    ("attach", attach),
                    ("detach", detach),
                    ("direct ADD", added),
                    ("direct DEL", deleted),
                ):
                    samples[key].append(value)
        _, status, output = timed_run(native.argv, box.environment("DEL"), stdin)
        if status != 0:
            raise SystemExit(f"DEL failed: {output!r}")
        time.sleep(0.5)
        left = world.leftovers([box])
        if left:
            raise SystemExit(f"left behind after DEL: {left}")
    lines = []
    for change, direct, seen in (("attach", "direct ADD", "there"), ("detach", "direct DEL", "gone")):
        overhead = statistics.median(samples[change]) - statistics.median(samples[direct])
        lines.append(
            {
                "bench": f"dynamic {change}: annotation change to interface {seen}",
                "rounds": rounds,
                "latency": stats(samples[change]),
                "delegate": stats(samples[direct]),
                "overhead_median_ms": ms(overhead),
                "goal_overhead_median_ms": GOAL_OVERHEAD_MS,
            }
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        lines = run(args.rounds, Path(folder))
    for line in lines:
        emit(line)
    attach, detach = lines
    summary(
        f"dynamic networks, {args.rounds} rounds: attach {attach['latency']['median_ms']} ms "
        f"(delegate {attach['delegate']['median_ms']} ms, overhead {attach['overhead_median_ms']} ms), "
        f"detach {detach['latency']['median_ms']} ms (overhead {detach['overhead_median_ms']} ms); "
        f"goal < {GOAL_OVERHEAD_MS:g} ms overhead"
    )


if __name__ == "__main__":
    main()
