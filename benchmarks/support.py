"""What the daemon benchmarks share: a real daemon on a real API server, the shims, a small node.

`Node` is one benchmark's world in a temporary folder: a cluster network (bridge + host-local) in a CNI
conf dir, two NADs (bridge + host-local, bridges of their own), a Kubernetes namespace, and the network
namespaces of its pod sandboxes. `Daemon` runs `multus-daemon` on that node as a process of its own.
A `Shape` is a pod on that node (its networks, the daemon settings they need) with its delegates, run
directly as the daemon would run them: the floor to measure the daemon against.
Every address is in 10.23x.0.0/16 on bridges that exist only for the run; everything is removed at the end.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from multus.attachment_cache import SpareFiles
from multus.cni import (
    NetworkConfigList,
    PluginConfig,
    Result,
    parse_network_config,
    parse_result,
    plugin_stdin,
)
from tests.testenv import CNI_BIN, REPO, TestEnv, free_port

NAD_API = ("k8s.cni.cncf.io", "v1")
NAD_PLURAL = "network-attachment-definitions"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
DAEMON = REPO / ".venv" / "bin" / "multus-daemon"
PYTHON_SHIM_SOURCE = REPO / "multus" / "shim" / "multus_shim.py"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"  # what a node's runtime has; no virtualenv on it
OUT = REPO / "benchmarks" / "out"  # the samples of the last run and the plots drawn from them

_octet = itertools.count(230)


def emit(line: dict[str, Any]) -> None:
    """One figure: a JSON line on stdout."""
    print(json.dumps(line), flush=True)


def summary(text: str) -> None:
    """The human line of a benchmark module."""
    print(f"summary: {text}", flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 2)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `fraction` of the samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(round(fraction * len(ordered), 9)))
    return ordered[rank - 1]


def stats_ms(samples: Sequence[float]) -> dict[str, float]:
    return {
        "median_ms": ms(statistics.median(samples)),
        "p95_ms": ms(percentile(samples, 0.95)),
        "p99_ms": ms(percentile(samples, 0.99)),
        "min_ms": ms(min(samples)),
        "max_ms": ms(max(samples)),
    }


# shims ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shim:
    """One way of running the shim: a name for the figures and the command the runtime would exec."""

    name: str
    argv: tuple[str, ...]


def shims(folder: Path) -> tuple[list[Shim], str | None]:
    """The shims to measure, native first; and why the native one is missing, if it is.

    The Python shim is measured as a node runs it: the single file copied into the CNI bin dir and
    started through its `#!/usr/bin/env python3` line with the system's interpreter.
    """
    found: list[Shim] = []
    missing = None
    native = Path(os.environ.get("MULTUS_NATIVE_SHIM") or REPO / "build" / "multus-shim")
    if native.is_file() and os.access(native, os.X_OK):
        found.append(Shim("native", (str(native),)))
    else:
        missing = f"native shim not found at {native} (make shim)"
    folder.mkdir(parents=True, exist_ok=True)
    python_shim = folder / "multus-shim"
    shutil.copyfile(PYTHON_SHIM_SOURCE, python_shim)
    python_shim.chmod(0o755)
    found.append(Shim("python", (str(python_shim),)))
    return found, missing


def require_native() -> bool:
    """`make bench` names the native shim in MULTUS_NATIVE_SHIM: then it must be there."""
    return bool(os.environ.get("MULTUS_NATIVE_SHIM"))


def timed_run(argv: Sequence[str], env: dict[str, str], stdin: bytes) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    done = subprocess.run(list(argv), input=stdin, env=env, capture_output=True, check=False)
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


# the node -----------------------------------------------------------------------------------------


@dataclass
class BridgeNetwork:
    name: str
    bridge: str
    subnet: str
    config: dict[str, Any]


@dataclass
class Sandbox:
    namespace: str
    pod: str
    uid: str
    netns_name: str
    container_id: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:20]}")
    # True: plugins get only PATH and the CNI variables, as some runtimes give them (none of theirs).
    minimal_environment: bool = False

    @property
    def netns(self) -> str:
        return f"/var/run/netns/{self.netns_name}"

    def cni_args(self) -> str:
        return ";".join(
            [
                "IgnoreUnknown=1",
                f"K8S_POD_NAMESPACE={self.namespace}",
                f"K8S_POD_NAME={self.pod}",
                f"K8S_POD_INFRA_CONTAINER_ID={self.container_id}",
                f"K8S_POD_UID={self.uid}",
            ]
        )

    def environment(
        self, command: str, ifname: str = "eth0", extra_args: Sequence[tuple[str, str]] = ()
    ) -> dict[str, str]:
        """What a runtime execs a plugin (or the shim) with: its own environment and the CNI variables,
        as libcni does. The daemon's delegates inherit the daemon's environment, so direct runs get the
        same size of environment, which every Go plugin copies at start and passes to its IPAM plugin.
        `extra_args` go at the end of CNI_ARGS (the `IP=`/`MAC=` the daemon adds for a selection)."""
        inherited = {} if self.minimal_environment else os.environ
        cni_args = ";".join([self.cni_args(), *(f"{key}={value}" for key, value in extra_args)])
        return {
            **{name: value for name, value in inherited.items() if not name.startswith("CNI_")},
            "PATH": SYSTEM_PATH,
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": ifname,
            "CNI_ARGS": cni_args,
            "CNI_PATH": str(CNI_BIN),
        }


def network_namespace(name: str) -> None:
    """A pod sandbox's network namespace, /var/run/netns/`name`, with its loopback up."""
    netns.create(name)
    with IPRoute(netns=name, flags=0) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


class Node:
    """A node's worth of CNI state in `root`, pods in namespace `namespace` of `env`'s API server."""

    def __init__(self, env: TestEnv, root: Path, node_name: str = "bench-node") -> None:
        self.env = env
        self.root = root
        self.node_name = node_name
        self.api = kube_config.new_client_from_config(config_file=str(env.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.conf_dir = root / "net.d"
        self.ipam_dir = root / "ipam"
        self.cni_dir = root / "multus"
        self.results_dir = root / "results"
        self.socket_dir = root / "run"
        for folder in (self.conf_dir, self.ipam_dir, self.cni_dir, self.results_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.namespace = f"bench-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace)))
        self.octet = next(_octet)
        self._subnets = itertools.count(1)
        self.bridges: list[str] = []  # links of the host namespace to delete at the end (veths too)
        self.netns_names: list[str] = []
        self.cluster = self.bridge_network("bench-cluster", gateway_route=True)
        (self.conf_dir / "10-cluster.conflist").write_text(
            json.dumps({"cniVersion": "1.1.0", "name": self.cluster.name, "plugins": [self.cluster.config]})
        )
        self.extra = [self.bridge_network("net-a"), self.bridge_network("net-b")]
        for network in self.extra:
            self.create_nad(network.name, network.config)

    def bridge_network(self, name: str, *, gateway_route: bool = False) -> BridgeNetwork:
        subnet = f"10.{self.octet}.{next(self._subnets)}.0/24"
        bridge = f"bb{uuid.uuid4().hex[:10]}"
        self.bridges.append(bridge)
        ipam: dict[str, Any] = {
            "type": "host-local",
            "dataDir": str(self.ipam_dir),
            "ranges": [[{"subnet": subnet}]],
        }
        if gateway_route:
            ipam["routes"] = [{"dst": "0.0.0.0/0"}]
        config = {"type": "bridge", "bridge": bridge, "isGateway": True, "ipam": ipam}
        return BridgeNetwork(name, bridge, subnet, config)

    def create_nad(self, name: str, config: dict[str, Any]) -> None:
        body = {
            "apiVersion": "/".join(NAD_API),
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name},
            "spec": {"config": json.dumps({"cniVersion": "1.1.0", "name": name, **config})},
        }
        self.custom.create_namespaced_custom_object(*NAD_API, self.namespace, NAD_PLURAL, body)

    def veth_master(self) -> str:
        """A veth pair made for the run: the host end's name, up (a macvlan master); its peer is up in a
        network namespace of its own."""
        host, peer, peer_ns = (
            f"bv{uuid.uuid4().hex[:10]}",
            f"bp{uuid.uuid4().hex[:10]}",
            f"bench-{uuid.uuid4().hex[:10]}",
        )
        netns.create(peer_ns)
        self.netns_names.append(peer_ns)
        with IPRoute() as ipr:
            ipr.link("add", ifname=host, kind="veth", peer={"ifname": peer, "net_ns_fd": peer_ns})
            self.bridges.append(host)
            ipr.link("set", index=ipr.link_lookup(ifname=host)[0], state="up")
        with IPRoute(netns=peer_ns, flags=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], state="up")
        return host

    def sandbox(self, networks: str | None = None, *, minimal_environment: bool = False) -> Sandbox:
        """A pod on this node asking for `networks` (the annotation's value; default: both extra
        networks by name), and a network namespace for it."""
        name = f"pod-{uuid.uuid4().hex[:10]}"
        if networks is None:
            networks = ",".join(network.name for network in self.extra)
        annotations = {NETWORKS_ANNOTATION: networks}
        created = self.core.create_namespaced_pod(
            self.namespace,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "annotations": annotations},
                "spec": {"nodeName": self.node_name, "containers": [{"name": "c", "image": "pause"}]},
            },
        )
        netns_name = f"bench-{uuid.uuid4().hex[:10]}"
        network_namespace(netns_name)
        self.netns_names.append(netns_name)
        return Sandbox(
            self.namespace,
            name,
            str(created.metadata.uid),
            netns_name,
            minimal_environment=minimal_environment,
        )

    def leftovers(self, sandboxes: Sequence[Sandbox]) -> list[str]:
        """Links, attachment records and IP allocations still present after every DEL."""
        found: list[str] = []
        for box in sandboxes:
            with IPRoute(netns=box.netns_name, flags=0) as ipr:
                found += [
                    f"{box.netns_name}: {link.get_attr('IFLA_IFNAME')}"
                    for link in ipr.get_links()
                    if link.get_attr("IFLA_IFNAME") != "lo"
                ]
        # The daemon's spare files (empty, a few per folder, made ahead for the next records) are not.
        found += [
            f"record {path.name}"
            for path in self.cni_dir.iterdir()
            if not path.name.startswith(SpareFiles.PREFIX)
        ]
        found += [
            f"lease {path.name}"
            for path in self.ipam_dir.rglob("*")
            if path.is_file() and path.name[0].isdigit() and path.name.count(".") == 3
        ]
        return found

    def close(self) -> None:
        for name in self.netns_names:
            with contextlib.suppress(OSError):
                netns.remove(name)
        with IPRoute() as ipr:
            for bridge in self.bridges:
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", ifname=bridge)
        with contextlib.suppress(client.ApiException):
            self.core.delete_namespace(self.namespace)
        self.api.close()


# pod shapes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delegate:
    """One attachment as the daemon runs it: its config list and what its selection adds."""

    ifname: str
    conflist: NetworkConfigList
    capability_args: dict[str, Any] = field(default_factory=dict)
    cni_args: tuple[tuple[str, str], ...] = ()

    def invocation(
        self, box: Sandbox, command: str, plugin: PluginConfig, prev: Result | None
    ) -> tuple[list[str], dict[str, str], bytes]:
        """The argv, environment and stdin of one of its plugins' runs, as the daemon gives them."""
        stdin = plugin_stdin(self.conflist, plugin, prev_result=prev, capability_args=self.capability_args)
        environment = box.environment(command, self.ifname, self.cni_args)
        return [str(CNI_BIN / plugin.type)], environment, stdin


class Direct:
    """The pod's delegates, exec'd directly in the order the daemon runs them."""

    def __init__(self, delegates: list[Delegate]) -> None:
        self.delegates = delegates

    def _run(
        self, box: Sandbox, command: str, delegate: Delegate, plugin: PluginConfig, prev: Result | None
    ) -> tuple[float, bytes]:
        took, status, output = timed_run(*delegate.invocation(box, command, plugin, prev))
        if status != 0:
            raise SystemExit(f"direct {command} of {delegate.ifname} ({plugin.type}) failed: {output!r}")
        return took, output

    def add(self, box: Sandbox) -> tuple[float, list[Result]]:
        elapsed, results = 0.0, []
        for delegate in self.delegates:
            result: Result | None = None
            for plugin in delegate.conflist.plugins:
                took, output = self._run(box, "ADD", delegate, plugin, result)
                elapsed += took
                result = parse_result(output)
            assert result is not None
            results.append(result)
        return elapsed, results

    def delete(self, box: Sandbox, results: list[Result]) -> float:
        elapsed = 0.0
        for delegate, result in reversed(list(zip(self.delegates, results, strict=True))):
            for plugin in reversed(delegate.conflist.plugins):
                elapsed += self._run(box, "DEL", delegate, plugin, result)[0]
        return elapsed


# Seconds between operations: the previous one's background work (network-status and Events written
# after the reply, the kernel's deferred cleanup of deleted links) must not land in the next.
SETTLE_SECONDS = 0.1
# One way of running a pod's ADD or DEL besides the direct one: its wall time in seconds.
Through = Callable[[str, str], float]


def interleaved_rounds(
    box: Sandbox, direct: Direct, ways: dict[str, Through], rounds: int, warmup: int
) -> dict[tuple[str, str], list[float]]:
    """ADD then DEL of `box`'s pod directly and each of `ways` (name -> run(way, command)), in an order
    that rotates every round, each operation after SETTLE_SECONDS; samples by (way, command), the first
    `warmup` rounds left out."""
    samples: dict[tuple[str, str], list[float]] = {}
    names = ["direct", *ways]
    for round_number in range(warmup + rounds):
        turn = names[round_number % len(names) :] + names[: round_number % len(names)]
        timings: dict[tuple[str, str], float] = {}
        for way in turn:
            box.container_id = f"bench{os.urandom(10).hex()}"
            time.sleep(SETTLE_SECONDS)
            if way == "direct":
                timings[way, "ADD"], results = direct.add(box)
                time.sleep(SETTLE_SECONDS)
                timings[way, "DEL"] = direct.delete(box, results)
            else:
                timings[way, "ADD"] = ways[way](way, "ADD")
                time.sleep(SETTLE_SECONDS)
                timings[way, "DEL"] = ways[way](way, "DEL")
        if round_number >= warmup:
            for key, value in timings.items():
                samples.setdefault(key, []).append(value)
    return samples


@dataclass
class Shape:
    """A pod shape: the daemon settings that make it, its sandbox and its delegates run directly."""

    name: str
    settings: dict[str, Any]
    box: Sandbox
    direct: Direct


def bridges_delegates(world: Node) -> list[Delegate]:
    """The delegates of a pod of `world.sandbox()`: the cluster network's bridge, then both extra ones."""
    cluster = json.loads((world.conf_dir / "10-cluster.conflist").read_text())
    configs = [cluster, *({"cniVersion": "1.1.0", "name": n.name, **n.config} for n in world.extra)]
    return [
        Delegate(ifname, parse_network_config(config))
        for ifname, config in zip(("eth0", "net1", "net2"), configs, strict=True)
    ]


def bridges_shape(world: Node) -> Shape:
    return Shape("eth0+2 bridges", {}, world.sandbox(), Direct(bridges_delegates(world)))


def macvlan_shape(world: Node) -> Shape:
    """eth0 from `confDir` by name, net1 a bridge NAD, net2 macvlan + tuning with static `ips` and `mac`."""
    conf_dir = world.root / "multus-net.d"  # the daemon's confDir (Daemon's config)
    conf_dir.mkdir(exist_ok=True)
    shutil.copyfile(world.conf_dir / "10-cluster.conflist", conf_dir / "10-cluster.conflist")
    address, mac = f"10.{world.octet}.250.10/24", f"02:00:0a:{world.octet:02x}:fa:0a"
    macvlan = {
        "cniVersion": "1.1.0",
        "name": "net-mv",
        "plugins": [
            {
                "type": "macvlan",
                "master": world.veth_master(),
                "mode": "bridge",
                "capabilities": {"ips": True},
                "ipam": {"type": "static"},
            },
            {"type": "tuning", "capabilities": {"mac": True}},
        ],
    }
    world.create_nad("net-mv", macvlan)
    bridge = world.extra[0]
    selections = [{"name": bridge.name}, {"name": "net-mv", "ips": [address], "mac": mac}]
    box = world.sandbox(json.dumps(selections), minimal_environment=True)
    cluster = json.loads((conf_dir / "10-cluster.conflist").read_text())
    delegates = [
        Delegate("eth0", parse_network_config(cluster)),
        Delegate("net1", parse_network_config({"cniVersion": "1.1.0", "name": bridge.name, **bridge.config})),
        Delegate(
            "net2",
            parse_network_config(macvlan),
            capability_args={"ips": [address], "mac": mac},
            cni_args=(("IP", address), ("MAC", mac)),
        ),
    ]
    settings = {"clusterNetwork": world.cluster.name}
    return Shape(
        "eth0 bridge+bridge+macvlan/tuning, cluster network by name", settings, box, Direct(delegates)
    )


@contextlib.contextmanager
def busy_core(seconds: float, core: int = 0) -> Iterator[None]:
    """A background CPU load: one process spinning on `core` for at most `seconds`, killed on leaving."""
    spin = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    process = subprocess.Popen([sys.executable, "-c", spin])
    try:
        os.sched_setaffinity(process.pid, {core})
        yield
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def node(env: TestEnv, root: Path) -> Iterator[Node]:
    world = Node(env, root)
    try:
        yield world
    finally:
        world.close()


# the daemon ---------------------------------------------------------------------------------------


def unix_get(socket_path: Path, url: str, timeout: float = 2.0) -> int:
    """The HTTP status of a GET on the daemon's unix socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(f"GET {url} HTTP/1.0\r\nHost: multus\r\n\r\n".encode())
        head = sock.recv(64)
    return int(head.split()[1])


class Daemon:
    """`multus-daemon` serving `world`, as a process of its own; its log goes to a file."""

    def __init__(self, world: Node, **settings: Any) -> None:
        self.world = world
        self.metrics_port = free_port()
        self.config = {
            "nodeName": world.node_name,
            "kubeconfig": str(world.env.kubeconfig),
            "socketDir": str(world.socket_dir),
            "cniConfigDir": str(world.conf_dir),
            "multusConfigFile": "auto",
            "resultsDir": str(world.results_dir),
            "metricsPort": self.metrics_port,
            "metricsAddress": "127.0.0.1",
            "logLevel": "verbose",
            "confDir": str(world.root / "multus-net.d"),
            "cniDir": str(world.cni_dir),
            "binDir": str(CNI_BIN),
            **settings,
        }
        self.config_file = world.root / "daemon-config.json"
        self.config_file.write_text(json.dumps(self.config))
        self.log_file = world.root / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.world.socket_dir / "multus.sock"

    @property
    def node_config(self) -> Path:
        return self.world.conf_dir / "00-multus.conf"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [str(DAEMON), "--config", str(self.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"multus-daemon exited: {self.log_file.read_text()[-2000:]}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                if unix_get(self.socket_path, "/readyz") == 200 and self.node_config.exists():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"multus-daemon not ready after {timeout:.0f}s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def metrics(self) -> dict[str, float]:
        """The daemon's Prometheus samples, `name{labels}` to value."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def status_kib(self, key: str) -> int:
        """A line of /proc/<pid>/status in KiB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise KeyError(key)


@contextlib.contextmanager
def daemon(world: Node, **settings: Any) -> Iterator[Daemon]:
    served = Daemon(world, **settings)
    try:
        served.start()
        yield served
    finally:
        served.stop()


# the API server's side --------------------------------------------------------------------------------


def apiserver_samples(env: TestEnv) -> list[Sample]:
    """Every sample of the API server's own /metrics, read with the admin certificate."""
    pki = env.root / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(f"{env.server}/metrics", context=context, timeout=30) as reply:  # noqa: S310
        text = reply.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]
