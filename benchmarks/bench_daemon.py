"""What thick mode adds to a pod's ADD and DEL: shim → daemon, against running the same delegates directly.

A real `multus-daemon` serves a real API server (tests.testenv) on loopback. Two pod shapes, each with a
daemon of its own:

- `eth0+2 bridges`: `eth0` is the cluster network (bridge + host-local) of the runtime's conf dir, the
  node config's `clusterNetwork` names its file; two NAD networks (bridge + host-local each), so one ADD
  runs the bridge plugin three times. Plugins get the bench's environment and the CNI variables.
- `eth0 bridge + bridge + macvlan`: the daemon's `clusterNetwork` is the cluster network's *name*,
  found in `confDir` (looked up as a NAD first, as upstream does); net1 is a bridge NAD, net2 a NAD
  config list of macvlan (on a veth made for the run, static IPAM) and tuning, selected with `ips` and
  `mac`. The runtime gives its plugins only PATH and the CNI variables. One ADD runs four plugins.

Each round, in rotating order:

- direct: the pod's plugin calls (ADDs, then DELs in reverse with their prevResult) exec'd one after the
  other with the stdin and CNI_ARGS the daemon would give them, from this process, with the environment
  a runtime's libcni gives them (the daemon's delegates get the daemon's);
- each shim (native, Python): one exec of the shim with the node's 00-multus.conf on stdin, as the
  runtime does; the daemon resolves the NADs from its caches, runs the same plugins, writes the pod's
  network-status and Events.

Every operation starts after a pause of SETTLE_SECONDS, whichever way it goes: the previous one's
background work (network-status and Events written after the reply, the API server's handling of them
on this same machine, the kernel's deferred cleanup of deleted links) must not land in it. A runtime
never deletes a sandbox milliseconds after creating it.

Then each shape runs once more, direct and native shim only, while a process spins on one core for
the duration (`busy_core`): the overhead on a busy node.

Prints one JSON line per shape, load, command and shim: median and p95 of each way, the ratio and the
overhead (shim minus direct) in ms, next to the goal (5 ms at the median with the native shim).
Needs root. Usage: python -m benchmarks.bench_daemon [--rounds N] [--load-rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
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
    Shape,
    Shim,
    bridges_shape,
    busy_core,
    daemon,
    emit,
    interleaved_rounds,
    macvlan_shape,
    ms,
    node,
    percentile,
    require_native,
    shims,
    summary,
    timed_run,
)
from tests.testenv import running

GOAL_OVERHEAD_MS = 5.0
WARMUP = 5
SECONDS_PER_LOADED_ROUND = 3.0  # the busy loop's bound: far more than a round takes on a busy node


def through_shim(shim: Shim, served: Daemon, box: Sandbox, command: str) -> float:
    elapsed, status, output = timed_run(shim.argv, box.environment(command), served.node_config.read_bytes())
    if status != 0:
        raise SystemExit(f"{shim.name} shim {command} failed: {output!r}")
    return elapsed


def measure(
    shape: Shape, served: Daemon, measured: list[Shim], rounds: int
) -> dict[tuple[str, str], list[float]]:
    """`rounds` interleaved rounds of direct and each shim, after WARMUP rounds."""
    by_name = {shim.name: shim for shim in measured}
    ways = {
        name: lambda way, command: through_shim(by_name[way], served, shape.box, command) for name in by_name
    }
    return interleaved_rounds(shape.box, shape.direct, ways, rounds, WARMUP)


def report(
    shape: str, command: str, shim: str, direct: list[float], layer: list[float], *, loaded: bool
) -> dict[str, Any]:
    direct_median, layer_median = statistics.median(direct), statistics.median(layer)
    load = ", one core busy" if loaded else ""
    line = {
        "bench": f"pod {command} {shape}{load}: {shim} shim -> daemon vs direct delegates",
        "shape": shape,
        "load": "busy core" if loaded else "none",
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


def run(rounds: int, load_rounds: int, root: Path, samples_file: Path | None = None) -> list[dict[str, Any]]:
    measured, missing = shims(root / "bin")
    if missing:
        if require_native():
            raise SystemExit(missing)
        emit({"bench": "pod ADD/DEL: native shim", "missing": missing})
    lines: list[dict[str, Any]] = []
    # Every sample in seconds, by "command, shape" and way, for benchmarks/plots.py (idle runs only).
    by_command: dict[str, dict[str, list[float]]] = {}
    with running(root / "testenv") as env, node(env, root / "node") as world:
        for shape in (bridges_shape(world), macvlan_shape(world)):
            with daemon(world, **shape.settings) as served:
                runs = [(False, measured, rounds)]
                if load_rounds:
                    runs.append((True, measured[:1], load_rounds))
                for loaded, ways, count in runs:
                    busy = busy_core(count * SECONDS_PER_LOADED_ROUND) if loaded else contextlib.nullcontext()
                    with busy:
                        samples = measure(shape, served, ways, count)
                    for (way, command), values in samples.items():
                        if not loaded:
                            by_command.setdefault(f"{command}, {shape.name}", {})[way] = values
                    lines += [
                        report(
                            shape.name,
                            command,
                            shim.name,
                            samples["direct", command],
                            samples[shim.name, command],
                            loaded=loaded,
                        )
                        for shim in ways
                        for command in ("ADD", "DEL")
                    ]
                time.sleep(0.5)  # network-status writes still queued, if the daemon defers them
                left = world.leftovers([shape.box])
                if left:
                    raise SystemExit(f"left behind after DEL: {left}")
                metrics = served.metrics()
                requests = {
                    key: value for key, value in metrics.items() if key.startswith("multus_requests_total")
                }
                # Cache misses read the API server: a cluster network named after a conf file costs one
                # every 30 s at most, the time the cache view believes the NAD absent.
                emit(
                    {
                        "bench": f"pod ADD/DEL {shape.name}: daemon requests served",
                        "requests": requests,
                        "cache_misses": metrics.get("multus_cache_misses_total", 0.0),
                    }
                )
    if samples_file is not None:
        samples_file.parent.mkdir(parents=True, exist_ok=True)
        samples_file.write_text(json.dumps(by_command))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--load-rounds", type=int, default=100, help="rounds under load per shape; 0: none")
    parser.add_argument("--samples", type=Path, help="also write every sample to this JSON file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        lines = run(args.rounds, args.load_rounds, Path(folder), args.samples)
    parts = [
        f"{line['shape']}{' (busy core)' if line['load'] != 'none' else ''}: {line['command']} {line['shim']}"
        f" +{line['overhead_median_ms']} ms ({line['ratio']}x)"
        for line in lines
    ]
    summary("shim -> daemon overhead at the median vs direct delegates: " + ", ".join(parts))


if __name__ == "__main__":
    main()
