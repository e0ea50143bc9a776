"""What multus.cni adds to a delegate call, against running the same binary with the same stdin directly.

Runs the real `loopback` plugin (ADD then DEL) in a throwaway netns, interleaving three ways of calling
it in one run so drift hits them alike:

- direct: `subprocess.run` of the binary with the stdin and environment the layer would build;
- executor: `DelegateExecutor.execute_with_result` / `execute` (lookup, env, async exec, result parse);
- runner: `ConfigListRunner.add` / `delete` (adds stdin building and the result cache).

Prints one JSON line per command and way: medians in ms, the ratio, and the ms added per call. The
runner's ADD includes writing the cache entry (temporary file and rename, as libcni).
Needs root (network namespaces). Usage: python -m benchmarks.bench_cni [--iterations N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from pyroute2 import netns

from multus.cni import (
    Attachment,
    Command,
    ConfigListRunner,
    DelegateExecutor,
    ResultCache,
    parse_network_config,
    plugin_stdin,
)

CNI_BIN = Path(os.environ.get("MULTUS_CACHE_DIR", Path.home() / ".cache" / "multus-py")) / "cni-bin"
GOAL_MS = 2.0


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def _report(name: str, direct: list[float], layer: list[float]) -> None:
    direct_ms, layer_ms = _median_ms(direct), _median_ms(layer)
    line = {
        "bench": name,
        "iterations": len(direct),
        "direct_median_ms": round(direct_ms, 3),
        "layer_median_ms": round(layer_ms, 3),
        "ratio": round(layer_ms / direct_ms, 3),
        "added_ms": round(layer_ms - direct_ms, 3),
        "goal_added_ms": GOAL_MS,
    }
    print(json.dumps(line), flush=True)


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


def _timed_direct(path: Path, stdin: bytes, environ: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(path)], input=stdin, env=environ, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"direct run failed: {done.stdout!r} {done.stderr!r}")
    return elapsed


async def run(iterations: int, netns_name: str, cache_dir: Path) -> None:
    executor = DelegateExecutor([CNI_BIN])
    runner = ConfigListRunner(executor, ResultCache(cache_dir))
    conflist = parse_network_config({"cniVersion": "1.1.0", "name": "bench-lo", "type": "loopback"})
    attachment = Attachment(f"bench-{uuid.uuid4().hex[:8]}", "lo", f"/var/run/netns/{netns_name}")
    stdin = plugin_stdin(conflist, conflist.plugins[0])
    path = executor.find("loopback")
    add_env, del_env = attachment.environment(Command.ADD), attachment.environment(Command.DEL)
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("CNI_")}
    search_path = os.pathsep.join(executor.search_dirs)
    direct_env = {
        command: {**inherited, **env.to_environ(), "CNI_PATH": search_path}
        for command, env in ((Command.ADD, add_env), (Command.DEL, del_env))
    }

    samples: dict[tuple[str, Command], list[float]] = {
        (way, command): []
        for way in ("direct", "executor", "runner")
        for command in (Command.ADD, Command.DEL)
    }
    warmup = 10
    for round_number in range(warmup + iterations):
        timings = {
            ("direct", Command.ADD): _timed_direct(path, stdin, direct_env[Command.ADD]),
            ("direct", Command.DEL): _timed_direct(path, stdin, direct_env[Command.DEL]),
            ("executor", Command.ADD): await _timed(
                lambda: executor.execute_with_result("loopback", add_env, stdin, conflist.version)
            ),
            ("executor", Command.DEL): await _timed(lambda: executor.execute("loopback", del_env, stdin)),
            ("runner", Command.ADD): await _timed(lambda: runner.add(conflist, attachment)),
            ("runner", Command.DEL): await _timed(lambda: runner.delete(conflist, attachment)),
        }
        if round_number >= warmup:
            for key, elapsed in timings.items():
                samples[key].append(elapsed)

    for command in (Command.ADD, Command.DEL):
        direct = samples["direct", command]
        _report(f"loopback {command}: DelegateExecutor vs direct", direct, samples["executor", command])
        _report(
            f"loopback {command}: ConfigListRunner (+ result cache) vs direct",
            direct,
            samples["runner", command],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    if not (CNI_BIN / "loopback").exists():
        sys.exit(f"no loopback plugin in {CNI_BIN}: run make components")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    try:
        with tempfile.TemporaryDirectory() as cache_dir:
            asyncio.run(run(args.iterations, name, Path(cache_dir)))
    finally:
        netns.remove(name)


if __name__ == "__main__":
    main()
