"""A real kubelet (v1.34.4, built by `tools/build-components.sh`) on the test API server, running pods
through a containerd of `tests.runtimes.containerd`.

The kubelet runs in a mount namespace of its own. Its start-up checks want kernel settings this host
does not have (`vm.overcommit_memory=1`, `kernel.panic=10`, `kernel.panic_on_oops=1`) and it would
write them: inside its namespace, files holding those values are bind-mounted over the `/proc/sys`
entries, so the host's values are never changed. `/var/lib` and `/var/log` get folders of the run as
well: the kubelet writes `/var/lib/kubelet/device-plugins/` and `/var/log/containers/` whatever its root
dir, and two kubelets on one host would share (and wipe) them. Everything else lives in `root`.

`stop()` leaves nothing: the node's pods are deleted through the API first (the kubelet stops their
sandboxes, so the CNI DEL runs), then the kubelet exits, and any sandbox left in the runtime is removed.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.runtimes.containerd import Containerd
from tests.testenv import CACHE, KUBE_BIN, TestEnv, TestEnvError, _alive, _terminate, free_port

KUBELET = CACHE / "kubelet-bin" / "kubelet"
KUBECTL = KUBE_BIN / "kubectl"
# What the kubelet's start-up check wants; seen only inside its mount namespace.
KERNEL_SETTINGS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
PRIVATE_DIRS = ("/var/lib", "/var/log")


class KubeletError(RuntimeError):
    """The kubelet did not start or did not reach a wanted state; the message says why."""


def pod_manifest(
    name: str, namespace: str, node: str, image: str, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A pod for a node with no scheduler (`nodeName`), running `image` as it is in the runtime (never
    pulled), with no service-account token (the test API server has no ServiceAccount admission)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
        "spec": {
            "nodeName": node,
            "automountServiceAccountToken": False,
            "containers": [{"name": "pause", "image": image, "imagePullPolicy": "Never"}],
        },
    }


@dataclass
class Kubelet:
    """One kubelet registering node `node_name`; `root` holds its config, root dir, certs and log."""

    root: Path
    apiserver: TestEnv
    runtime: Containerd
    node_name: str
    pid: int | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "kubelet.log"

    def kubectl(self, *args: str) -> str:
        return self.apiserver.kubectl(*args)

    def start(self, timeout: float = 120.0) -> Kubelet:
        """Start the kubelet and wait until its node is Ready (its runtime's network included)."""
        if not KUBELET.exists():
            raise KubeletError(f"{KUBELET} is missing: run tools/build-components.sh (make components)")
        assert self.pid is None or not _alive(self.pid), "already running"
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.json"
        config.write_text(json.dumps(self._configuration(), indent=2))
        mounts = []
        for name, value in KERNEL_SETTINGS.items():
            setting = self.root / "sysctl" / name.replace("/", ".")
            setting.parent.mkdir(exist_ok=True)
            setting.write_text(f"{value}\n")
            mounts.append((setting, Path("/proc/sys") / name))
        for folder in PRIVATE_DIRS:
            private = self.root / folder.strip("/").replace("/", "-")
            private.mkdir(exist_ok=True)
            mounts.append((private, Path(folder)))
        script = "".join(shlex.join(["mount", "-n", "--bind", str(a), str(b)]) + " && " for a, b in mounts)
        script += 'exec "$@"'
        argv = [
            str(KUBELET),
            f"--config={config}",
            f"--kubeconfig={self.apiserver.kubeconfig}",
            f"--root-dir={self.root / 'root'}",
            f"--cert-dir={self.root / 'pki'}",
            f"--hostname-override={self.node_name}",
            "--v=1",
        ]
        with self.log_path.open("ab") as log:
            # A session of its own: a ^C meant for pytest must not skip the clean stop (pods first).
            process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = process.pid  # sh execs the kubelet: the same process
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _configuration(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",  # --node-ip=127.0.0.1 would be refused as loopback
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "containerRuntimeEndpoint": self.runtime.endpoint,
            # This host: cgroup v1 without systemd, swap allowed, no QoS cgroups or reservations.
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "makeIPTablesUtilChains": False,
            # The pause image is imported, never pulled: image GC must not remove it.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "podLogsDir": str(self.root / "pod-logs"),
            "volumePluginDir": str(self.root / "volume-plugins"),
        }

    def node(self) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = json.loads(self.kubectl("get", "node", self.node_name, "-o", "json"))
        except TestEnvError:
            return None
        return found

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.pid is None or not _alive(self.pid):
                raise KubeletError(f"the kubelet exited during start-up:\n{self.log_tail()}")
            node = self.node()
            conditions = (node or {}).get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return
            if time.monotonic() > deadline:
                raise KubeletError(f"node {self.node_name} not Ready after {timeout:g}s:\n{self.log_tail()}")
            time.sleep(0.5)

    def terminate(self) -> None:
        """Stop the kubelet process only: its pods keep running in the runtime (a kubelet restart)."""
        if self.pid is not None:
            _terminate(self.pid)
            self.pid = None

    def restart(self, timeout: float = 120.0) -> None:
        self.terminate()
        self.start(timeout)

    def delete_pods(self, timeout: float = 120.0) -> None:
        """Delete every pod bound to the node and wait until the kubelet has finished them."""
        selector = f"spec.nodeName={self.node_name}"
        self.kubectl("delete", "pods", "--all-namespaces", f"--field-selector={selector}", "--wait=false")
        deadline = time.monotonic() + timeout
        while self.kubectl("get", "pods", "--all-namespaces", f"--field-selector={selector}", "-o", "name"):
            if time.monotonic() > deadline:
                raise KubeletError(f"pods of {self.node_name} not gone after {timeout:g}s")
            time.sleep(0.5)

    def stop(self) -> None:
        """Delete the node's pods (while the kubelet can still stop them), stop the kubelet, remove any
        sandbox the runtime still has, and the Node object."""
        try:
            if self.pid is not None and _alive(self.pid):
                self.delete_pods()
        finally:
            self.terminate()
            self.runtime.crictl("rmp", "--all", "--force", check=False)
            with contextlib.suppress(TestEnvError):  # the API server may already be gone
                self.kubectl("delete", "node", self.node_name, "--ignore-not-found")

    def log_tail(self, size: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else ""


@contextlib.contextmanager
def running(root: Path, apiserver: TestEnv, runtime: Containerd, node_name: str) -> Iterator[Kubelet]:
    """A started kubelet, stopped (pods first, nothing left) on leaving."""
    kubelet = Kubelet(root, apiserver, runtime, node_name).start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
