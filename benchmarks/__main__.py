"""`python -m benchmarks` (what `make bench` runs): every benchmark, in order, each in a process of its own.

Each module prints its figures as JSON lines and one `summary:` line; they are passed through as they
come. At the end, one line per goal says whether this run met it. A module that fails (a failed ADD, an
error in the burst, something left behind) makes the whole run fail; a missed goal does not: it is a
figure to report, not a broken build. Last, benchmarks/plots.py draws the samples the modules left in
benchmarks/out/ as PNGs there.

`make bench-scale` (benchmarks.bench_scale: 100 daemons on one API server) is not in the list: it takes
minutes and gigabytes of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from benchmarks import plots
from benchmarks.support import OUT

MODULES = (
    "benchmarks.bench_cni",  # multus.cni's delegate execution vs direct exec
    "benchmarks.bench_shim",  # each shim against a no-op daemon
    "benchmarks.bench_http",  # the daemon's socket server, its own HTTP parser vs h11's (20 rounds)
    "benchmarks.bench_daemon",  # pod ADD/DEL through shim -> daemon vs the same delegates run directly
    "benchmarks.bench_thin",  # the thin `multus` executable: VERSION, ADD/DEL vs direct, its imports
    "benchmarks.bench_dynamic",  # a running pod's annotation change to its interface (30 rounds)
    "benchmarks.bench_burst",  # 50 pods at once
    "benchmarks.bench_memory",  # daemon RSS with 1,000 pods and 200 NADs cached
    "benchmarks.bench_kubelet",  # time to Running on a real kubelet: 10 pods with multus vs 10 plain
    "benchmarks.bench_faults",  # 500 ADD/DEL cycles with one injected fault each: what leaked
    "benchmarks.bench_failover",  # the controller's active replica SIGKILLed: time until the other takes over
    "benchmarks.bench_controller_scale",  # the controller with 5,000 NADs and 50,000 pods: time, RSS, writes
)
# The modules that also write their raw samples, for the plots: the file each writes them to.
SAMPLES = {"benchmarks.bench_daemon": "daemon.json", "benchmarks.bench_burst": "burst.json"}


def run_module(module: str, figures: list[dict[str, Any]]) -> int:
    print(f"# {module}", flush=True)
    started = time.monotonic()
    samples = ["--samples", str(OUT / SAMPLES[module])] if module in SAMPLES else []
    with subprocess.Popen(
        [sys.executable, "-m", module, *samples], stdout=subprocess.PIPE, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith("{"):
                figures.append(json.loads(line))
    print(f"# {module}: exit {process.returncode} after {time.monotonic() - started:.0f} s", flush=True)
    return process.returncode


def goals(figures: list[dict[str, Any]]) -> list[str]:
    lines = []
    for figure in figures:
        if "goal_added_ms" in figure:
            met = figure["added_ms"] < figure["goal_added_ms"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: {figure['added_ms']} ms added"
                f" (goal < {figure['goal_added_ms']:g} ms)"
            )
        goal = figure.get("goal_overhead_median_ms")
        if goal is not None:
            met = figure["overhead_median_ms"] < goal
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: overhead {figure['overhead_median_ms']} ms"
                f" at the median (goal < {goal:g} ms)"
            )
        if "goal_ratio" in figure:
            for key in sorted(key for key in figure if key.startswith("ratio_")):
                met = figure[key] <= figure["goal_ratio"]
                lines.append(
                    f"{'met' if met else 'MISSED'}: {figure['bench']}: {key.removeprefix('ratio_')}"
                    f" {figure[key]}x (goal <= {figure['goal_ratio']:g}x)"
                )
        if "goal_rss_mib" in figure:
            met = figure["rss_mib"] < figure["goal_rss_mib"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: {figure['rss_mib']} MiB"
                f" (goal < {figure['goal_rss_mib']:g} MiB)"
            )
        if "goal_reads_per_add" in figure:
            met = figure["reads_per_add"] <= figure["goal_reads_per_add"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: {figure['reads_per_add']} reads per ADD"
                f" (goal {figure['goal_reads_per_add']})"
            )
        if "goal_status_writes_per_add" in figure:
            met = figure["status_writes_per_add"] <= figure["goal_status_writes_per_add"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: {figure['status_writes_per_add']} pod"
                f" writes per ADD (goal {figure['goal_status_writes_per_add']}; the Events come on top)"
            )
        if "goal_ready_seconds" in figure and figure.get("ready_after_up_max_s") is not None:
            met = figure["ready_after_up_max_s"] < figure["goal_ready_seconds"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: every daemon relisted"
                f" {figure['ready_after_up_max_s']} s after the API server's restart"
                f" (goal < {figure['goal_ready_seconds']:g} s)"
            )
        if "goal_reconcile_s" in figure:
            met = figure["reconcile_s"] < figure["goal_reconcile_s"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: every NAD's count right"
                f" {figure['reconcile_s']} s after a restart (goal < {figure['goal_reconcile_s']:g} s)"
            )
        if "goal_patches_per_changed_nad" in figure:
            met = figure["patches_per_changed_nad"] <= figure["goal_patches_per_changed_nad"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: {figure['patches_per_changed_nad']}"
                f" status patches per changed NAD (goal <= {figure['goal_patches_per_changed_nad']:g})"
            )
        if "goal_errors" in figure:
            met = figure["errors"] == figure["goal_errors"]
            lines.append(
                f"{'met' if met else 'MISSED'}: {figure['bench']}: {figure['errors']} errors (goal 0)"
            )
    return lines


def main() -> None:
    figures: list[dict[str, Any]] = []
    failed = [module for module in MODULES if run_module(module, figures) != 0]
    for line in goals(figures):
        print(f"goal {line}", flush=True)
    plots.main()
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
