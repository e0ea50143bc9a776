"""What thick mode adds to a pod's ADD and DEL: shim → daemon, against running the same delegates directly.

A real `multus-daemon` serves a real API server (tests.testenv) on loopback. The pod has `eth0` (the
cluster network: bridge + host-local) and two NAD networks (bridge + host-local each), so one ADD runs
the bridge plugin three times. Each round, in rotating order:

- direct: the three bridge ADDs (then DELs, in reverse, with their prevResult) exec'd one after the
  other with the stdin the daemon would give them, from this process, with this process's environment
  and the CNI variables, as a runtime's libcni gives them (the daemon's delegates get the daemon's);
- each shim (native, Python): one exec of the shim with the node's 00-multus.conf on stdin, as the
  runtime does; the daemon resolves the NADs from its caches, runs the same three plugins, writes the
  pod's network-status and Events.

Every operation starts after a pause of SETTLE_SECONDS, whichever way it goes: the previous one's
background work (network-status and Events written after the reply, the API server's handling of them
on this same machine, the kernel's deferred cleanup of deleted links) must not land in it. A runtime
never deletes a sandbox milliseconds after creating it.

Prints one JSON line per command and shim: median and p95 of each way, the ratio and the overhead
(shim minus direct) in ms, next to the goal (5 ms at the median with the native shim).
Needs root. Usage: python -m benchmarks.bench_daemon [--rounds N] [--samples FILE]
"""

from __future__ import annotations

import argparse
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
    Node,
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
    timed_run,
)
from multus.cni import parse_network_config, parse_result, plugin_stdin
from tests.testenv import CNI_BIN, running

GOAL_OVERHEAD_MS = 5.0
WARMUP = 5
SETTLE_SECONDS = 0.1


class Direct:
    """The pod's three delegates, exec'd directly: eth0 (cluster network), net1, net2."""

    def __init__(self, world: Node) -> None:
        cluster = json.loads((world.conf_dir / "10-cluster.conflist").read_text())
        configs: list[dict[str, Any]] = [
            cluster,
            *({"cniVersion": "1.1.0", "name": n.name, **n.config} for n in world.extra),
        ]
        self.delegates = [
            (ifname, parse_network_config(config))
            for ifname, config in zip(("eth0", "net1", "net2"), configs, strict=True)
        ]
        self.bridge = str(CNI_BIN / "bridge")

    def add(self, box: Sandbox) -> tuple[float, list[Any]]:
        elapsed, results = 0.0, []
        for ifname, conflist in self.delegates:
            stdin = plugin_stdin(conflist, conflist.plugins[0])
            took, status, output = timed_run([self.bridge], box.environment("ADD", ifname), stdin)
            if status != 0:
                raise SystemExit(f"direct ADD of {ifname} failed: {output!r}")
            elapsed += took
            results.append(parse_result(output))
        return elapsed, results

    def delete(self, box: Sandbox, results: list[Any]) -> float:
        elapsed = 0.0
        for (ifname, conflist), result in reversed(list(zip(self.delegates, results, strict=True))):
            stdin = plugin_stdin(conflist, conflist.plugins[0], prev_result=result)
            took, status, output = timed_run([self.bridge], box.environment("DEL", ifname), stdin)
            if status != 0:
                raise SystemExit(f"direct DEL of {ifname} failed: {output!r}")
            elapsed += took
        return elapsed


def through_shim(shim: Shim, served: Daemon, box: Sandbox, command: str) -> float:
    elapsed, status, output = timed_run(shim.argv, box.environment(command), served.node_config.read_bytes())
    if status != 0:
        raise SystemExit(f"{shim.name} shim {command} failed: {output!r}")
    return elapsed


def report(command: str, shim: str, direct: list[float], layer: list[float]) -> dict[str, Any]:
    direct_median, layer_median = statistics.median(direct), statistics.median(layer)
    line = {
        "bench": f"pod {command} eth0+2 networks: {shim} shim -> daemon vs direct delegates",
        "shim": shim,
        "command": command,
        "rounds": len(direct),
        "direct_median_ms": ms(direct_median),
        "direct_p95_ms": ms(percentile(direct, 0.95)),
        "daemon_median_ms": ms(layer_median),
        "daemon_p95_ms": ms(percentile(layer, 0.95)),
        "ratio": round(layer_median / direct_median, 3),
        "overhead_median_ms": ms(layer_median - direct_median),
        "overhead_p95_ms": ms(percentile(layer, 0.95) - percentile(direct, 0.95)),
        "goal_overhead_median_ms": GOAL_OVERHEAD_MS if shim == "native" else None,
    }
    emit(line)
    return line


def run(rounds: int, root: Path, samples_file: Path | None = None) -> list[dict[str, Any]]:
    measured, missing = shims(root / "bin")
    if missing:
        if require_native():
            raise SystemExit(missing)
        emit({"bench": "pod ADD/DEL: native shim", "missing": missing})
    samples: dict[tuple[str, str], list[float]] = {}
    with running(root / "testenv") as env, node(env, root / "node") as world, daemon(world) as served:
        direct = Direct(world)
        box = world.sandbox()
        ways = ["direct", *(shim.name for shim in measured)]
        by_name = {shim.name: shim for shim in measured}
        for round_number in range(WARMUP + rounds):
            turn = ways[round_number % len(ways) :] + ways[: round_number % len(ways)]
            timings: dict[tuple[str, str], float] = {}
            for way in turn:
                box.container_id = f"bench{os.urandom(10).hex()}"
                time.sleep(SETTLE_SECONDS)
                if way == "direct":
                    timings[way, "ADD"], results = direct.add(box)
                    time.sleep(SETTLE_SECONDS)
                    timings[way, "DEL"] = direct.delete(box, results)
                else:
                    timings[way, "ADD"] = through_shim(by_name[way], served, box, "ADD")
                    time.sleep(SETTLE_SECONDS)
                    timings[way, "DEL"] = through_shim(by_name[way], served, box, "DEL")
            if round_number >= WARMUP:
                for key, value in timings.items():
                    samples.setdefault(key, []).append(value)
        time.sleep(0.5)  # network-status writes still queued, if the daemon defers them
        left = world.leftovers([box])
        if left:
            raise SystemExit(f"left behind after DEL: {left}")
        requests = {
            key: value for key, value in served.metrics().items() if key.startswith("multus_requests_total")
        }
    lines = [
        report(command, shim.name, samples["direct", command], samples[shim.name, command])
        for shim in measured
        for command in ("ADD", "DEL")
    ]
    emit({"bench": "pod ADD/DEL: daemon requests served", "requests": requests})
    if samples_file is not None:  # every sample in seconds, by command and way, for benchmarks/plots.py
        by_command: dict[str, dict[str, list[float]]] = {}
        for (way, command), values in samples.items():
            by_command.setdefault(command, {})[way] = values
        samples_file.parent.mkdir(parents=True, exist_ok=True)
        samples_file.write_text(json.dumps(by_command))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--samples", type=Path, help="also write every sample to this JSON file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        lines = run(args.rounds, Path(folder), args.samples)
    parts = [
        f"{line['command']} {line['shim']} +{line['overhead_median_ms']} ms ({line['ratio']}x)"
        for line in lines
    ]
    summary("shim -> daemon overhead at the median vs direct delegates: " + ", ".join(parts))


if __name__ == "__main__":
    main()
