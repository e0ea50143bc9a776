"""The commands' flow without root: ADD, its undo, DEL and the recovery of lost records, driven with
the file-backed cluster view, the recording and failing fake plugins, and an in-memory namespace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from multus.cni.environment import CNIEnvironment
from multus.cni.errors import CNIError
from multus.config import read_stdin
from multus.k8s.status import NETWORK_STATUS_ANNOTATION
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

    def __init__(self, root: Path, second: dict[str, Any]) -> None:
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
                "annotations": {"k8s.v1.cni.cncf.io/networks": "blue"},
            },
        }
        nad = {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "blue", "namespace": "shop"},
            "spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": "blue", **second})},
        }
        (root / "cluster" / "all.yaml").write_text(json.dumps(pod) + "\n---\n" + json.dumps(nad))
        self.view = FileView(root / "cluster", root / "state")
        self.namespace = Namespace()
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
        parts = Parts.for_request(scope.config, scope.env, self.view, results_dir=self.root / "results")
        parts.namespace = self.namespace
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

    def events(self) -> list[tuple[str, str]]:
        return [(event["type"], event["reason"]) for event in self.view.events]


RECORDING = {"type": "fake-record", "result": result_for("net1", "192.168.1.7/24")}


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path, {**RECORDING, "recordFile": str(tmp_path / "calls.jsonl")})


@pytest.fixture
def failing_node(tmp_path: Path) -> Node:
    return Node(tmp_path, {"type": "fake-fail", "failOn": ["ADD"]})


def test_add_attaches_every_network_and_del_removes_them_in_reverse(node: Node) -> None:
    reply = node.run("ADD")

    assert reply is not None
    assert [ip["address"] for ip in reply["ips"]] == ["10.0.0.5/24"]
    assert node.plugin_calls() == [("ADD", "eth0"), ("ADD", "net1")]
    status = json.loads(node.view.network_status("shop", "web") or "[]")
    assert [(entry["name"], entry["interface"], entry["ips"]) for entry in status] == [
        ("cluster", "eth0", ["10.0.0.5"]),
        ("shop/blue", "net1", ["192.168.1.7"]),
    ]
    assert node.events() == [("Normal", "AddedInterface")] * 2
    assert node.files_left()  # the record and both cached results

    assert node.run("DEL") is None
    assert node.plugin_calls()[2:] == [("DEL", "net1"), ("DEL", "eth0")]
    assert node.files_left() == []


def test_a_failed_add_undoes_the_attachments_it_made(failing_node: Node) -> None:
    with pytest.raises(CNIError, match="failed on purpose"):
        failing_node.run("ADD")

    assert failing_node.plugin_calls() == [("ADD", "eth0"), ("DEL", "eth0")]
    assert failing_node.files_left() == []
    assert failing_node.events() == [("Warning", "FailedAddingInterfaces")]
    assert failing_node.view.network_status("shop", "web") is None


def test_replying_first_defers_the_bookkeeping_and_the_report(node: Node) -> None:
    scope = node.scope("ADD", replies_first=True)

    asyncio.run(run_command(scope, node.parts(scope)))

    assert node.view.network_status("shop", "web") is None
    bookkeeping, reports = scope.take_bookkeeping(), scope.take_reports()
    assert bookkeeping
    assert len(reports) == 1
    for step in bookkeeping:
        step()

    async def report() -> None:
        await reports[0]

    asyncio.run(report())
    assert NETWORK_STATUS_ANNOTATION in (node.view.pods[("shop", "web")]["metadata"]["annotations"])
    node.run("DEL")
    assert node.files_left() == []


def test_del_recovers_a_lost_record_from_the_result_cache(node: Node) -> None:
    node.run("ADD")
    for record in (node.root / "records").rglob("*"):
        if record.is_file():
            record.unlink()

    node.run("DEL")

    assert sorted(node.plugin_calls()[2:]) == [("DEL", "eth0"), ("DEL", "net1")]
    assert node.files_left() == []


def test_del_rebuilds_from_the_pod_when_record_and_cache_are_lost(node: Node) -> None:
    node.run("ADD")
    for path in node.files_left():
        (node.root / path).unlink()
    node.namespace.links = {name: Link(name, None, 1500) for name in ("lo", "eth0", "net1")}

    node.run("DEL")

    assert node.plugin_calls()[2:] == [("DEL", "net1"), ("DEL", "eth0")]
    assert ("Warning", "AttachmentsRebuilt") in node.events()
    assert node.files_left() == []


def test_the_runtimes_second_del_runs_no_delegate(node: Node) -> None:
    node.run("ADD")
    node.run("DEL")
    calls = node.plugin_calls()

    node.run("DEL")

    assert node.plugin_calls() == calls
    assert node.files_left() == []
