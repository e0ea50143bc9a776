"""A running pod's networks following its annotation, without root: what changes, what is refused, and
that a failed change leaves the pod as it was."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from multus.cni.errors import CNIError, NetworkNotFound
from multus.devices import DeviceAllocations
from multus.k8s.constants import RESOURCE_NAME_ANNOTATION
from multus.orchestrator.dynamic import ChangeRefused, Changes, apply_changes
from tests.unit.orchestrator.node import CONTAINER, Node, recording


@pytest.fixture
def node(tmp_path: Path) -> Node:
    calls = tmp_path / "calls.jsonl"
    nads = {
        "blue": recording(calls, "net1", "192.168.1.7/24"),
        "green": recording(calls, "net2", "192.168.2.7/24"),
        "red": recording(calls, "net3", "192.168.3.7/24"),
        "broken": {"type": "fake-fail", "failOn": ["ADD"]},
    }
    node = Node(tmp_path, nads, "blue")
    node.run("ADD")
    return node


def change(node: Node, networks: str) -> Changes:
    node.annotate(networks)
    scope = node.scope("ADD")
    parts = node.parts(scope)
    record = parts.records.load(CONTAINER)
    assert record is not None
    pod = asyncio.run(parts.view.get_pod("shop", "web")) if parts.view else None
    assert pod is not None
    return asyncio.run(apply_changes(scope.config, parts, pod, record))


def attached(node: Node) -> list[tuple[str, str]]:
    scope = node.scope("ADD")
    record = node.parts(scope).records.load(CONTAINER)
    assert record is not None
    return [(entry.network, entry.ifname) for entry in record.attachments]


def recorded(calls: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in calls.read_text().splitlines()]


def status(node: Node) -> list[tuple[str, str]]:
    entries = json.loads(node.view.network_status("shop", "web") or "[]")
    return [(entry["name"], entry["interface"]) for entry in entries]


def test_a_grown_annotation_attaches_the_new_network(node: Node) -> None:
    changes = change(node, "blue,green")

    assert [(a.network, a.ifname) for a in changes.add] == [("shop/green", "net2")]
    assert node.plugin_calls()[-1] == ("ADD", "net2")
    assert attached(node) == [("cluster", "eth0"), ("shop/blue", "net1"), ("shop/green", "net2")]
    assert status(node) == attached(node)
    assert node.events()[-1] == ("Normal", "AddedInterface")


def test_a_shrunk_annotation_detaches_and_the_others_keep_their_names(node: Node) -> None:
    change(node, "blue,green")

    changes = change(node, "green")

    assert [(entry.network, entry.ifname) for entry in changes.remove] == [("shop/blue", "net1")]
    assert node.plugin_calls()[-1] == ("DEL", "net1")
    assert attached(node) == [("cluster", "eth0"), ("shop/green", "net2")]
    assert status(node) == attached(node)
    assert node.events()[-1] == ("Normal", "RemovedInterface")


def test_an_unchanged_annotation_changes_nothing(node: Node) -> None:
    calls = node.plugin_calls()

    assert not change(node, "blue")
    assert node.plugin_calls() == calls


@pytest.mark.parametrize(
    ("networks", "error"),
    [
        ("blue,missing", NetworkNotFound),
        ("blue@net7", ChangeRefused),  # a rename
    ],
)
def test_a_change_that_cannot_be_made_changes_nothing_and_says_why(
    node: Node, networks: str, error: type[CNIError]
) -> None:
    calls, before = node.plugin_calls(), attached(node)

    with pytest.raises(error):
        change(node, networks)

    assert node.plugin_calls() == calls
    assert attached(node) == before
    assert node.events()[-1] == ("Warning", "NetworksNotChanged")


def test_a_failed_attach_undoes_the_change_and_removes_nothing(node: Node) -> None:
    before = attached(node)

    with pytest.raises(CNIError, match="failed on purpose"):
        change(node, "green,broken")

    assert node.plugin_calls()[-2:] == [("ADD", "net2"), ("DEL", "net2")]
    assert attached(node) == before
    assert node.events()[-1] == ("Warning", "FailedAddingInterface")


def test_the_pods_final_del_removes_what_was_attached_live(node: Node) -> None:
    change(node, "blue,green,red")

    node.run("DEL")

    assert node.plugin_calls()[-4:] == [("DEL", "net3"), ("DEL", "net2"), ("DEL", "net1"), ("DEL", "eth0")]
    assert node.files_left() == []


def test_a_device_network_attached_live_takes_a_device_no_attachment_holds(tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    vfs = ("0000:00:01.1", "0000:00:01.2", "0000:00:01.3")
    names = ("vf-a", "vf-b", "vf-c")
    node = Node(tmp_path, {name: recording(calls, "net1", "192.168.5.7/24") for name in names}, "vf-a,vf-b")
    for name in names:
        node.view.networks["shop", name]["metadata"]["annotations"] = {
            RESOURCE_NAME_ANNOTATION: "example.com/vf"
        }
    node.devices = lambda: DeviceAllocations(lambda pod: {"example.com/vf": list(vfs)})
    node.run("ADD")
    change(node, "vf-a")  # frees the second device

    change(node, "vf-a,vf-c")

    adds = [
        (line["env"]["CNI_IFNAME"], line["stdin"].get("deviceID"))
        for line in recorded(calls)
        if line["command"] == "ADD"
    ]
    assert adds[1] == ("net1", vfs[0])  # vf-a, from the pod's ADD
    assert adds[-1] == ("net2", vfs[1])  # vf-c: vf-b's free device, not vf-a's
