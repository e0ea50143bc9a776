"""A hundred nodes on one API server, simulated on one machine: what each node's daemon costs the cluster.

One real API server (tests.testenv) holds 5,000 pods (50 on each of 100 node names, objects only, each
asking for one of 500 NADs) and the 500 NADs. 100 `multus-daemon` processes run, one per node name, each
with its own socket, CNI conf dir (a cluster network) and state; every delegate is `fake-record` from
tests/fakeplugins, so an ADD costs the daemon's work and two short plugin runs, no links. A few pods per
node get a real network namespace and are ADDed through the native shim, one node after the other:

- a first round (each daemon's first ADD: it looks the cluster network's name up as a NAD once, then
  remembers it absent for a while, multus/kube/cacheview.py),
- two steady-state rounds, measured with the API server's own `apiserver_request_total` (reads: GET and
  LIST; writes: everything else but WATCH, which is counted only when a watch ends),
- then the API server is stopped and started again on the same etcd data; every daemon's caches list
  again (their log says when: `cache listed`), after pauses with jitter (multus/kube/backoff.py),
- and one more round after that.

Prints JSON lines: requests per ADD by round, watch events and watch connections per daemon, daemon RSS
(median, max), time to relist after the restart and the spread of the relists, and upstream Multus's
figures for the same ADD, counted from its source (see UPSTREAM). Writes its samples to
benchmarks/out/scale.json and draws benchmarks/out/scale.png. Needs root and the native shim.
Usage: python -m benchmarks.bench_scale [--nodes N] [--pods-per-node N] [--nads N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config
from pyroute2 import netns

from benchmarks import plots
from benchmarks.__main__ import goals
from benchmarks.support import (
    DAEMON,
    NAD_API,
    NAD_PLURAL,
    NETWORKS_ANNOTATION,
    OUT,
    Sandbox,
    apiserver_samples,
    emit,
    ms,
    network_namespace,
    percentile,
    shims,
    summary,
    timed_run,
    unix_get,
)
from tests.testenv import REPO, TestEnv, running

FAKE_PLUGINS = REPO / "tests" / "fakeplugins"
NAMESPACE = "scale"
LOADERS = 8
# The API server's requests that are the daemons' business (leases and the like change on their own).
WATCHED = ("pods", "network-attachment-definitions", "events")
WATCHED_KINDS = ("Pod", "NetworkAttachmentDefinition", "Event")  # older servers label watch events so
READS = ("GET", "LIST")
GOAL_READS, GOAL_WRITES, GOAL_READY_SECONDS = 0, 1, 30.0
RESULT = {"cniVersion": "1.1.0", "ips": [{"address": "10.77.0.2/24"}]}

# Upstream Multus v4.3.0 in thin mode (no informers) for one pod ADD with one NAD network, read in
# /work/.mirror/k8snetworkplumbingwg+multus-cni/repo at tag v4.3.0:
UPSTREAM = {
    "reads_per_add": 5,
    "reads": [
        "GET pod: pkg/multus/multus.go:766 cmdAdd -> GetPod (a live GET without a PodInformer)",
        "GET NAD named after clusterNetwork: pkg/k8sclient/k8sclient.go:673 GetDefaultNetworks ->"
        " getNetDelegate -> getKubernetesDelegate (the NAD first, the conf file if that fails)",
        "GET NAD per network: pkg/k8sclient/k8sclient.go:361 TryLoadPodDelegates -> GetNetworkDelegates"
        " -> getNetDelegate",
        "GET pod: pkg/k8sclient/k8sclient.go:155 SetPodNetworkStatusAnnotation -> client.GetPod",
        "GET pod: vendor/github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/utils/"
        "net-attach-def.go setPodNetworkStatus, inside RetryOnConflict",
    ],
    "writes_per_add": 3,
    "writes": [
        "PUT pods/status: net-attach-def.go setPodNetworkStatus -> UpdateStatus",
        "POST events, one per interface (AddedInterface): pkg/multus/multus.go:483",
    ],
    "watch_connections_per_node": 0,
    "watch_events_per_node": 0,
}


@dataclass
class NodeDaemon:
    """One node's `multus-daemon`: its folders under `root`, its process, its log."""

    node_name: str
    root: Path
    kubeconfig: Path
    process: subprocess.Popen[bytes] | None = None
    netns_names: list[str] = field(default_factory=list)

    @property
    def conf_dir(self) -> Path:
        return self.root / "net.d"

    @property
    def socket_path(self) -> Path:
        return self.root / "run" / "multus.sock"

    @property
    def log_file(self) -> Path:
        return self.root / "daemon.log"

    def start(self) -> None:
        self.conf_dir.mkdir(parents=True)
        plugin = {"type": "fake-record", "result": RESULT}
        cluster = {"cniVersion": "1.1.0", "name": "scale-cluster", "plugins": [plugin]}
        (self.conf_dir / "10-cluster.conflist").write_text(json.dumps(cluster))
        config = {
            "nodeName": self.node_name,
            "kubeconfig": str(self.kubeconfig),
            "socketDir": str(self.socket_path.parent),
            "cniConfigDir": str(self.conf_dir),
            "multusConfigFile": "auto",
            "resultsDir": str(self.root / "results"),
            "logLevel": "verbose",
            "confDir": str(self.root / "multus-net.d"),
            "cniDir": str(self.root / "multus"),
            "binDir": str(FAKE_PLUGINS),
        }
        (self.root / "daemon-config.json").write_text(json.dumps(config))
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [str(DAEMON), "--config", str(self.root / "daemon-config.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise SystemExit(f"{self.node_name}'s daemon exited: {self.log_file.read_text()[-2000:]}")
        try:
            return unix_get(self.socket_path, "/readyz") == 200 and self.node_config.exists()
        except (OSError, ValueError, IndexError):
            return False

    @property
    def node_config(self) -> Path:
        return self.conf_dir / "00-multus.conf"

    def rss_kib(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise KeyError("VmRSS")

    def log_events(self, since: float) -> list[tuple[float, str, str]]:
        """(time, message, kind) of each log line written at or after `since` (epoch seconds)."""
        found = []
        for line in self.log_file.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(line)
                stamp = datetime.datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
                when = stamp.replace(tzinfo=datetime.UTC).timestamp()
                if when >= since:
                    found.append((when, entry["msg"], str(entry.get("kind", ""))))
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def reap(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for name in self.netns_names:
            with contextlib.suppress(OSError):
                netns.remove(name)


@contextlib.contextmanager
def daemons(env: TestEnv, root: Path, nodes: int) -> Iterator[list[NodeDaemon]]:
    started = [
        NodeDaemon(f"node-{index:03d}", root / f"node-{index:03d}", env.kubeconfig) for index in range(nodes)
    ]
    try:
        for served in started:
            served.start()
        yield started
    finally:
        for served in started:
            served.stop()
        for served in started:
            served.reap()


def wait_all_ready(served: list[NodeDaemon], timeout: float) -> float:
    started = time.monotonic()
    waiting = list(served)
    while waiting:
        waiting = [one for one in waiting if not one.ready()]
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{len(waiting)} daemons not ready after {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


# the API server's objects -----------------------------------------------------------------------------


def load(env: TestEnv, nodes: int, pods_per_node: int, nads: int) -> dict[tuple[str, int], str]:
    """The NADs and pods; each pod's UID by (node name, index on its node)."""
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(env.kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = LOADERS
    api = client.ApiClient(configuration)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})

    def make_nad(index: int) -> None:
        config = {"cniVersion": "1.1.0", "name": f"nad-{index:03d}", "type": "fake-record", "result": RESULT}
        body = {
            "apiVersion": "/".join(NAD_API),
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": f"nad-{index:03d}"},
            "spec": {"config": json.dumps(config)},
        }
        custom.create_namespaced_custom_object(*NAD_API, NAMESPACE, NAD_PLURAL, body)

    def make_pod(index: int) -> tuple[tuple[str, int], str]:
        node_name, on_node = f"node-{index % nodes:03d}", index // nodes
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name(node_name, on_node),
                "annotations": {NETWORKS_ANNOTATION: f"nad-{index % nads:03d}"},
            },
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "pause"}]},
        }
        created = core.create_namespaced_pod(NAMESPACE, body)
        return (node_name, on_node), str(created.metadata.uid)

    try:
        with ThreadPoolExecutor(LOADERS) as pool:
            list(pool.map(make_nad, range(nads)))
            return dict(pool.map(make_pod, range(nodes * pods_per_node)))
    finally:
        api.close()


def pod_name(node_name: str, on_node: int) -> str:
    return f"{node_name}-pod-{on_node:02d}"


def requests(env: TestEnv) -> dict[tuple[str, str, str], float]:
    counts: dict[tuple[str, str, str], float] = {}
    for sample in apiserver_samples(env):
        if sample.name == "apiserver_request_total" and sample.labels["resource"] in WATCHED:
            key = (sample.labels["verb"], sample.labels["resource"], sample.labels["subresource"])
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def watch_figures(env: TestEnv) -> tuple[float, dict[str, float]]:
    """Watch events sent so far (all watchers), and the watches open now, by resource."""
    sent, held = 0.0, dict[str, float]()
    for sample in apiserver_samples(env):
        if sample.name == "apiserver_watch_events_total" and (
            sample.labels.get("resource") in WATCHED or sample.labels.get("kind") in WATCHED_KINDS
        ):
            sent += sample.value
        elif sample.name == "apiserver_longrunning_requests" and sample.labels.get("verb") == "WATCH":
            resource = sample.labels["resource"]
            if resource in WATCHED:
                held[resource] = held.get(resource, 0.0) + sample.value
    return sent, held


# the rounds ------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The run's API server, its daemons, the pods' UIDs, the shim, the watches open before the daemons."""

    env: TestEnv
    served: list[NodeDaemon]
    uids: dict[tuple[str, int], str]
    native: tuple[str, ...]
    baseline: dict[str, float]


def add_round(cluster: Cluster, on_node: int) -> list[float]:
    """Pod `on_node` of every node ADDed through the native shim, one node after the other."""
    latencies = []
    for one in cluster.served:
        uid = cluster.uids[one.node_name, on_node]
        box = Sandbox(NAMESPACE, pod_name(one.node_name, on_node), uid, "")
        box.netns_name = f"scale-{one.node_name}-{on_node}"
        network_namespace(box.netns_name)
        one.netns_names.append(box.netns_name)
        elapsed, status, output = timed_run(
            cluster.native, box.environment("ADD"), one.node_config.read_bytes()
        )
        if status != 0:
            raise SystemExit(f"ADD on {one.node_name} failed: {output!r}")
        latencies.append(elapsed)
    return latencies


def measured_round(cluster: Cluster, on_node: int) -> tuple[dict[str, Any], list[float]]:
    """One ADD per node (pod `on_node` of each) and what the API server served for them."""
    env, served = cluster.env, cluster.served
    before, (sent_before, _) = requests(env), watch_figures(env)
    latencies = add_round(cluster, on_node)
    # The status and the Events are written after the reply: wait for the last ones.
    deadline = time.monotonic() + 60
    while requests(env).get(("PATCH", "pods", "status"), 0) - before.get(
        ("PATCH", "pods", "status"), 0
    ) < len(served):
        if time.monotonic() > deadline:
            raise SystemExit("network-status writes missing")
        time.sleep(0.5)
    time.sleep(2.0)
    after, (sent_after, held) = requests(env), watch_figures(env)
    change = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}
    change = {key: value for key, value in change.items() if key[0] != "WATCH"}
    reads = sum(value for key, value in change.items() if key[0] in READS)
    writes = {
        f"{verb} {resource}{'/' + sub if sub else ''}": value
        for (verb, resource, sub), value in change.items()
        if verb not in READS
    }
    adds = len(served)
    figures = {
        "adds": adds,
        "reads_per_add": round(reads / adds, 3),
        "writes_per_add": round(sum(writes.values()) / adds, 3),
        "status_writes_per_add": round(change.get(("PATCH", "pods", "status"), 0.0) / adds, 3),
        "requests": {
            f"{verb} {resource}{'/' + sub if sub else ''}": value
            for (verb, resource, sub), value in change.items()
        },
        "watch_events_per_daemon": round((sent_after - sent_before) / len(served), 2),
        "daemon_watches": daemon_watches(held, cluster.baseline),
        **{f"add_{key}": value for key, value in latency_figures(latencies).items()},
    }
    return figures, latencies


def daemon_watches(held: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """Watches open now less those open before the daemons started (the API server's own)."""
    return {resource: held[resource] - baseline.get(resource, 0.0) for resource in held}


def latency_figures(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": ms(statistics.median(samples)),
        "p95_ms": ms(percentile(samples, 0.95)),
        "max_ms": ms(max(samples)),
    }


def restart(
    env: TestEnv, served: list[NodeDaemon], timeout: float = 120.0
) -> tuple[dict[str, Any], list[float]]:
    """Restart the API server; wait for every daemon to list both caches again. Relist times are seconds
    after the restarted server first answered."""
    stopped = time.time()
    env.stop_apiserver()
    starting = time.time()
    env.start_apiserver()
    up = time.time()
    kinds = {"pods", NAD_PLURAL}
    deadline = time.monotonic() + timeout
    while True:
        relists: list[float] = []
        ready: list[float] = []
        failures: list[int] = []
        for one in served:
            events = one.log_events(stopped)
            first: dict[str, float] = {}
            for when, message, kind in events:
                if message == "cache listed":
                    relists.append(when - up)
                    first.setdefault(kind, when - up)
            failures.append(sum(1 for _, message, _ in events if message == "watch failed"))
            if set(first) >= kinds:
                ready.append(max(first.values()))
        if len(ready) == len(served) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    spread = sorted(relists)
    figures: dict[str, Any] = {
        "apiserver_stopping_s": round(starting - stopped, 2),
        "apiserver_starting_s": round(up - starting, 2),
        "daemons_relisted": len(ready),
        "ready_after_up_median_s": round(statistics.median(ready), 2) if ready else None,
        "ready_after_up_max_s": round(max(ready), 2) if ready else None,
        "ready_after_stop_max_s": round(max(ready) + up - stopped, 2) if ready else None,
        "relists": len(spread),
        "relist_first_s": round(spread[0], 2) if spread else None,
        "relist_p50_s": round(statistics.median(spread), 2) if spread else None,
        "relist_p90_s": round(percentile(spread, 0.9), 2) if spread else None,
        "relist_last_s": round(spread[-1], 2) if spread else None,
        "relists_in_busiest_second": max_per_second(spread),
        "watch_failures_per_daemon_median": statistics.median(failures),
        "watch_failures_per_daemon_max": max(failures),
    }
    return figures, spread


def max_per_second(times: list[float]) -> int:
    per_second: dict[int, int] = {}
    for when in times:
        per_second[int(when // 1)] = per_second.get(int(when // 1), 0) + 1
    return max(per_second.values(), default=0)


def run(nodes: int, pods_per_node: int, nads: int, root: Path) -> dict[str, Any]:
    measured, missing = shims(root / "bin")
    if missing:
        raise SystemExit(missing)
    native = measured[0].argv
    samples: dict[str, Any] = {"nodes": nodes}
    with running(root / "testenv") as env:
        started = time.monotonic()
        uids = load(env, nodes, pods_per_node, nads)
        emit(
            {
                "bench": "scale: objects created",
                "pods": len(uids),
                "nads": nads,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
        _, baseline = watch_figures(env)
        with daemons(env, root / "nodes", nodes) as served:
            start_seconds = wait_all_ready(served, timeout=600)
            sent_at_ready, held = watch_figures(env)
            cluster = Cluster(env, served, uids, native, baseline)
            emit(
                {
                    "bench": f"scale: {nodes} daemons started",
                    "seconds_to_all_ready": round(start_seconds, 1),
                    "daemon_watches": daemon_watches(held, baseline),
                    "watches_per_daemon": round(sum(daemon_watches(held, baseline).values()) / nodes, 2),
                }
            )
            rounds: dict[str, dict[str, Any]] = {}
            latencies: list[float] = []
            for label, on_node in (("first ADD per node", 0), ("steady ADD 1", 1), ("steady ADD 2", 2)):
                rounds[label], taken = measured_round(cluster, on_node)
                emit({"bench": f"scale: {nodes} nodes, {label}", **rounds[label]})
                if label.startswith("steady"):
                    latencies += taken
            steady = [rounds["steady ADD 1"], rounds["steady ADD 2"]]
            reads = max(line["reads_per_add"] for line in steady)
            status_writes = max(line["status_writes_per_add"] for line in steady)
            rss = sorted(one.rss_kib() / 1024 for one in served)
            sent_now, _ = watch_figures(env)
            emit(
                {
                    "bench": f"scale: {nodes} nodes, per daemon",
                    "rss_median_mib": round(statistics.median(rss), 1),
                    "rss_max_mib": round(max(rss), 1),
                    "rss_total_gib": round(sum(rss) / 1024, 2),
                    "watch_events_per_daemon_since_ready": round((sent_now - sent_at_ready) / nodes, 2),
                }
            )
            recovery, relists = restart(env, served)
            emit({"bench": f"scale: {nodes} nodes, API server restarted", **recovery})
            after, _ = measured_round(cluster, 3)
            emit({"bench": f"scale: {nodes} nodes, ADD after the restart", **after})
    emit({"bench": "scale: upstream Multus v4.3.0 thin, per node", **UPSTREAM})
    line = {
        "bench": f"scale: {nodes} nodes, steady-state ADD against the goals",
        "reads_per_add": reads,
        "goal_reads_per_add": GOAL_READS,
        "status_writes_per_add": status_writes,
        "writes_per_add": max(line["writes_per_add"] for line in steady),
        "goal_status_writes_per_add": GOAL_WRITES,
        "ready_after_up_max_s": recovery["ready_after_up_max_s"],
        "goal_ready_seconds": GOAL_READY_SECONDS,
    }
    emit(line)
    samples.update(
        {
            "add_seconds": latencies,
            "relist_seconds": relists,
            "apiserver_gone_s": recovery["apiserver_stopping_s"],
            "apiserver_down_s": recovery["apiserver_stopping_s"] + recovery["apiserver_starting_s"],
            "rss_mib": rss,
            "goals": line,
        }
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps(samples))
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--pods-per-node", type=int, default=50)
    parser.add_argument("--nads", type=int, default=500)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    if args.pods_per_node < 4:
        sys.exit("each node needs 4 pods: the first ADD, two steady ones and one after the restart")
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        line = run(args.nodes, args.pods_per_node, args.nads, Path(folder))
    plots.main()
    for goal in goals([line]):
        print(f"goal {goal}", flush=True)
    summary(
        f"{args.nodes} nodes: {line['reads_per_add']} reads and {line['status_writes_per_add']} status writes"
        f" per steady-state ADD ({line['writes_per_add']} writes with the Events; upstream thin:"
        f" {UPSTREAM['reads_per_add']} and {UPSTREAM['writes_per_add']}); every daemon relisted"
        f" {line['ready_after_up_max_s']} s after the API server came back (goal < {GOAL_READY_SECONDS:g} s)"
    )


if __name__ == "__main__":
    main()
