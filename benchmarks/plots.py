"""The PNGs the README shows, drawn from the samples the benchmarks left in benchmarks/out/.

- `daemon.json` (bench_daemon --samples): each pod ADD and DEL, through each shim and direct;
- `burst.json` (bench_burst --samples): each ADD and DEL of the burst;
- `scale.json` (bench_scale): the steady-state ADDs at 100 nodes, the relists after an API server
  restart, each daemon's RSS.

Each file present is drawn as `<name>.png` next to it; a missing one is skipped (its benchmark did not
run). Usage: python -m benchmarks.plots
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from benchmarks.support import OUT

DPI = 110


def ecdf(axes: Axes, seconds: Sequence[float], label: str, **style: Any) -> None:
    """Latencies as a cumulative distribution: x in ms, y the fraction done by then."""
    ordered = sorted(value * 1e3 for value in seconds)
    fractions = [(rank + 1) / len(ordered) for rank in range(len(ordered))]
    axes.step(ordered, fractions, where="post", label=label, **style)
    axes.set_xlabel("ms")
    axes.set_ylabel("fraction of operations")
    axes.grid(alpha=0.3)


def daemon(samples: dict[str, dict[str, list[float]]], target: Path) -> None:
    rows = (len(samples) + 1) // 2
    columns = min(2, len(samples))
    figure, panes = plt.subplots(rows, columns, figsize=(7 * columns, 4 * rows), squeeze=False)
    for axes, (command, ways) in zip(
        panes.flat, samples.items(), strict=False
    ):  # an odd count leaves one pane
        for way, seconds in sorted(ways.items(), key=lambda item: item[0] != "direct"):  # the floor first
            if way == "direct":
                ecdf(axes, seconds, "delegates run directly (the floor)", color="black", linestyle="--")
            else:
                ecdf(axes, seconds, f"{way} shim -> daemon")
        axes.set_title(f"pod {command}")
        axes.legend(loc="lower right")
    save(figure, target)


def burst(samples: dict[str, Any], target: Path) -> None:
    figure, axes = plt.subplots(figsize=(6, 4))
    for command in ("ADD", "DEL"):
        ecdf(axes, samples[command], f"{command} through the daemon")
        if command in samples.get("direct", {}):
            ecdf(axes, samples["direct"][command], f"{command} direct (the floor)", linestyle="--")
    axes.set_title(f"{samples['pods']} pods at once, each from its shim's start to its exit")
    axes.legend(loc="lower right")
    save(figure, target)


def scale(samples: dict[str, Any], target: Path) -> None:
    nodes = samples["nodes"]
    figure, (adds, relists, rss) = plt.subplots(1, 3, figsize=(16, 4))
    ecdf(adds, samples["add_seconds"], "steady-state ADD")
    adds.set_title(f"{nodes} nodes: pod ADD through the native shim")
    down = samples["apiserver_down_s"]
    after_stop = [down + seconds for seconds in samples["relist_seconds"]]
    relists.hist(after_stop, bins=range(math.floor(min(after_stop)), math.ceil(max(after_stop)) + 1))
    relists.axvline(samples["apiserver_gone_s"], color="red", linestyle=":", label="old API server gone")
    relists.axvline(down, color="black", linestyle="--", label="API server answers /readyz again")
    relists.set_title("cache relists after an API server restart, per second")
    relists.set_xlabel("seconds after the API server was stopped")
    relists.set_ylabel("relists (2 per daemon)")
    relists.set_ylim(top=relists.get_ylim()[1] * 1.3)  # room for the legend above the bars
    relists.legend(loc="upper left")
    rss.hist(samples["rss_mib"], bins=20)
    rss.set_title(f"RSS of each of the {nodes} daemons")
    rss.set_xlabel("MiB")
    rss.set_ylabel("daemons")
    save(figure, target)


def save(figure: Any, target: Path) -> None:
    figure.tight_layout()
    figure.savefig(target, dpi=DPI)
    plt.close(figure)
    print(f"# plot: {target}", flush=True)


DRAWERS = {"daemon": daemon, "burst": burst, "scale": scale}


def main(folder: Path = OUT) -> None:
    for name, draw in DRAWERS.items():
        source = folder / f"{name}.json"
        if source.exists():
            draw(json.loads(source.read_text()), folder / f"{name}.png")


if __name__ == "__main__":
    main()
