"""One Kubernetes node on this machine, for the kubelet tests, `bench_kubelet` and people (`make node`).

The node: a real kubelet (`tests/runtimes/kubelet.py`) on the runtime tests' thick containerd 1.6 node
(`tests/runtimes/multus_node.py`): a real `multus-daemon` writes `00-multus.conf` in front of a bridge +
host-local primary config at cniVersion 1.0.0, and the runtime execs the native shim as `multus-shim`.
The daemon's records and the leases of the primary and of the NADs made here live under the node's
folder.

`python -m tests.runtimes.node up [DIR]` starts an API server and the node in the background (a process
of its own holds them; its output is `DIR/node.log`) and prints the kubeconfig and what to try;
`python -m tests.runtimes.node down [DIR]` stops it (the node's pods are deleted first) and removes DIR.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes import config as kube_config
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from multus.attachment_cache import SpareFiles
from tests.conftest import unique_name
from tests.e2e.daemon.support import DaemonProcess
from tests.e2e.meta.runtime import NETWORKS, RESULTS_DIR, _is_ip, next_subnet
from tests.runtimes import containerd
from tests.runtimes.kubelet import KUBECTL, Kubelet, pod_manifest
from tests.runtimes.kubelet import running as kubelet_running
from tests.runtimes.multus_node import MultusNode, multus_node
from tests.testenv import CNI_BIN, REPO, TestEnv, _alive, _terminate
from tests.testenv import running as apiserver_running

DEFAULT_DIR = Path(tempfile.gettempdir()) / "multus-py-node"
FLAVOUR = "containerd-1.6"
EXAMPLE = REPO / "examples" / "01-comma-form"


@dataclass(frozen=True)
class PodSandbox:
    """A pod's sandbox as the runtime has it: its ID (CNI_CONTAINERID) and network namespace."""

    namespace: str
    name: str
    id: str
    netns: str


@dataclass
class Node:
    """A running node: the thick containerd node `cri` and its kubelet; `cri.root` holds every folder."""

    cri: MultusNode
    kubelet: Kubelet
    core: client.CoreV1Api
    bridges: list[str] = field(default_factory=list)  # of the NADs made here, removed with the node

    @property
    def name(self) -> str:
        return self.cri.name

    @property
    def root(self) -> Path:
        return self.cri.root

    @property
    def daemon(self) -> DaemonProcess:
        assert self.cri.daemon is not None, "a thick node"
        return self.cri.daemon

    @property
    def containerd(self) -> containerd.Containerd:
        return self.cri.containerd

    @property
    def conf_dir(self) -> Path:
        return self.daemon.conf_dir

    @property
    def primary_subnet(self) -> ipaddress.IPv4Network:
        return self.cri.primary.subnet

    def apply(self, *objects: Mapping[str, Any]) -> None:
        """`kubectl apply -f` of a file listing `objects`, as a person applies manifests."""
        manifest = self.root / "manifests" / f"{unique_name('apply-')}.json"
        manifest.parent.mkdir(exist_ok=True)
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
        self.kubelet.kubectl("apply", "-f", str(manifest))

    def pod(self, name: str, namespace: str, networks: str | None = None) -> dict[str, Any]:
        """A pod for this node running the pause image; `networks` is its networks annotation."""
        annotations = {} if networks is None else {NETWORKS: networks}
        return pod_manifest(name, namespace, self.name, containerd.PAUSE_IMAGE, annotations)

    def bridge_nad(self, name: str, namespace: str) -> tuple[dict[str, Any], ipaddress.IPv4Network]:
        """A NetworkAttachmentDefinition of a bridge of its own with host-local addresses in a /24 of
        its own (leases under the node's folder); the bridge is removed with the node."""
        subnet, bridge = next_subnet(), unique_name("mpyk")
        self.bridges.append(bridge)
        config = {
            "cniVersion": "1.0.0",
            "name": name,
            "type": "bridge",
            "bridge": bridge,
            "ipam": {
                "type": "host-local",
                "dataDir": str(self.cri.ipam_dir),
                "ranges": [[{"subnet": str(subnet)}]],
            },
        }
        nad = {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"config": json.dumps(config)},
        }
        return nad, subnet

    def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod as the API server has it; None once it is gone."""
        try:
            pod = self.core.read_namespaced_pod(name, namespace)
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        found: dict[str, Any] = self.core.api_client.sanitize_for_serialization(pod)
        return found

    def sandbox(self, namespace: str, name: str) -> PodSandbox:
        """The pod's ready sandbox in the runtime."""
        ids = self.containerd.crictl(
            "pods", "--namespace", namespace, "--name", f"^{name}$", "--state", "ready", "-q"
        ).split()
        assert len(ids) == 1, f"{namespace}/{name}: ready sandboxes {ids}"
        return PodSandbox(namespace, name, ids[0], self.containerd.netns_of(ids[0]))

    def wait_running(
        self, namespace: str, names: Collection[str], since: float, timeout: float = 120.0
    ) -> dict[str, float]:
        """Wait until every pod named is Running; the seconds from `since` (monotonic) to when each
        was first seen Running."""
        seen: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while True:
            for pod in self.core.list_namespaced_pod(namespace).items:
                name = pod.metadata.name if pod.metadata else None
                if name in names and pod.status and pod.status.phase == "Running":
                    seen.setdefault(str(name), time.monotonic() - since)
            if len(seen) == len(names):
                return seen
            if time.monotonic() > deadline:
                missing = sorted(set(names) - set(seen))
                raise AssertionError(f"not Running after {timeout:g}s: {missing}\n{self.kubelet.log_tail()}")
            time.sleep(0.05)

    def leftovers(self, sandboxes: Collection[PodSandbox]) -> list[str]:
        """What the pods' networking left: their netns and cached results, and, counted for every pod as
        only a node without pods is clean, ports on the node's bridges, leases and records. [] when
        clean."""
        found = [f"netns {box.netns} of {box.name}" for box in sandboxes if os.path.exists(box.netns)]
        namespaces = {box.namespace for box in sandboxes}
        found += [f"cached result {path.name}" for path in cached_results(namespaces)]
        with IPRoute() as ipr:
            links = ipr.get_links()
            names = {link["index"]: link.get("IFLA_IFNAME") for link in links}
            bridges = {self.cri.primary.bridge, *self.bridges}
            ours = {index: name for index, name in names.items() if name in bridges}
            found += [
                f"port {link.get('IFLA_IFNAME')} on {ours[link.get('IFLA_MASTER')]}"
                for link in links
                if link.get("IFLA_MASTER") in ours
            ]
        found += [f"lease {path}" for path in self.cri.ipam_dir.rglob("*") if _is_ip(path.name)]
        found += [
            f"record {path.name}"
            for path in self.cri.cni_dir.glob("*")
            if not path.name.startswith(SpareFiles.PREFIX)
        ]
        return found

    def wait_clean(self, sandboxes: Collection[PodSandbox], timeout: float = 10.0) -> list[str]:
        """`leftovers` once they are gone, or what is still there after `timeout`: the daemon removes a
        DEL's record and cached results just after answering."""
        deadline = time.monotonic() + timeout
        while (found := self.leftovers(sandboxes)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return found


def cached_results(namespaces: Collection[str]) -> list[Path]:
    """Cached results (containerd's libcni and the daemon's, both in the libcni cache) of pods in
    `namespaces`, named in their cniArgs: failed sandboxes' too."""
    found = []
    for path in RESULTS_DIR.glob("*"):
        with contextlib.suppress(OSError, ValueError):  # removed or being written meanwhile
            args = dict(json.loads(path.read_text()).get("cniArgs") or [])
            if args.get("K8S_POD_NAMESPACE") in namespaces:
                found.append(path)
    return found


def built_shim() -> Path:
    """The native shim of `make shim`, or the one MULTUS_NATIVE_SHIM names."""
    return Path(os.environ.get("MULTUS_NATIVE_SHIM") or REPO / "build" / "multus-shim")


@contextlib.contextmanager
def running(root: Path, apiserver: TestEnv, shim: Path) -> Iterator[Node]:
    """The node, started in `root` (made if missing, else empty); on leaving, its pods are deleted and
    the kubelet stops, then the rest as `multus_node` stops it, and the NADs' bridges go."""
    root.mkdir(parents=True, exist_ok=True)
    api = kube_config.new_client_from_config(config_file=str(apiserver.kubeconfig))
    bridges: list[str] = []
    try:
        with (
            multus_node(
                FLAVOUR, "thick", root, apiserver=apiserver, cni_bin=CNI_BIN, native_shim=shim
            ) as cri,
            kubelet_running(root / "kubelet", apiserver, cri.containerd, cri.name) as kubelet,
        ):
            yield Node(cri, kubelet, client.CoreV1Api(api), bridges)
    finally:
        api.close()
        with IPRoute() as ipr:
            for bridge in bridges:
                with contextlib.suppress(NetlinkError):  # never made: no pod used that network
                    ipr.link("del", ifname=bridge)


# make node ----------------------------------------------------------------------------------------


def serve(root: Path, shim: Path) -> None:
    """Run an API server and the node until SIGTERM or SIGINT, then stop them; `root/ready` appears
    when they are up."""
    # Noted, not raised: a signal during start-up stops the node once it is up. (Not blocked either: the
    # processes started here would inherit the blocked mask and ignore their own SIGTERM.)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    with apiserver_running(root / "apiserver") as apiserver, running(root / "node", apiserver, shim) as node:
        write_example(node, root)
        (root / "ready").write_text(
            json.dumps({"node": node.name, "crictl": str(node.containerd.root / "crictl.yaml")})
        )
        stop.wait()


def write_example(node: Node, root: Path) -> None:
    """EXAMPLE's NADs and pod, for this node: the NADs keep their leases in the node's folder (and their
    bridges go with the node), the pod runs on the node with the pause image."""
    nads = list(yaml.safe_load_all((EXAMPLE / "networks.yaml").read_text()))
    for nad in nads:
        config = json.loads(nad["spec"]["config"])
        config["ipam"]["dataDir"] = str(node.cri.ipam_dir)
        nad["spec"]["config"] = json.dumps(config, indent=2)
        node.bridges.append(config["bridge"])
    (root / "networks.yaml").write_text(yaml.safe_dump_all(nads, sort_keys=False))
    example = yaml.safe_load((EXAMPLE / "pod.yaml").read_text())
    pod = node.pod(example["metadata"]["name"], example["metadata"]["namespace"])
    pod["metadata"]["annotations"] = example["metadata"]["annotations"]
    (root / "pod.yaml").write_text(yaml.safe_dump(pod, sort_keys=False))


def up(root: Path) -> int:
    if (root / "serve.pid").exists() and _alive(int((root / "serve.pid").read_text())):
        print(f"node: {root} already holds a running node (make node-down)", file=sys.stderr)
        return 1
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with (root / "node.log").open("ab") as log:
        # A session of its own: the node outlives `make node` and a terminal's Ctrl-C.
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.runtimes.node", "serve", str(root), str(built_shim())],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (root / "serve.pid").write_text(str(server.pid))
    while not (root / "ready").exists():
        if server.poll() is not None:
            print((root / "node.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            print(f"node: failed to start (exit {server.returncode})", file=sys.stderr)
            return 1
        time.sleep(0.2)
    ready = json.loads((root / "ready").read_text())
    netns = "$(crictl inspectp $(crictl pods --name web -q) | grep -om1 '/var/run/netns/cni-[0-9a-f-]*')"
    lines = [
        f"node {ready['node']} is up (kubelet, containerd 1.6, multus-daemon); its state is in {root}",
        f"  export KUBECONFIG={root / 'apiserver' / 'kubeconfig'}",
        f"  alias kubectl={KUBECTL} crictl='{containerd.CRICTL} --config {ready['crictl']}'",
        f"{EXAMPLE.relative_to(REPO)} on it (leases in the node's folder; the pod on the node, pause image):",
        "  kubectl create namespace demo",
        f"  kubectl apply -f {root / 'networks.yaml'}",
        f"  kubectl apply -f {root / 'pod.yaml'}",
        "  kubectl get pod -n demo web -o yaml      # Running, with its network-status annotation",
        f"  nsenter --net={netns} ip address",
        "make node-down stops it all and removes the folder.",
    ]
    print("\n".join(lines))
    return 0


def down(root: Path) -> int:
    pid_file = root / "serve.pid"
    if pid_file.exists():
        _terminate(int(pid_file.read_text()), grace=300.0)  # it deletes the pods and stops everything
    shutil.rmtree(root, ignore_errors=True)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) == 3:
        serve(Path(argv[1]), Path(argv[2]))
        return 0
    if len(argv) not in (1, 2) or argv[0] not in ("up", "down"):
        print("usage: python -m tests.runtimes.node up|down [DIR]", file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) == 2 else DEFAULT_DIR
    return up(root) if argv[0] == "up" else down(root)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
