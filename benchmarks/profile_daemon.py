"""Where a pod's ADD and DEL spend their time inside the daemon: wall-clock milliseconds per function.

Runs the real daemon (multus.daemon.main.Daemon) in this process against a real API server, drives it
with the native shim (the Python one when the native is not built) for one of bench_daemon's pod shapes
(`--shape bridges`: eth0 + 2 bridge networks; `--shape macvlan`: bridge + bridge + macvlan/tuning with
`ips` and `mac`, the cluster network by name in `confDir`, plugins given only PATH and the CNI
variables), and wraps the functions on the request path with wall-clock timers. A
coroutine's time includes what it awaits (threads, subprocesses, the API server), which is what a
sampling profiler of the event loop cannot show. Nested functions are listed separately, so times do
not add up: read them as "this part of the ADD took this long".

`--timeline` times the request's moments instead, as bench_daemon's rounds see them: the shim is run
from a process of its own (a client thread here would share the daemon's GIL), after bench_daemon's
settle pause, and the medians printed are those of the steps between the shim's start, the request
parsed, each plugin spawned (the loop waits for the exec) and exited, the reply and the shim's exit.
The daemon's own time is what lies between the request and the reply outside the plugins.

Not part of `python -m benchmarks`; run it by hand when the overhead figure moves.
`--busy-core` keeps core 0 busy meanwhile, as bench_daemon's loaded runs do.
Needs root. Usage: python -m benchmarks.profile_daemon [--rounds N] [--shape bridges|macvlan] [--busy-core]
[--timeline]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import multus.attachment_cache
import multus.cni.cache
import multus.cni.conflist
import multus.cni.exec
import multus.daemon.http
import multus.daemon.server
import multus.devices
import multus.kube.cacheview
import multus.orchestrator.commands
import multus.orchestrator.parts
import multus.orchestrator.records
import multus.orchestrator.report
import multus.resolution
from benchmarks.support import (
    SETTLE_SECONDS,
    Daemon,
    Sandbox,
    Shim,
    bridges_shape,
    busy_core,
    macvlan_shape,
    node,
    shims,
    timed_run,
)
from multus.daemon import main as daemon_main
from multus.daemon.settings import load_config
from multus.logs import configure
from tests.testenv import running

WARMUP = 3

# (owner, attribute) pairs on the request path; a name that no longer exists is reported and skipped.
TIMED: list[tuple[Any, tuple[str, ...]]] = [
    (multus.daemon.server.CNIServer, ("handle_cni", "_run", "_cni_scope", "admitted")),
    (multus.daemon.server, ("read_stdin", "run_command", "_decode", "_stdin")),
    (multus.daemon.http.Request, ("respond",)),
    (
        multus.orchestrator.commands,
        (
            "add",
            "delete",
            "find_pod",
            "attachments_for",
            "check_delegates",
            "add_all",
            "check_requests",
            "apply_default_route",
            "delete_record",
        ),
    ),
    (multus.orchestrator.report, ("report_added", "event")),
    (multus.orchestrator.records, ("resolve_attachments",)),
    (multus.resolution, ("_cluster_network", "_named_network", "find_conf_by_name", "_selected_network")),
    (multus.orchestrator.parts.Netlink, ("interface_names", "interfaces", "ethernet_mac")),
    (multus.devices.DeviceAllocations, ("from_kubelet",)),
    (multus.cni.conflist.ConfigListRunner, ("add", "delete")),
    (multus.cni.exec.DelegateExecutor, ("execute", "_spawn")),
    (multus.cni.cache.ResultCache, ("write", "read", "delete")),
    (multus.attachment_cache.AttachmentCache, ("save", "sync", "load", "remove")),
    (multus.kube.cacheview.CacheView, ("get_pod", "get_network", "write_network_status", "record_event")),
]


class Timers:
    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.on = False
        self.missing: list[str] = []

    def _add(self, label: str, started: float) -> None:
        if self.on:
            self.total[label] += time.perf_counter() - started
            self.calls[label] += 1

    def wrap(self, owner: Any, name: str) -> None:
        target = getattr(owner, name, None)
        label = f"{getattr(owner, '__name__', owner)}.{name}"
        if target is None:
            self.missing.append(label)
            return
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await target(*args, **kwargs)
                finally:
                    self._add(label, started)

            setattr(owner, name, timed_coroutine)
        else:

            @functools.wraps(target)
            def timed_function(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return target(*args, **kwargs)
                finally:
                    self._add(label, started)

            setattr(owner, name, timed_function)


def drive(
    run_shim: Callable[[str], float], timers: Timers, rounds: int, new_container: Callable[[], None]
) -> dict[str, list[float]]:
    for _ in range(WARMUP):
        new_container()
        run_shim("ADD")
        run_shim("DEL")
    timers.on = True
    samples: dict[str, list[float]] = {"ADD": [], "DEL": []}
    for _ in range(rounds):
        new_container()
        for command in ("ADD", "DEL"):
            samples[command].append(run_shim(command))
    timers.on = False
    return samples


class Timeline:
    """The moments of the daemon's requests, by time.perf_counter (the system's monotonic clock, which
    the client process reads too)."""

    def __init__(self) -> None:
        self.moments: list[tuple[float, str]] = []

    def mark(self, what: str) -> None:
        self.moments.append((time.perf_counter(), what))

    def install(self) -> None:
        mark = self.mark
        handle, respond = multus.daemon.http.HTTPServer._handle, multus.daemon.http.Request.respond
        start, finish = vars(multus.cni.exec._Child)["start"].__func__, multus.cni.exec._Child.finish

        def handled(server: Any, request: Any) -> Any:
            mark("request")
            return handle(server, request)

        def responded(request: Any, *args: Any, **kwargs: Any) -> None:
            mark("reply")
            respond(request, *args, **kwargs)

        async def started(cls: Any, *args: Any) -> Any:
            mark("spawn")
            child = await start(cls, *args)
            mark("spawned")
            return child

        async def finished(child: Any, stdin: bytes) -> None:
            await finish(child, stdin)
            mark("exited")

        multus.daemon.http.HTTPServer._handle = handled
        multus.daemon.http.Request.respond = responded
        multus.cni.exec._Child.start = classmethod(started)
        multus.cni.exec._Child.finish = finished

    def steps(self, started: float, ended: float) -> dict[str, float]:
        """Seconds per step of the request the shim made between `started` and `ended`."""
        moments = [(at, what) for at, what in self.moments if started <= at <= ended]
        first = {what: at for at, what in reversed(moments)}
        spawns = [at for at, what in moments if what == "spawn"]
        spawned = [at for at, what in moments if what == "spawned"]
        exits = [at for at, what in moments if what == "exited"]
        between = sum(after - before for before, after in zip(exits, spawns[1:], strict=False))
        steps = {
            "shim start -> request parsed": first["request"] - started,
            "request -> first plugin spawn": spawns[0] - first["request"] if spawns else 0.0,
            "spawns (the loop waits for each exec)": sum(b - a for a, b in zip(spawns, spawned, strict=True)),
            "plugins (spawned -> exit seen)": sum(b - a for a, b in zip(spawned, exits, strict=True)),
            "plugin exit -> next plugin spawn": between,
            "last plugin exit -> reply": first["reply"] - exits[-1] if exits else 0.0,
            "reply -> shim exit": ended - first["reply"],
        }
        outside = steps["request -> first plugin spawn"] + between + steps["last plugin exit -> reply"]
        return steps | {"daemon's own steps": outside, "total": ended - started}


def timeline_client(
    shim: Shim, box: Sandbox, node_config: Path, rounds: int
) -> list[tuple[str, float, float]]:
    """The shim's ADDs and DELs, each after the settle pause: (command, started, ended) per round."""
    ops = []
    for round_number in range(WARMUP + rounds):
        box.container_id = f"prof{os.urandom(10).hex()}"
        for command in ("ADD", "DEL"):
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            _, status, output = timed_run(shim.argv, box.environment(command), node_config.read_bytes())
            ended = time.perf_counter()
            if status != 0:
                raise SystemExit(f"{command} failed: {output!r}")
            if round_number >= WARMUP:
                ops.append((command, started, ended))
    return ops


def print_timeline(timeline: Timeline, ops: list[tuple[str, float, float]], title: str) -> None:
    print(f"{title}; median ms per step (a step's median, so they do not add up to the total's):")
    for command in ("ADD", "DEL"):
        steps = [timeline.steps(started, ended) for name, started, ended in ops if name == command]
        print(f"  {command}:")
        for step in steps[0]:
            print(f"    {step:42s} {statistics.median(s[step] for s in steps) * 1e3:8.2f}")


SHAPES = {"bridges": bridges_shape, "macvlan": macvlan_shape}


def run(rounds: int, shape_name: str, root: Path, *, busy: bool = False, timeline: bool = False) -> None:
    timers, moments = Timers(), Timeline()
    if timeline:
        moments.install()
    else:
        for owner, names in TIMED:
            for name in names:
                timers.wrap(owner, name)
    measured, _ = shims(root / "bin")
    shim = measured[0]
    with running(root / "testenv") as env, node(env, root / "node") as world:
        shape = SHAPES[shape_name](world)
        settings = Daemon(world, **shape.settings)  # writes the same config file bench_daemon uses
        config = load_config(settings.config_file, {})
        configure("verbose", root / "daemon.log", to_stderr=False)
        box = shape.box
        samples: dict[str, list[float]] = {}
        ops: list[tuple[str, float, float]] = []

        def run_shim(command: str) -> float:
            elapsed, status, output = timed_run(
                shim.argv, box.environment(command), settings.node_config.read_bytes()
            )
            if status != 0:
                raise SystemExit(f"{command} failed: {output!r}")
            return elapsed

        def new_container() -> None:
            box.container_id = f"prof{os.urandom(10).hex()}"

        async def serve() -> None:
            stop = asyncio.Event()
            served = daemon_main.Daemon(config)
            loop = asyncio.get_running_loop()

            def client() -> None:
                try:
                    while not (settings.node_config.exists() and served.view.synced):
                        time.sleep(0.1)
                    with busy_core(rounds * 3.0) if busy else contextlib.nullcontext():
                        if timeline:
                            args = (shim, box, settings.node_config, rounds)
                            with multiprocessing.get_context("spawn").Pool(1) as pool:
                                ops.extend(pool.apply(timeline_client, args))
                        else:
                            samples.update(drive(run_shim, timers, rounds, new_container))
                finally:
                    loop.call_soon_threadsafe(stop.set)

            threading.Thread(target=client, daemon=True).start()
            await served.run(stop)

        asyncio.run(serve())
    if timeline:
        print_timeline(
            moments,
            ops,
            f"{shim.name} shim, {shape.name}{', one core busy' if busy else ''}, {rounds} rounds",
        )
        return
    print(
        f"{shim.name} shim, {shape.name}{', one core busy' if busy else ''}, {rounds} rounds;"
        " median wall time of the shim exec:"
        f" ADD {statistics.median(samples['ADD']) * 1e3:.1f} ms,"
        f" DEL {statistics.median(samples['DEL']) * 1e3:.1f} ms"
    )
    print(f"{'function':58s} {'calls/pod':>9s} {'ms/pod':>8s}")
    for label, total in sorted(timers.total.items(), key=lambda item: -item[1]):
        print(f"{label:58s} {timers.calls[label] / rounds:9.1f} {total / rounds * 1e3:8.2f}")
    if timers.missing:
        print(f"not found (renamed?): {', '.join(timers.missing)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="bridges")
    parser.add_argument("--busy-core", action="store_true", help="a process spinning on core 0 meanwhile")
    parser.add_argument(
        "--timeline", action="store_true", help="the request's steps, as bench_daemon runs it"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    with tempfile.TemporaryDirectory(prefix="multus-profile-") as folder:
        run(args.rounds, args.shape, Path(folder), busy=args.busy_core, timeline=args.timeline)


if __name__ == "__main__":
    main()
