"""The controller at scale: thousands of NADs and tens of thousands of pods on one real API server.

The benchmark creates NADs spread over namespaces and pods whose `k8s.v1.cni.cncf.io/network-status`
names 1-3 NADs of their namespace (objects only: no kubelet, the pods stay Pending), concurrently through
`multus.kube.rest.RestClient`. Then it runs the controller as a process (as deploy/controller/ runs it:
the deployed RBAC's ServiceAccount, one peered replica) and measures:

1. first start, every status empty: seconds until every NAD's `status.podCount` is what was created;
2. a restart with every status right: seconds until a pod created just after the start is counted
   (the controller handles pod events only once it has listed every pod), and the API writes the
   restart made;
3. the controller's RSS, peak (VmHWM) and settled (VmRSS a while after the counts are right);
4. pod events: `--moves` pods each move from one NAD to another (no NAD takes part in two moves), and
   the status PATCHes that made, per pod event and per NAD whose usage changed.

API requests are read from the API server's own `apiserver_request_total`, before and after each phase,
by verb and resource. Every phase checks every NAD's count against what the benchmark created and fails
if one is wrong. Prints JSON lines and a summary.
Usage: python -m benchmarks.bench_controller_scale [--nads N] [--pods N] [--namespaces N] [--moves N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import config as kube_config

from benchmarks.support import NAD_API, NAD_PLURAL, apiserver_samples, emit, summary
from multus.kube.credentials import load_credentials
from multus.kube.rest import MERGE_PATCH, RestClient
from tests.e2e.controller.support import (
    NETWORK_STATUS,
    ControllerProcess,
    install_peering,
    running_controller,
    service_account_kubeconfig,
)
from tests.testenv import TestEnv, running

GOAL_RSS_MIB, GOAL_RECONCILE_S, GOAL_PATCHES_PER_CHANGED_NAD = 200.0, 60.0, 1.0
CONCURRENCY = 64  # requests in flight while the benchmark creates or changes objects
TIMEOUT_S = 600.0  # the longest any phase may take before the benchmark gives up
SETTLE_S = 10.0  # after the counts are right: kopf's idle workers exit after 5 s
NADS_PATH = f"/apis/{NAD_API[0]}/{NAD_API[1]}/{NAD_PLURAL}"
# Each NAD the same small valid config: the controller validates it once per NAD.
NAD_CONFIG = json.dumps({"cniVersion": "1.0.0", "type": "macvlan", "master": "eth0", "mode": "bridge"})

NetworkKey = tuple[str, str]
Counts = dict[tuple[str, str], float]


@dataclass
class World:
    """What the benchmark created: each pod's NADs, and so how many pods each NAD should count."""

    nads: list[NetworkKey]
    pods: dict[NetworkKey, list[NetworkKey]]

    def expected(self) -> dict[NetworkKey, int]:
        counts = dict.fromkeys(self.nads, 0)
        for networks in self.pods.values():
            for network in networks:
                counts[network] += 1
        return counts


def plan_world(nads: int, pods: int, namespaces: int, seed: int = 18) -> World:
    rng = random.Random(seed)  # noqa: S311  a fixed shape, not a secret
    names = [f"scale-{index}" for index in range(namespaces)]
    all_nads = [(names[index % namespaces], f"net-{index}") for index in range(nads)]
    by_namespace: dict[str, list[NetworkKey]] = {}
    for key in all_nads:
        by_namespace.setdefault(key[0], []).append(key)
    placed: dict[NetworkKey, list[NetworkKey]] = {}
    for index in range(pods):
        namespace = names[index % namespaces]
        choices = by_namespace[namespace]
        placed[(namespace, f"pod-{index}")] = rng.sample(choices, min(len(choices), rng.randint(1, 3)))
    return World(all_nads, placed)


def network_status(networks: Iterable[NetworkKey]) -> str:
    """The annotation the meta-plugin would write: the cluster network, then each NAD."""
    entries: list[dict[str, Any]] = [{"name": "cluster-net", "interface": "eth0", "default": True}]
    entries += [
        {"name": f"{namespace}/{name}", "interface": f"net{index}"}
        for index, (namespace, name) in enumerate(networks, start=1)
    ]
    return json.dumps(entries)


async def bounded(jobs: Iterable[Callable[[], Awaitable[Any]]]) -> None:
    """Run every job with at most CONCURRENCY at once; the first failure fails the whole run."""
    queue = list(jobs)
    queue.reverse()

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def rest(env: TestEnv) -> RestClient:
    return RestClient(load_credentials(env.kubeconfig), timeout=60)


async def create_world(env: TestEnv, world: World) -> dict[str, float]:
    """Create the namespaces, the NADs, then the pods; seconds each took."""
    api = rest(env)
    seconds: dict[str, float] = {}
    try:
        namespaces = sorted({namespace for namespace, _ in world.nads})
        started = time.monotonic()
        await bounded(
            (lambda name=name: api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}}))
            for name in namespaces
        )
        await bounded(
            (
                lambda key=key: api.request(
                    "POST",
                    f"/apis/{NAD_API[0]}/{NAD_API[1]}/namespaces/{key[0]}/{NAD_PLURAL}",
                    body={
                        "apiVersion": f"{NAD_API[0]}/{NAD_API[1]}",
                        "kind": "NetworkAttachmentDefinition",
                        "metadata": {"name": key[1]},
                        "spec": {"config": NAD_CONFIG},
                    },
                )
            )
            for key in world.nads
        )
        seconds["nads"] = time.monotonic() - started
        started = time.monotonic()
        await bounded(
            (lambda pod=pod, networks=networks: create_pod(api, pod, networks))
            for pod, networks in world.pods.items()
        )
        seconds["pods"] = time.monotonic() - started
    finally:
        await api.close()
    return seconds


async def create_pod(api: RestClient, pod: NetworkKey, networks: Iterable[NetworkKey]) -> None:
    await api.request(
        "POST",
        f"/api/v1/namespaces/{pod[0]}/pods",
        body={
            "metadata": {"name": pod[1], "annotations": {NETWORK_STATUS: network_status(networks)}},
            "spec": {"containers": [{"name": "c", "image": "pause"}]},
        },
    )


async def wrong_counts(api: RestClient, expected: Mapping[NetworkKey, int]) -> list[str]:
    """Every NAD whose status.podCount is not the expected one, with what it shows."""
    listed = await api.request("GET", NADS_PATH)
    seen: dict[NetworkKey, object] = {}
    for item in listed.get("items", []):
        metadata = item.get("metadata") or {}
        seen[(metadata.get("namespace"), metadata.get("name"))] = (item.get("status") or {}).get("podCount")
    return [
        f"{key[0]}/{key[1]}: {seen.get(key, 'absent')} (expected {count})"
        for key, count in expected.items()
        if seen.get(key) != count
    ]


async def until_counts_right(env: TestEnv, expected: Mapping[NetworkKey, int], started: float) -> float:
    """Seconds from `started` until every NAD's count is right; fails naming some wrong ones."""
    api = rest(env)
    try:
        while True:
            wrong = await wrong_counts(api, expected)
            if not wrong:
                return time.monotonic() - started
            if time.monotonic() - started > TIMEOUT_S:
                raise AssertionError(f"{len(wrong)} NADs with a wrong podCount, e.g. {wrong[:5]}")
            await asyncio.sleep(0.5)
    finally:
        await api.close()


def request_counts(env: TestEnv) -> Counts:
    """The API server's requests so far, by verb and resource[/subresource]."""
    counts: Counts = {}
    for sample in apiserver_samples(env):
        if sample.name == "apiserver_request_total":
            labels = sample.labels
            resource = labels["resource"] + (f"/{labels['subresource']}" if labels.get("subresource") else "")
            key = (labels["verb"], resource)
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def writes_between(before: Counts, after: Counts) -> dict[str, int]:
    """Write requests (not reads, not watches) made between two readings, as `VERB resource`."""
    return {
        f"{verb} {resource}": int(after[verb, resource] - before.get((verb, resource), 0.0))
        for verb, resource in sorted(after)
        if verb in ("POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION")
        and after[verb, resource] > before.get((verb, resource), 0.0)
    }


def memory_mib(pid: int) -> dict[str, float]:
    """Peak (VmHWM) and current (VmRSS) resident memory of process `pid`."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return {"peak_mib": fields["VmHWM"], "rss_mib": fields["VmRSS"]}


def plan_moves(world: World, moves: int, seed: int = 6) -> dict[NetworkKey, list[NetworkKey]]:
    """New networks for `moves` pods: each swaps one of its NADs for another of its namespace, and no
    NAD is the source or target of two moves, so each changed NAD is changed by one pod event."""
    rng = random.Random(seed)  # noqa: S311  a fixed shape, not a secret
    by_namespace: dict[str, list[NetworkKey]] = {}
    for key in world.nads:
        by_namespace.setdefault(key[0], []).append(key)
    touched: set[NetworkKey] = set()
    planned: dict[NetworkKey, list[NetworkKey]] = {}
    candidates = list(world.pods)
    rng.shuffle(candidates)
    for pod in candidates:
        if len(planned) == moves:
            break
        networks = world.pods[pod]
        source = networks[0]
        free = [key for key in by_namespace[pod[0]] if key not in touched and key not in networks]
        if source in touched or not free:
            continue
        target = rng.choice(free)
        touched.update((source, target))
        planned[pod] = [target, *networks[1:]]
    if len(planned) < moves:
        raise SystemExit(f"only {len(planned)} moves touch distinct NADs; use more NADs or fewer moves")
    return planned


async def move_pods(env: TestEnv, moves: Mapping[NetworkKey, list[NetworkKey]]) -> None:
    api = rest(env)
    try:
        await bounded(
            (
                lambda pod=pod, networks=networks: api.request(
                    "PATCH",
                    f"/api/v1/namespaces/{pod[0]}/pods/{pod[1]}",
                    body={"metadata": {"annotations": {NETWORK_STATUS: network_status(networks)}}},
                    content_type=MERGE_PATCH,
                )
            )
            for pod, networks in moves.items()
        )
    finally:
        await api.close()


def nad_status_patches(writes: Mapping[str, int]) -> int:
    return writes.get(f"PATCH {NAD_PLURAL}/status", 0)


def settled(env: TestEnv, controller: ControllerProcess) -> tuple[dict[str, float], Counts]:
    """The controller's memory and the request counts once it has been idle for SETTLE_S."""
    time.sleep(SETTLE_S)
    if controller.process.poll() is not None:
        raise AssertionError(f"the controller exited; its log:\n{controller.log_tail()}")
    return memory_mib(controller.process.pid), request_counts(env)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_controller_scale")
    parser.add_argument("--nads", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=50000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--moves", type=int, default=500)
    args = parser.parse_args(argv)
    # At least 4 NADs a namespace, so that pods have NADs to move between.
    namespaces = max(1, min(args.namespaces, args.nads // 4))
    world = plan_world(args.nads, args.pods, namespaces)
    moves = plan_moves(world, min(args.moves, args.pods, args.nads // 4))
    with (
        tempfile.TemporaryDirectory(prefix="bench-cscale-") as scratch,
        running(Path(scratch) / "env") as env,
    ):
        admin = kube_config.new_client_from_config(config_file=str(env.kubeconfig))
        install_peering(env)
        kubeconfig = service_account_kubeconfig(env, admin, Path(scratch) / "kubeconfig")
        created = asyncio.run(create_world(env, world))
        emit(
            {
                "bench": "controller_scale: objects created",
                "nads": len(world.nads),
                "pods": len(world.pods),
                "namespaces": namespaces,
                "attachments": sum(len(networks) for networks in world.pods.values()),
                "concurrency": CONCURRENCY,
                "nads_s": round(created["nads"], 1),
                "pods_s": round(created["pods"], 1),
                "pods_per_s": round(len(world.pods) / created["pods"], 1),
            }
        )

        def run_controller(name: str) -> Any:
            return running_controller(env, admin, kubeconfig, Path(scratch) / f"{name}.log", standalone=False)

        # 1. first start, every status empty
        before = request_counts(env)
        started = time.monotonic()
        with run_controller("first") as controller:
            first_s = asyncio.run(until_counts_right(env, world.expected(), started))
            first_memory, after = settled(env, controller)
            first_writes = writes_between(before, after)
        # 2. restart with every status right; a probe pod created at once
        probe, probe_networks = ("scale-0", "probe"), [world.nads[0]]
        before = request_counts(env)
        started = time.monotonic()
        with run_controller("restart") as controller:
            asyncio.run(create_probe(env, probe, probe_networks))
            world.pods[probe] = probe_networks
            restart_s = asyncio.run(until_counts_right(env, world.expected(), started))
            restart_memory, after = settled(env, controller)
            restart_writes = writes_between(before, after)
            # 3. pod events: each move changes two NADs, each changed by no other move
            before = after
            started = time.monotonic()
            asyncio.run(move_pods(env, moves))
            world.pods.update(moves)
            moves_s = asyncio.run(until_counts_right(env, world.expected(), started))
            moves_memory, after = settled(env, controller)
            moves_writes = writes_between(before, after)
    report(
        first_s=first_s,
        restart_s=restart_s,
        moves_s=moves_s,
        writes={"first start": first_writes, "restart": restart_writes, "moves": moves_writes},
        memory={"first start": first_memory, "restart": restart_memory, "moves": moves_memory},
        moves=len(moves),
        nads=len(world.nads),
        pods=len(world.pods),
    )
    return 0


async def create_probe(env: TestEnv, pod: NetworkKey, networks: list[NetworkKey]) -> None:
    api = rest(env)
    try:
        await create_pod(api, pod, networks)
    finally:
        await api.close()


def report(
    *,
    first_s: float,
    restart_s: float,
    moves_s: float,
    writes: Mapping[str, dict[str, int]],
    memory: Mapping[str, dict[str, float]],
    moves: int,
    nads: int,
    pods: int,
) -> None:
    peak = max(figures["peak_mib"] for figures in memory.values())
    settled_mib = max(figures["rss_mib"] for figures in memory.values())
    # The probe pod changes one NAD's usage: that one status patch is the restart's due.
    restart_patches = nad_status_patches(writes["restart"]) - 1
    changed_nads = 2 * moves
    move_patches = nad_status_patches(writes["moves"])
    emit(
        {
            "bench": "controller_scale: reconcile",
            "nads": nads,
            "pods": pods,
            "first_start_s": round(first_s, 1),
            "restart_s": round(restart_s, 1),
            # The goal is the issue's: every NAD right after a restart; the first start is a figure.
            "reconcile_s": round(restart_s, 1),
            "goal_reconcile_s": GOAL_RECONCILE_S,
            "first_start_writes": writes["first start"],
            "restart_writes": writes["restart"],
            "restart_status_patches_beyond_probe": restart_patches,
            # Every NAD's podCount was checked against the pods created, after each start.
            "verified_nads": nads,
        }
    )
    emit(
        {
            "bench": "controller_scale: memory",
            "by_phase": memory,
            "rss_mib": peak,
            "settled_rss_mib": settled_mib,
            "goal_rss_mib": GOAL_RSS_MIB,
        }
    )
    emit(
        {
            "bench": "controller_scale: pod events",
            "pod_events": moves,
            "changed_nads": changed_nads,
            "seconds": round(moves_s, 1),
            "writes": writes["moves"],
            "status_patches": move_patches,
            "patches_per_pod_event": round(move_patches / moves, 2) if moves else 0.0,
            "patches_per_changed_nad": round(move_patches / changed_nads, 2) if moves else 0.0,
            "goal_patches_per_changed_nad": GOAL_PATCHES_PER_CHANGED_NAD,
            "verified_nads": nads,
        }
    )
    summary(
        f"controller with {nads} NADs and {pods} pods: counts right {first_s:.1f} s after a first start,"
        f" {restart_s:.1f} s after a restart ({restart_patches} status patches beyond the probe's);"
        f" RSS peak {peak} MiB, settled {settled_mib} MiB; {moves} pod moves: {move_patches} status"
        f" patches for {changed_nads} changed NADs"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
