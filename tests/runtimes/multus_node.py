"""multus-py on a containerd node, for the runtime tests.

`MultusNode` is one containerd (tests/runtimes/containerd.py) whose CNI plugin is multus-py, in front of a
primary conflist (bridge + host-local + bandwidth at cniVersion 1.0.0, what every runtime's libcni
reads). Thick: a real `multus-daemon` writes `00-multus.conf` itself and containerd execs the native
shim. Thin: containerd execs `.venv/bin/multus` with a hand-written `00-multus.conf`.

`CriRuntime` is the meta-plugin tests' `Runtime` (NADs, pod objects, network-status, Events, leftovers)
whose pod sandboxes containerd makes, through crictl, as the kubelet has it do.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from tests.conftest import unique_name
from tests.e2e.daemon.support import (
    BOOKKEEPING_SECONDS,
    NODE_CONFIG,
    DaemonProcess,
    cluster_conflist,
    daemon_config,
    wait_for,
)
from tests.e2e.meta.runtime import (
    MULTUS,
    RESULTS_DIR,
    BridgeNet,
    Runtime,
    Sandbox,
    _is_ip,
    next_subnet,
)
from tests.runtimes.containerd import Containerd, CrictlError, running
from tests.testenv import TestEnv

MODES = ("thick", "thin")
PRIMARY = "mpy-cri-primary"
MULTUS_NETWORK = "multus-cni-network"  # the name of 00-multus.conf's network, thick or thin
API_TIMEOUTS = {"requestSeconds": 5, "retries": 1, "backoffSeconds": 0.1}


@dataclass
class MultusNode:
    flavour: str
    mode: str
    name: str  # the pods' spec.nodeName (the daemon watches its node's pods)
    root: Path
    primary: BridgeNet
    containerd: Containerd
    daemon: DaemonProcess | None  # thick mode only

    @property
    def cni_dir(self) -> Path:
        """multus's `cniDir`: its record of each sandbox's attachments."""
        return self.root / "multus"

    @property
    def ipam_dir(self) -> Path:
        """host-local's data dir, of the primary network and of every NAD the tests make."""
        return self.root / "ipam"

    def ensure_up(self) -> None:
        """Brings back what a test that failed half-way stopped, so that tests do not depend on each other."""
        if self.daemon is not None and not self.daemon.running:
            self.daemon.start()
        if not self.containerd.running:
            self.containerd.start()
        wait_for(
            f"{self.flavour} to load {NODE_CONFIG}",
            lambda: self.containerd.cni_network_names()[-1:] == [MULTUS_NETWORK],
        )


def primary_network(ipam_dir: Path) -> BridgeNet:
    subnet, bridge = next_subnet(), unique_name("mpyc")
    config = cluster_conflist(bridge, str(subnet), ipam_dir, name=PRIMARY)
    config["cniVersion"] = "1.0.0"  # libcni before v1.2.0 (containerd 1.6) refuses 1.1.0 results
    config["plugins"].append({"type": "bandwidth", "capabilities": {"bandwidth": True}})
    return BridgeNet(config, subnet, bridge)


@contextmanager
def multus_node(
    flavour: str, mode: str, root: Path, *, apiserver: TestEnv, cni_bin: Path, native_shim: Path
) -> Iterator[MultusNode]:
    """A running node; on leaving, its pods are removed through CRI (while the daemon still answers the
    DELs), then containerd and the daemon stop."""
    conf_dir, bin_dir = root / "net.d", root / "bin"
    conf_dir.mkdir()
    bin_dir.mkdir()
    name = unique_name("node-")
    primary = primary_network(root / "ipam")
    daemon = None
    if mode == "thick":
        (bin_dir / "multus-shim").symlink_to(native_shim)
        (conf_dir / "10-primary.conflist").write_text(json.dumps(primary.config))
        overrides = {
            "cniConfigDir": str(conf_dir),
            "multusConfigFile": "auto",
            "cniDir": str(root / "multus"),
            "binDir": str(cni_bin),
            "daemonWaitSeconds": 2,  # how long an ADD waits for a daemon that is down
        }
        daemon = DaemonProcess(root / "daemon", daemon_config(root / "daemon", apiserver, name, **overrides))
        daemon.start()
    else:
        (bin_dir / "multus").symlink_to(MULTUS)
        multus_conf_dir = root / "multus.d"
        multus_conf_dir.mkdir()
        (multus_conf_dir / "10-primary.conflist").write_text(json.dumps(primary.config))
        multus_conf = {
            "cniVersion": "1.0.0",  # the version of multus's answers: the primary's, as the daemon does
            "name": MULTUS_NETWORK,
            "type": "multus",
            "kubeconfig": str(apiserver.kubeconfig),
            "clusterNetwork": PRIMARY,
            "confDir": str(multus_conf_dir),
            "cniDir": str(root / "multus"),
            "binDir": str(cni_bin),
            "capabilities": {"bandwidth": True},  # as the daemon declares the primary's
            "logFile": str(root / "multus.log"),
            "apiTimeouts": API_TIMEOUTS,
        }
        (conf_dir / NODE_CONFIG).write_text(json.dumps(multus_conf))
    try:
        with running(flavour, root / "containerd", conf_dir, [bin_dir, cni_bin]) as containerd:
            node = MultusNode(flavour, mode, name, root, primary, containerd, daemon)
            node.ensure_up()
            yield node
    finally:
        code = daemon.stop() if daemon is not None and daemon.running else 0
        with IPRoute() as ipr, contextlib.suppress(NetlinkError):  # absent: no pod used it
            ipr.link("del", ifname=primary.bridge)
        assert code == 0, f"multus-daemon exited with {code} on SIGTERM:\n{daemon and daemon.log_tail()}"


class CriRuntime(Runtime):
    """`Runtime` with the node's folders and primary network, whose pod sandboxes containerd runs."""

    def __init__(self, node: MultusNode, **kwargs: Any) -> None:
        super().__init__(netns_name="", **kwargs)  # no netns of ours: containerd makes each sandbox's
        self.node = node
        self.node_name = node.name
        self.cni_dir, self.ipam_dir, self.cluster = node.cni_dir, node.ipam_dir, node.primary
        self.bridges.append(node.primary.bridge)

    @property
    def containerd(self) -> Containerd:
        return self.node.containerd

    def run_sandbox(
        self, name: str, uid: str, *, annotations: Mapping[str, str] | None = None, attempt: int = 0
    ) -> Sandbox:
        """RunPodSandbox for the pod `name` claiming `uid`, as the kubelet asks for it; its sandbox."""
        config = self.root / f"{name}-{attempt}.json"
        metadata = {"name": name, "namespace": self.namespace, "uid": uid, "attempt": attempt}
        config.write_text(json.dumps({"metadata": metadata, "annotations": dict(annotations or {})}))
        sandbox_id = self.containerd.crictl("runp", str(config)).strip()
        netns = Path(self.containerd.netns_of(sandbox_id))
        assert netns.parent == Path("/var/run/netns"), netns  # where pyroute2 finds it by name
        box = Sandbox(self.namespace, name, uid, netns.name, sandbox_id)
        self.sandboxes.append(box)
        return box

    def run_pod(
        self,
        networks: str | list[dict[str, Any]] | None = None,
        *,
        annotations: Mapping[str, str] | None = None,
        sandbox_annotations: Mapping[str, str] | None = None,
    ) -> Sandbox:
        name, uid = self.pod_object(networks, annotations=annotations)
        return self.run_sandbox(name, uid, annotations=sandbox_annotations)

    def remove_sandbox(self, sandbox_id: str) -> None:
        """StopPodSandbox then RemovePodSandbox, as the kubelet does: the runtime's two DELs."""
        self.containerd.crictl("stopp", sandbox_id)
        self.containerd.crictl("rmp", sandbox_id)

    def sandbox_ids(self, name: str | None = None) -> list[str]:
        """The test's sandboxes CRI lists (of the pod `name` only, if given), whatever their state."""
        return self.containerd.crictl(
            "pods", "--namespace", self.namespace, *(["--name", name] if name else []), "-q"
        ).split()

    def leftovers(self, sandbox: Sandbox | None = None, *, keep_links: tuple[str, ...] = ()) -> list[str]:
        """Runtime's leftovers, the netns and the sandbox in CRI too; [] as soon as all is gone. In thick
        mode the daemon removes a DEL's record and result cache right after its answer: wait a moment."""
        box = sandbox or self.sandbox
        deadline = time.monotonic() + BOOKKEEPING_SECONDS
        while True:
            found = super().leftovers(box, keep_links=keep_links)
            found += [f"netns {box.netns}"] if os.path.exists(box.netns) else []
            found += [
                f"sandbox {pod_id} in CRI"
                for pod_id in self.containerd.crictl("pods", "--id", box.container_id, "-q").split()
            ]
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def leftovers_of_pod(self, name: str) -> list[str]:
        """What a pod whose RunPodSandbox failed left, found by its (unique) name: sandboxes CRI still
        lists, multus records and result caches naming it, and IPAM leases of the node (with no other pod
        of the test running, there must be none)."""
        found = [f"sandbox {pod_id} in CRI" for pod_id in self.sandbox_ids(name)]
        records = sorted(self.cni_dir.iterdir()) if self.cni_dir.is_dir() else []
        caches = sorted(RESULTS_DIR.iterdir()) if RESULTS_DIR.is_dir() else []
        found += [f"file naming the pod: {path}" for path in records + caches if _mentions(path, name)]
        found += [f"IPAM lease {path}" for path in self.ipam_dir.rglob("*") if _is_ip(path.name)]
        found += [f"host port {port}" for port in self.bridge_ports()]
        return found

    def cleanup(self) -> None:
        """Removes every sandbox of the test through CRI first (the DELs run), then Runtime's cleanup."""
        for pod_id in self.sandbox_ids():
            with contextlib.suppress(CrictlError):
                self.remove_sandbox(pod_id)
        super().cleanup()


def _mentions(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(errors="replace")
    except OSError:  # removed meanwhile
        return False
