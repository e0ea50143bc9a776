"""Running the examples for real, with no cluster: the file-backed view, real plugins, real namespaces.

An example is a folder of pods and NetworkAttachmentDefinitions (YAML) plus `expected.json`, and
optionally `multus.json` (settings merged over `examples/multus.conf`). `ExampleRun` gives each pod a
network namespace, execs the `multus` plugin exactly as a container runtime does, and afterwards
removes everything it made on the host (namespaces, the macvlan uplink, bridges named in the configs).
`multusctl demo` and the tests of `examples/` both use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from multus.k8s.constants import NAD_KIND
from multus.netns import default_routes, interfaces

UPLINK = "mpy-uplink0"  # the macvlan master the examples name; made here as a veth
RESULTS_DIR = Path("/var/lib/cni/results")
IPAM_DIR = Path("/var/lib/cni/networks")


def default_cni_bin() -> Path:
    """The plugins `make components` builds, else the usual host folder."""
    built = Path(os.environ.get("MULTUS_CACHE_DIR", Path.home() / ".cache" / "multus-py")) / "cni-bin"
    return built if (built / "bridge").exists() else Path("/opt/cni/bin")


@dataclass
class PodOutcome:
    pod: str
    exit_code: int
    reply: dict[str, Any]
    status: list[dict[str, Any]] = field(default_factory=list)
    addresses: dict[str, list[str]] = field(default_factory=dict)
    default_routes: list[str] = field(default_factory=list)
    mtu: dict[str, int | None] = field(default_factory=dict)


class ExampleRun:
    """One example's pods attached in namespaces of their own; use as a context manager."""

    def __init__(self, folder: Path, cni_bin: Path | None = None) -> None:
        self.folder = folder.resolve()
        self.root = self.folder.parent
        self.cni_bin = cni_bin or default_cni_bin()
        self.work = Path(tempfile.mkdtemp(prefix="multus-example-"))
        self.tag = uuid.uuid4().hex[:6]
        self.namespaces: dict[str, str] = {}
        self.expected: dict[str, Any] = json.loads((self.folder / "expected.json").read_text())
        self.config = self._config()
        self._made_uplink = False

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads((self.root / "multus.conf").read_text())
        overrides = self.folder / "multus.json"
        if overrides.exists():
            config.update(json.loads(overrides.read_text()))
        config.update(
            confDir=str(self.root / "net.d"),
            cniDir=str(self.work / "multus"),
            binDir=str(self.cni_bin),
            clusterFolder=str(self.folder),
            stateFolder=str(self.work / "state"),
            logToStderr=False,
            logFile=str(self.work / "multus.log"),
        )
        return config

    @property
    def pods(self) -> list[str]:
        return list(self.expected)

    def __enter__(self) -> ExampleRun:
        if self._uses_uplink():
            self._make_uplink()
        for pod in self.pods:
            name = f"mpy-{self.tag}-{len(self.namespaces)}"
            netns.create(name)
            with IPRoute(netns=name, flags=0) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            self.namespaces[pod] = name
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.namespaces.values():
            with contextlib.suppress(OSError):
                netns.remove(name)
        with IPRoute() as ipr:
            for link in [*self._bridges(), UPLINK if self._made_uplink else ""]:
                if link and ipr.link_lookup(ifname=link):
                    with contextlib.suppress(NetlinkError):
                        ipr.link("del", ifname=link)
        with contextlib.suppress(OSError):
            netns.remove(self._peer_namespace)
        shutil.rmtree(self.work, ignore_errors=True)

    def container_id(self, pod: str) -> str:
        return f"{self.tag}{pod.replace('/', '-')}"

    def run(self, command: str, pod: str) -> tuple[int, dict[str, Any]]:
        """Exec the `multus` plugin for `pod` as a container runtime would."""
        namespace, name = pod.split("/")
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container_id(pod),
            "CNI_NETNS": f"/var/run/netns/{self.namespaces[pod]}",
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(self.cni_bin),
            "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};"
            f"K8S_POD_INFRA_CONTAINER_ID={self.container_id(pod)}",
        }
        done = subprocess.run(
            [str(Path(sys.executable).parent / "multus")],
            input=json.dumps(self.config).encode(),
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )
        reply = json.loads(done.stdout) if done.stdout.strip() else {}
        return done.returncode, reply

    def add(self, pod: str) -> PodOutcome:
        code, reply = self.run("ADD", pod)
        outcome = PodOutcome(pod, code, reply)
        if code == 0:
            namespace, name = pod.split("/")
            status_file = self.work / "state" / "pods" / namespace / f"{name}.network-status.json"
            outcome.status = json.loads(status_file.read_text()) if status_file.exists() else []
            path = f"/var/run/netns/{self.namespaces[pod]}"
            links = {name: link for name, link in interfaces(path).items() if name != "lo"}
            outcome.addresses = {name: link.addresses for name, link in links.items()}
            outcome.mtu = {name: link.mtu for name, link in links.items()}
            outcome.default_routes = [f"{r.gateway} dev {r.ifname}" for r in default_routes(path)]
        return outcome

    def delete(self, pod: str) -> tuple[int, dict[str, Any]]:
        return self.run("DEL", pod)

    def leftovers(self, pod: str) -> list[str]:
        """Everything of `pod` that should be gone after DEL, described; empty when clean."""
        found: list[str] = []
        path = f"/var/run/netns/{self.namespaces[pod]}"
        found += [f"interface {n} in the pod's namespace" for n in interfaces(path) if n != "lo"]
        record = self.work / "multus" / self.container_id(pod)
        if record.exists():
            found.append(f"attachment record {record}")
        if RESULTS_DIR.is_dir():
            found += [f"cached result {p}" for p in RESULTS_DIR.iterdir() if self.container_id(pod) in p.name]
        if IPAM_DIR.is_dir():
            for network in IPAM_DIR.iterdir():
                for entry in network.iterdir():
                    if self.container_id(pod) in _read(entry):
                        found.append(f"IP allocation {entry}")
        return found

    def _documents(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        for path in sorted(self.folder.glob("*.yaml")):
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
        return docs

    def _configs(self) -> list[dict[str, Any]]:
        configs = [json.loads(p.read_text()) for p in sorted((self.root / "net.d").iterdir())]
        for doc in self._documents():
            text = (doc.get("spec") or {}).get("config")
            if doc.get("kind") == NAD_KIND and text:
                configs.append(json.loads(text))
        return configs

    def _bridges(self) -> set[str]:
        plugins = [p for c in self._configs() for p in c.get("plugins", [c])]
        return {p["bridge"] for p in plugins if p.get("type") == "bridge" and "bridge" in p}

    def _uses_uplink(self) -> bool:
        plugins = [p for c in self._configs() for p in c.get("plugins", [c])]
        return any(p.get("master") == UPLINK for p in plugins)

    @property
    def _peer_namespace(self) -> str:
        return f"mpy-{self.tag}-peer"

    def _make_uplink(self) -> None:
        peer_ns = self._peer_namespace
        netns.create(peer_ns)
        with IPRoute() as ipr:
            if not ipr.link_lookup(ifname=UPLINK):
                ipr.link(
                    "add", ifname=UPLINK, kind="veth", peer={"ifname": "uplink-peer", "net_ns_fd": peer_ns}
                )
                self._made_uplink = True
            ipr.link("set", index=ipr.link_lookup(ifname=UPLINK)[0], state="up")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace") if path.is_file() else ""
    except OSError:
        return ""
