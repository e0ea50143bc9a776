"""Thick mode for tests: a real `multus-daemon` process, the shims that talk to it, and a runtime that
execs a shim the way containerd execs a CNI plugin.

`DaemonProcess` runs `.venv/bin/multus-daemon --config <json>` with everything in a folder of its own
(socket dir, CNI conf dir, log). `ShimRuntime` is the meta-plugin tests' `Runtime` (tests/e2e/meta) with
the plugin swapped: it execs a shim (Python or native) and makes its pods on the daemon's node, so the
daemon's pod cache holds them.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from multus.shim.multus_shim import request as unix_request
from tests.e2e.meta.runtime import CLUSTER_NETWORK, FAKE_PLUGINS, REPO, Reply, Runtime, Sandbox, address_in
from tests.testenv import TestEnv, free_port

VENV_BIN = Path(sys.executable).parent
PYTHON_SHIM = VENV_BIN / "multus-shim"
DAEMON = VENV_BIN / "multus-daemon"
NATIVE_SHIM_SOURCE = REPO / "shim" / "multus-shim.c"
OWN_FAKES = Path(__file__).resolve().parent / "fakes"
NODE_CONFIG = "00-multus.conf"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something true; that value. Fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# the daemon --------------------------------------------------------------------------------------

# How long the daemon may take, after answering, for a request's files (record, result cache).
BOOKKEEPING_SECONDS = 5.0


@dataclass
class DaemonProcess:
    """One `multus-daemon` process; `root` holds its config, socket dir, CNI conf dir and log."""

    root: Path
    config: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    exit_codes: list[int] = field(default_factory=list)
    environ: dict[str, str] = field(default_factory=dict)  # variables the process gets besides ours

    @property
    def socket_dir(self) -> Path:
        return Path(self.config["socketDir"])

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / "multus.sock"

    @property
    def conf_dir(self) -> Path:
        return Path(self.config["cniConfigDir"])

    def node_config(self) -> dict[str, Any] | None:
        """The `00-multus.conf` the daemon wrote, or None while there is none."""
        try:
            loaded: dict[str, Any] = json.loads((self.conf_dir / NODE_CONFIG).read_text())
        except FileNotFoundError:
            return None
        return loaded

    def wait_for_primary(self, primary: Path) -> dict[str, Any]:
        """The node config, once it points at `primary`."""

        def pointing() -> dict[str, Any] | None:
            config = self.node_config()
            return config if config is not None and config.get("clusterNetwork") == str(primary) else None

        found: dict[str, Any] = wait_for(f"{NODE_CONFIG} pointing at {primary.name}", pointing)
        return found

    @property
    def node_name(self) -> str:
        return str(self.config.get("nodeName") or self.environ["MULTUS_NODE_NAME"])

    @property
    def log_path(self) -> Path:
        return self.root / "daemon.log"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.config['metricsPort']}/metrics"

    def start(self, *, wait: bool = True) -> DaemonProcess:
        assert self.process is None or self.process.poll() is not None, "already running"
        config_file = self.root / "daemon.json"
        config_file.write_text(json.dumps(self.config, indent=2))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(DAEMON), "--config", str(config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.environ},
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"multus-daemon exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            return self.readyz() == 200

        wait_for("the daemon's /readyz", ready, timeout)

    def readyz(self) -> int | None:
        """The status /readyz answers, None when nothing answers."""
        try:
            status, _ = unix_request(str(self.socket_path), "GET", "/readyz", None, timeout=2.0)
        except OSError:
            return None
        return status

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM (the drain signal) without waiting."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait; the exit status. Kills it (and fails) if it does not exit in time."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"multus-daemon ignored SIGTERM for {timeout:g}s:\n{self.log_tail()}"
            ) from None
        self.exit_codes.append(code)
        return code

    def log_tail(self, size: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        """The daemon's structured log lines (other output, such as aiohttp's own, is left out)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    found.append(entry)
        return found

    def unstructured_lines(self) -> list[str]:
        """Log lines that are not JSON objects (the daemon writes nothing else)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict):
                found.append(line)
        return found

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The daemon's Prometheus samples: (sample name, sorted labels) -> value."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as reply:  # noqa: S310 - loopback http
            text = reply.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def metric(
    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """One sample's value, 0 when absent (a counter never incremented has no labelled sample)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# In every test daemon's CNI conf dir: a primary config, so that the daemon can write 00-multus.conf
# (it is not ready before). It sorts after the "10-..." primaries tests bring, and no test runs it.
PLACEHOLDER_PRIMARY = "99-placeholder.conf"


def daemon_config(root: Path, apiserver: TestEnv, node_name: str, **overrides: Any) -> dict[str, Any]:
    """A daemon config with everything under `root`; `overrides` are daemon config keys."""
    socket_dir, conf_dir = root / "run", root / "net.d"
    conf_dir.mkdir(parents=True, exist_ok=True)
    placeholder = {"cniVersion": "1.0.0", "name": "placeholder", "type": "loopback"}
    (conf_dir / PLACEHOLDER_PRIMARY).write_text(json.dumps(placeholder))
    config: dict[str, Any] = {
        "nodeName": node_name,
        "kubeconfig": str(apiserver.kubeconfig),
        "socketDir": str(socket_dir),
        "cniConfigDir": str(conf_dir),
        "metricsPort": free_port(),
        "metricsAddress": "127.0.0.1",
        "logLevel": "verbose",
        "drainSeconds": 30,
        "apiTimeouts": {"requestSeconds": 5, "retries": 1, "backoffSeconds": 0.1},
    }
    config.update(overrides)
    return config


def attach_blue(rt: ShimRuntime, stdin: bytes) -> dict[str, Any]:
    """ADDs a pod with the NAD "blue" through `stdin` (a node config, as the runtime hands it to the shim):
    it gets eth0 on the cluster network and net1 on blue, both in its network-status. The ADD's result."""
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")
    result = rt.add(stdin=stdin)
    links = rt.links()
    address_in(links["eth0"], rt.cluster)
    address_in(links["net1"], blue)
    status = rt.network_status()
    assert status is not None
    assert [(entry["name"], entry["interface"]) for entry in status] == [
        (CLUSTER_NETWORK, "eth0"),
        (f"{rt.namespace}/blue", "net1"),
    ]
    return result


def cluster_conflist(
    bridge: str, subnet: str, ipam_dir: Path, name: str = "mpy-node-cluster"
) -> dict[str, Any]:
    """A cluster network (bridge + host-local) for a daemon's CNI conf dir."""
    gateway = subnet.rsplit(".", 1)[0] + ".1"
    return {
        "cniVersion": "1.1.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0", "gw": gateway}],
                },
            }
        ],
    }


# raw socket access -------------------------------------------------------------------------------


def raw_exchange(socket_path: Path, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data` as it is and read until the daemon closes the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def http_status(answer: bytes) -> int:
    line = answer.split(b"\r\n", 1)[0].split()
    assert len(line) >= 2, answer[:200]
    assert line[0].startswith(b"HTTP/1."), answer[:200]
    return int(line[1])


def http_body(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


# the API server's own request counts -------------------------------------------------------------


def apiserver_requests(env: TestEnv) -> dict[tuple[str, str, str], float]:
    """`apiserver_request_total` from the API server's /metrics, summed by (verb, resource, subresource)."""
    pki = env.root / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(f"{env.server}/metrics", context=context, timeout=10) as reply:  # noqa: S310
        text = reply.read().decode()
    counts: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name == "apiserver_request_total":
                key = (sample.labels["verb"], sample.labels["resource"], sample.labels["subresource"])
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


# the runtime -------------------------------------------------------------------------------------


class ShimRuntime(Runtime):
    """The meta-plugin tests' runtime, execing `shim` instead of the in-process plugin, with pods on
    `daemon`'s node. The daemon may be stopped and replaced (`self.daemon = ...`) during a test."""

    def __init__(self, *, shim: Path, daemon: DaemonProcess, **kwargs: Any) -> None:
        self.shim = shim
        self.daemon = daemon
        self.pod_node: str | None = None  # set: new pods go to that node instead of the daemon's
        super().__init__(**kwargs)

    def leftovers(self, sandbox: Sandbox | None = None, *, keep_links: tuple[str, ...] = ()) -> list[str]:
        """As in-process, once the daemon had a moment: it removes a DEL's record and result cache right
        after its answer, so a check made as the shim exits may come first. [] as soon as all is gone;
        what is left after the moment otherwise."""
        deadline = time.monotonic() + BOOKKEEPING_SECONDS
        while (found := super().leftovers(sandbox, keep_links=keep_links)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def multus_config(self, **overrides: Any) -> dict[str, Any]:
        """The in-process tests' config, for the shim: `socketDir` names the daemon's socket; the
        daemon ignores `kubeconfig` (it has its own credentials)."""
        shim_keys: dict[str, Any] = {
            "type": "multus-shim",
            "socketDir": str(self.daemon.socket_dir),
            "daemonWaitSeconds": 10,
        }
        return super().multus_config(**(shim_keys | overrides))

    def create_pod_object(self, namespace: str, name: str, annotations: Mapping[str, str]) -> str:
        created = self.core.create_namespaced_pod(
            namespace,
            client.V1Pod(
                metadata=client.V1ObjectMeta(name=name, annotations=dict(annotations)),
                spec=client.V1PodSpec(
                    node_name=self.pod_node or self.daemon.node_name,
                    containers=[client.V1Container(name="c", image="pause")],
                ),
            ),
        )
        assert created.metadata is not None
        return str(created.metadata.uid)

    def shim_env(self, command: str, box: Sandbox) -> dict[str, str]:
        """The variables containerd sets (pod args in a shuffled order, as containerd has none)."""
        pod_args = [
            f"K8S_POD_NAMESPACE={box.pod_namespace}",
            f"K8S_POD_NAME={box.pod_name}",
            f"K8S_POD_INFRA_CONTAINER_ID={box.container_id}",
            f"K8S_POD_UID={box.pod_uid}",
        ]
        random.Random(f"{box.container_id}{command}").shuffle(pod_args)  # noqa: S311 - not a secret
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": box.container_id,
            "CNI_NETNS": box.netns,
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": ";".join(["IgnoreUnknown=1", *pod_args]),
            "CNI_PATH": os.pathsep.join([str(self.cni_bin), str(FAKE_PLUGINS), str(OWN_FAKES)]),
        }

    def run(
        self,
        command: str,
        *,
        config: Mapping[str, Any] | None = None,
        stdin: bytes | None = None,
        sandbox: Sandbox | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Reply:
        """One shim invocation as containerd makes it; `env` overrides variables (None removes one).
        Only the CNI variables and PATH are passed: the shim must need nothing else."""
        box = sandbox or self.sandbox
        variables: dict[str, str | None] = {**self.shim_env(command, box), **(env or {})}
        body = stdin if stdin is not None else json.dumps(config or self.multus_config()).encode()
        done = subprocess.run(
            [str(self.shim)],
            input=body,
            env={key: value for key, value in variables.items() if value is not None},
            capture_output=True,
            check=False,
            timeout=120,
        )
        reply = Reply(
            done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        )
        if command == "ADD" and reply.status == 0 and box.pod_name:
            self.wait_for_report(box)
        return reply

    def wait_for_report(self, box: Sandbox) -> None:
        """The daemon writes network-status and the AddedInterface Events after answering: wait for its
        log line saying so (reading the pod would add API requests that some tests count)."""

        def reported() -> bool:
            return any(
                line.get("msg") == "pod reported" and line.get("container") == box.container_id
                for line in self.daemon.log_lines()
            )

        wait_for("the daemon's report of the pod", reported)

    def status_decisions(self, box: Sandbox) -> list[str]:
        """What the daemon did with the pod's network-status after the sandbox's DELs, in order (it
        decides after its answer): "cleared", or why it left the annotation alone."""
        return [
            line.get("reason", "cleared")
            for line in self.daemon.log_lines()
            if line.get("container") == box.container_id
            and line.get("msg") in ("network-status cleared", "network-status left alone")
        ]

    def start(
        self, command: str, *, sandbox: Sandbox | None = None, config: Mapping[str, Any] | None = None
    ) -> subprocess.Popen[bytes]:
        """A shim invocation in the background; its stdin is a file holding the config."""
        box = sandbox or self.sandbox
        with tempfile.TemporaryFile() as body:
            body.write(json.dumps(config or self.multus_config()).encode())
            body.seek(0)
            return subprocess.Popen(
                [str(self.shim)],
                stdin=body,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.shim_env(command, box),
            )
