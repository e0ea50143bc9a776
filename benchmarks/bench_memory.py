"""The daemon's resident memory with 1,000 pods and 200 NADs in its watch caches.

A real daemon watches a real API server. The pods are on the daemon's node and shaped like pods a
kubelet runs (two containers with env, ports, probes, resources and mounts; the projected service-account
volume; tolerations; owner reference; a network-status annotation; a status with conditions, IPs and
container statuses) so the cache holds what it would hold in a cluster. The NADs are bridge + host-local
configs spread over ten namespaces. Once the daemon's metrics show every object cached (and it has served
a few ADD/DEL requests, so the request path is warm too), VmRSS is read from /proc/<pid>/status.

Prints RSS before and after loading the caches (and how much of it is anonymous memory, how much
mapped files such as shared libraries), the peak (VmHWM), the average pod size as the API serves it,
and the goal (under 45 MiB; upstream's daemon idles at 47 MiB); then RSS and peak of a daemon started
afresh on that node, whose caches fill from one list each. Then where it goes: what importing
the daemon costs by package (benchmarks.import_memory, in a fresh interpreter: RSS, tracemalloc bytes
and time), and what each of the daemon's caches holds, by tracemalloc, with a CacheView like the
daemon's run in this process against the same API server. Needs root (the ADD/DEL warm-up uses a
network namespace).
Usage: python -m benchmarks.bench_memory [--pods N] [--nads N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config

from benchmarks.support import (
    NAD_API,
    NAD_PLURAL,
    NETWORKS_ANNOTATION,
    Daemon,
    Node,
    daemon,
    emit,
    node,
    shims,
    summary,
    timed_run,
)
from multus.kube.apiview import ApiSettings, ApiView
from multus.kube.cacheview import CacheView, keep_pod
from tests.testenv import TestEnv, running

GOAL_MIB = 45.0
NAMESPACES = 10
LOADERS = 8
WARM_ROUNDS = 5


def pod_body(name: str, node_name: str, index: int) -> dict[str, Any]:
    """A pod as a Deployment's ReplicaSet and the admission chain would create it."""
    app = f"app-{index % 25}"

    def container(role: str, port: int) -> dict[str, Any]:
        return {
            "name": role,
            "image": f"registry.example.com/team/{app}-{role}:1.{index % 7}.3",
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            "env": [
                {"name": "APP_NAME", "value": app},
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "UPSTREAM_URL", "value": f"http://{app}-backend.svc.cluster.local:8080/api/v1"},
            ],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": port}, "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 20},
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/app"},
                {
                    "name": "kube-api-access",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "readOnly": True,
                },
            ],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": app, "pod-template-hash": "5d8f7c9b6", "tier": "backend"},
            "annotations": {NETWORKS_ANNOTATION: "storage-net@stor0,net-b"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-5d8f7c9b6",
                    "uid": str(uuid.uuid4()),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": node_name,
            "containers": [container("main", 8080), container("sidecar", 9090)],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
                {
                    "name": "kube-api-access",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                        }
                                    ]
                                }
                            },
                        ],
                    },
                },
            ],
            "tolerations": [
                {
                    "key": f"node.kubernetes.io/{taint}",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
                for taint in ("not-ready", "unreachable")
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000},
            "priority": 0,
            "enableServiceLinks": True,
        },
    }


def pod_status(index: int) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ip = f"10.128.{index // 250}.{index % 250 + 2}"
    network_status = [
        {"name": "cluster", "interface": "eth0", "ips": [ip], "mac": "0a:58:0a:80:00:02", "default": True},
        {"name": "ns/storage-net", "interface": "stor0", "ips": [f"10.20.{index // 250}.{index % 250 + 2}"]},
        {"name": "ns/net-b", "interface": "net2", "ips": [f"10.30.{index // 250}.{index % 250 + 2}"]},
    ]
    return {
        "metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(network_status)}},
        "status": {
            "phase": "Running",
            "hostIP": "192.0.2.10",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "qosClass": "Burstable",
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": now}
                for kind in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "containerStatuses": [
                {
                    "name": role,
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "image": f"registry.example.com/team/app-{role}:1.0.3",
                    "imageID": f"registry.example.com/team/app-{role}@sha256:{uuid.uuid4().hex * 2}",
                    "containerID": f"containerd://{uuid.uuid4().hex * 2}",
                    "state": {"running": {"startedAt": now}},
                }
                for role in ("main", "sidecar")
            ],
        },
    }


def nad_body(name: str, index: int) -> dict[str, Any]:
    config = {
        "cniVersion": "1.0.0",
        "name": name,
        "type": "bridge",
        "bridge": f"br-{index}",
        "isGateway": True,
        "ipMasq": False,
        "mtu": 1500,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": f"10.{100 + index // 250}.{index % 250}.0/24"}]],
            "routes": [{"dst": "10.0.0.0/8"}],
        },
    }
    return {
        "apiVersion": "/".join(NAD_API),
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "labels": {"team": f"team-{index % 5}"}},
        "spec": {"config": json.dumps(config)},
    }


def load(env: TestEnv, node_name: str, pods: int, nads: int) -> bytes:
    """Create the objects; one of the pods as the API serves it (JSON)."""
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(env.kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = LOADERS
    api = client.ApiClient(configuration)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    namespaces = [f"mem-{uuid.uuid4().hex[:8]}" for _ in range(NAMESPACES)]
    for name in namespaces:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def make_pod(index: int) -> None:
        namespace, name = namespaces[index % NAMESPACES], f"pod-{index:04d}"
        core.create_namespaced_pod(namespace, pod_body(name, node_name, index))
        core.patch_namespaced_pod_status(name, namespace, pod_status(index))

    def make_nad(index: int) -> None:
        namespace = namespaces[index % NAMESPACES]
        custom.create_namespaced_custom_object(
            *NAD_API, namespace, NAD_PLURAL, nad_body(f"net-{index:03d}", index)
        )

    try:
        with ThreadPoolExecutor(LOADERS) as pool:
            list(pool.map(make_nad, range(nads)))
            list(pool.map(make_pod, range(pods)))
        sample = core.read_namespaced_pod("pod-0000", namespaces[0], _preload_content=False)
        return bytes(sample.data)
    finally:
        api.close()


def wait_for_caches(served: Daemon, pods: int, nads: int, timeout: float = 120.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        samples = served.metrics()
        cached = {
            "pods": samples.get('multus_cache_objects{kind="pods"}', 0),
            "nads": samples.get('multus_cache_objects{kind="network-attachment-definitions"}', 0),
        }
        if cached["pods"] >= pods and cached["nads"] >= nads:
            return cached
        if time.monotonic() > deadline:
            raise SystemExit(f"the daemon's caches did not fill: {cached}")
        time.sleep(0.5)


def warm_up(world: Node, served: Daemon, root: Path) -> None:
    """A few ADD/DEL requests, so the request path's allocations are in the figure too."""
    measured, _ = shims(root / "bin")
    box = world.sandbox()
    for _ in range(WARM_ROUNDS):
        box.container_id = f"bench{os.urandom(10).hex()}"
        for command in ("ADD", "DEL"):
            _, status, output = timed_run(
                measured[0].argv, box.environment(command), served.node_config.read_bytes()
            )
            if status != 0:
                raise SystemExit(f"{command} failed: {output!r}")


def parsed_kib(raw: bytes, keep: Callable[[dict[str, Any]], object]) -> float:
    """What one pod costs in Python objects once parsed (and trimmed by `keep`), by tracemalloc."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [keep(json.loads(raw)) for _ in range(100)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(kept) == 100
    return round((after - before) / 100 / 1024, 1)


def without_managed_fields(pod: dict[str, Any]) -> dict[str, Any]:
    pod["metadata"].pop("managedFields", None)
    return pod


def import_rss_mib(statement: str) -> float:
    """VmRSS of a fresh interpreter after `statement`."""
    probe = (
        f"{statement}\nimport re\nprint(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return round(int(done.stdout) / 1024, 1)


def import_costs(module: str, *options: str, shown: int = 12) -> dict[str, Any]:
    """benchmarks.import_memory's figures for `module`, the most costly packages only."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.import_memory", *options, module],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    packages = list(found["by_package"].items())
    found["by_package"] = dict(packages[:shown])
    found["by_package"]["(the rest)"] = round(sum(cost for _, cost in packages[shown:]), 2)
    return found


def cache_mib(env: TestEnv, node_name: str) -> dict[str, float]:
    """What each of the daemon's caches holds once listed, by tracemalloc: a CacheView as the daemon
    makes it, in this process; the caches are filled one after the other, each measured on its own."""

    async def measure() -> dict[str, float]:
        view = CacheView(ApiView(ApiSettings(kubeconfig=env.kubeconfig)), node_name)
        await view.api.get_network("default", "no-such-network")  # the connection is not counted
        figures: dict[str, float] = {}
        tracemalloc.start()
        try:
            for cache in (view.pods, view.networks):
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
                cache.start()
                await asyncio.wait_for(cache.synced.wait(), 60)
                gc.collect()
                figures[cache.kind] = round((tracemalloc.get_traced_memory()[0] - before) / 2**20, 2)
        finally:
            tracemalloc.stop()
            await view.close()
        return figures

    return asyncio.run(measure())


def where_it_goes(sample: bytes, caches: dict[str, float]) -> None:
    """Figures that explain the total: the imports, by package, and what the caches hold."""
    imports_rss = import_costs("multus.daemon.main")
    imports_traced = import_costs("multus.daemon.main", "--traced")
    emit(
        {
            "bench": "daemon memory: where it goes",
            "interpreter_rss_mib": import_rss_mib("pass"),
            "after_imports_rss_mib": import_rss_mib("import multus.daemon.main"),
            "import_ms": imports_rss["import_ms"],
            "imports_rss_mib_by_package": imports_rss["by_package"],
            "imports_traced_mib": imports_traced["total"],
            "imports_traced_mib_by_package": imports_traced["by_package"],
            "cache_traced_mib": caches,
            "pod_json_bytes": len(sample),
            "pod_parsed_kib": parsed_kib(sample, lambda pod: pod),
            "pod_parsed_kib_without_managed_fields": parsed_kib(sample, without_managed_fields),
            "pod_kept_kib": parsed_kib(sample, keep_pod),
        }
    )


def restarted(world: Node, root: Path, pods: int, nads: int) -> dict[str, Any]:
    """A daemon started on a node that has the objects already: its caches fill from one list each
    (the whole list parsed at once), not one watch event per object."""
    with daemon(world) as served:
        wait_for_caches(served, pods + 1, nads + len(world.extra))
        warm_up(world, served, root)
        time.sleep(2.0)
        return {
            "bench": f"daemon memory with {pods} pods and {nads} NADs cached, started after they were made",
            "rss_mib": round(served.status_kib("VmRSS") / 1024, 1),
            "peak_rss_mib": round(served.status_kib("VmHWM") / 1024, 1),
        }


def run(pods: int, nads: int, root: Path) -> dict[str, Any]:
    with running(root / "testenv") as env, node(env, root / "node") as world:
        with daemon(world) as served:
            warm_up(world, served, root)
            time.sleep(1.0)
            idle_kib = served.status_kib("VmRSS")
            started = time.monotonic()
            sample = load(env, world.node_name, pods, nads)
            cached = wait_for_caches(served, pods + 1, nads + len(world.extra))
            load_seconds = time.monotonic() - started
            warm_up(world, served, root)
            time.sleep(2.0)
            rss_kib, peak_kib = served.status_kib("VmRSS"), served.status_kib("VmHWM")
            anon_kib, file_kib = served.status_kib("RssAnon"), served.status_kib("RssFile")
        after_restart = restarted(world, root, pods, nads)
        caches = cache_mib(env, world.node_name)
    line = {
        "bench": f"daemon memory with {pods} pods and {nads} NADs cached",
        "cached_pods": int(cached["pods"]),
        "cached_nads": int(cached["nads"]),
        "pod_json_bytes": len(sample),
        "rss_idle_mib": round(idle_kib / 1024, 1),
        "rss_mib": round(rss_kib / 1024, 1),
        "rss_anon_mib": round(anon_kib / 1024, 1),
        "rss_file_mib": round(file_kib / 1024, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "kib_per_cached_object": round((rss_kib - idle_kib) / (pods + nads), 1),
        "load_seconds": round(load_seconds, 1),
        "goal_rss_mib": GOAL_MIB,
    }
    emit(line)
    emit(after_restart)
    where_it_goes(sample, caches)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--nads", type=int, default=200)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        line = run(args.pods, args.nads, Path(folder))
    summary(
        f"daemon RSS {line['rss_mib']} MiB with {line['cached_pods']} pods and"
        f" {line['cached_nads']} NADs cached (idle {line['rss_idle_mib']} MiB,"
        f" peak {line['peak_rss_mib']} MiB; goal < {GOAL_MIB:g} MiB)"
    )


if __name__ == "__main__":
    main()
