"""A node for the orchestrator's tests without root: its folders, a cluster in YAML files (the
file-backed view), the fake plugins as delegates, and an in-memory pod namespace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multus.cni.environment import CNIEnvironment
from multus.config import read_stdin
from multus.devices import DeviceAllocations
from multus.kube.fileview import FileView
from multus.netns import Link
from multus.orchestrator import Parts, RequestScope, run_command

FAKE_PLUGINS = Path(__file__).resolve().parents[2] / "fakeplugins"
CONTAINER = "c0ffee"
POD_ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_UID=uid-web"


@dataclass
class Namespace:
    """A pod namespace for the commands to read: the links a test says are there."""

    links: dict[str, Link] = field(default_factory=dict)
    default_routes: list[tuple[str, str]] = field(default_factory=list)

    def interface_names(self, netns: str) -> set[str]:
        return set(self.links)

    def interfaces(self, netns: str) -> Mapping[str, Link]:
        return dict(self.links)

    def ethernet_mac(self, netns: str, ifname: str) -> str | None:
        link = self.links.get(ifname)
        return link.mac if link is not None else None

    def replace_default_route(self, netns: str, ifname: str, gateway: str) -> None:
        self.default_routes.append((ifname, gateway))


def result_for(ifname: str, address: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": ifname, "sandbox": "/var/run/netns/test"}],
        "ips": [{"address": address, "interface": 0}],
    }


class Node:
    """A node's folders, a cluster in YAML files, and the commands run against them."""

    def __init__(self, root: Path, nads: Mapping[str, dict[str, Any]], networks: str) -> None:
        self.root = root
        self.calls = root / "calls.jsonl"
        self.netns = root / "netns"
        self.netns.write_text("")  # the delegates are told the path; nothing opens it here
        (root / "net.d").mkdir()
        cluster = {
            "type": "fake-record",
            "recordFile": str(self.calls),
            "result": result_for("eth0", "10.0.0.5/24"),
        }
        (root / "net.d" / "10-cluster.conflist").write_text(
            json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [cluster]})
        )
        (root / "cluster").mkdir()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "uid": "uid-web",
                "annotations": {"k8s.v1.cni.cncf.io/networks": networks},
            },
        }
        documents = [pod] + [
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": name, **plugin})},
            }
            for name, plugin in nads.items()
        ]
        (root / "cluster" / "all.yaml").write_text("\n---\n".join(json.dumps(doc) for doc in documents))
        self.view = FileView(root / "cluster", root / "state")
        self.namespace = Namespace()
        # The kubelet's devices for the pods, when a test gives them.
        self.devices: Callable[[], DeviceAllocations] | None = None
        self.stdin = json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": "multus-cni-network",
                "type": "multus",
                "clusterNetwork": "cluster",
                "confDir": str(root / "net.d"),
                "cniDir": str(root / "records"),
                "binDir": str(FAKE_PLUGINS),
            }
        ).encode()

    def scope(self, command: str, *, replies_first: bool = False) -> RequestScope:
        env = CNIEnvironment.from_environ(
            {
                "CNI_COMMAND": command,
                "CNI_CONTAINERID": CONTAINER,
                "CNI_NETNS": str(self.netns),
                "CNI_IFNAME": "eth0",
                "CNI_ARGS": POD_ARGS,
                "CNI_PATH": str(FAKE_PLUGINS),
            }
        )
        return RequestScope(env, read_stdin(self.stdin), replies_first=replies_first)

    def parts(self, scope: RequestScope) -> Parts:
        parts = Parts.for_request(
            scope.config, self.view, cni_path=scope.env.path, results_dir=self.root / "results"
        )
        parts.namespace = self.namespace
        if self.devices is not None:
            parts.devices = self.devices
        return parts

    def run(self, command: str) -> dict[str, Any] | None:
        scope = self.scope(command)
        return asyncio.run(run_command(scope, self.parts(scope)))

    def plugin_calls(self) -> list[tuple[str, str]]:
        """(command, interface) of each delegate run, in order."""
        if not self.calls.exists():
            return []
        lines = [json.loads(line) for line in self.calls.read_text().splitlines()]
        return [(line["command"], line["env"].get("CNI_IFNAME", "")) for line in lines]

    def files_left(self) -> list[str]:
        """Attachment records and cached results still on disk."""
        folders = [self.root / "records", self.root / "results"]
        return sorted(
            str(path.relative_to(self.root))
            for folder in folders
            for path in folder.rglob("*")
            if path.is_file()
        )

    def annotate(self, networks: str) -> None:
        self.view.pods[("shop", "web")]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = networks

    def events(self) -> list[tuple[str, str]]:
        return [(event["type"], event["reason"]) for event in self.view.events]


def recording(calls: Path, ifname: str, address: str) -> dict[str, Any]:
    """A NAD plugin that records its calls in `calls` and attaches `address`."""
    return {"type": "fake-record", "recordFile": str(calls), "result": result_for(ifname, address)}
