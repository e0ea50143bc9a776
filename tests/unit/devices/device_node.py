"""The orchestrator tests' node with a device resource on its NAD, for the ADD tests here; no grpc import,
so that a test can run it in a process of its own and see that an ADD imports none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multus.k8s.constants import RESOURCE_NAME_ANNOTATION
from tests.unit.orchestrator.node import Node, recording


def device_node(root: Path, socket: Path, *, resource: str | None) -> Node:
    """The orchestrator tests' node (pod shop/web on NAD blue, recording delegates) whose NAD names
    `resource`, its delegate declaring the deviceID capability; the kubelet's API at `socket`."""
    blue = recording(root / "calls.jsonl", "net1", "192.168.1.7/24") | {"capabilities": {"deviceID": True}}
    node = Node(root, {"blue": blue}, "blue")
    if resource is not None:
        node.view.networks["shop", "blue"]["metadata"]["annotations"] = {RESOURCE_NAME_ANNOTATION: resource}
    stdin = json.loads(node.stdin)
    stdin |= {"podResourcesSocket": str(socket), "deviceCheckpointFile": str(root / "checkpoint")}
    node.stdin = json.dumps(stdin).encode()
    return node


def delegate_stdin(node: Node, command: str, ifname: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in node.calls.read_text().splitlines()]
    found: dict[str, Any] = next(
        line["stdin"] for line in lines if (line["command"], line["env"]["CNI_IFNAME"]) == (command, ifname)
    )
    return found
