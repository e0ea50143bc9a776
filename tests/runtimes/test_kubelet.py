"""End to end, "annotate a pod, get net1": a real kubelet (v1.34.4) on Debian's containerd 1.6, the
daemon writing `00-multus.conf` in front of a bridge + host-local primary at cniVersion 1.0.0, and the
native shim (`tests/runtimes/node.py`). NADs and pods go in and out through kubectl as a person's would;
what a pod got is read in its sandbox's netns, found through CRI, and on the pod. After each test the
node holds nothing of its pods: no netns, bridge port, lease, record or cached result.

One node serves the module; each test has a namespace and NADs of its own and deletes its pods.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multus.netns import interfaces
from tests.e2e.daemon.support import metric, wait_for
from tests.e2e.meta.runtime import NETWORK_STATUS, NETWORKS
from tests.runtimes.multus_node import PRIMARY
from tests.runtimes.node import Node, PodSandbox, running
from tests.testenv import TestEnv

pytestmark = [pytest.mark.runtime, pytest.mark.e2e, pytest.mark.netns]

RETRY_SECONDS = 120.0  # the kubelet retries a failed sandbox after 10-15 s, then backs off further


@pytest.fixture(scope="module")
def node(apiserver: TestEnv, native_shim: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("kubelet-node"), apiserver, native_shim) as started:
        yield started


@pytest.fixture
def namespace(namespace: str, node: Node) -> Iterator[str]:
    """The e2e tests' namespace of the test's own, whose pods are deleted afterwards (by the kubelet,
    while the node runs) even when the test failed."""
    yield namespace
    node.kubelet.kubectl("delete", "pods", "--all", "-n", namespace, "--timeout=180s")


def delete_pods(node: Node, namespace: str, *names: str) -> None:
    """`kubectl delete pod`, which returns once the kubelet has stopped the pods and they are gone."""
    node.kubelet.kubectl("delete", "pod", *names, "-n", namespace, "--timeout=180s")


def events(node: Node, namespace: str, pod: str) -> list[str]:
    found = node.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod}").items
    return [str(event.reason) for event in found]


def read_pod(node: Node, namespace: str, pod: str) -> dict[str, Any]:
    found = node.read_pod(namespace, pod)
    assert found is not None, f"{namespace}/{pod} is gone"
    return found


def network_status(node: Node, namespace: str, pod: str) -> list[dict[str, Any]]:
    def written() -> str | None:
        annotations: dict[str, str] = read_pod(node, namespace, pod)["metadata"].get("annotations", {})
        return annotations.get(NETWORK_STATUS)

    loaded: list[dict[str, Any]] = json.loads(wait_for(f"network-status on {pod}", written))
    return loaded


def attached(node: Node, box: PodSandbox, subnet: ipaddress.IPv4Network) -> dict[str, str]:
    """The sandbox's eth0 and net1 addresses, checked to be on the primary and on `subnet`; by name."""
    links = interfaces(box.netns)
    assert sorted(links) == ["eth0", "lo", "net1"], links
    found = {}
    for name, network in (("eth0", node.primary_subnet), ("net1", subnet)):
        assert len(links[name].addresses) == 1, links[name]
        address = ipaddress.ip_interface(links[name].addresses[0])
        assert address.network == network, (name, address, network)
        found[name] = str(address.ip)
    return found


def runs_with_net1(
    node: Node, namespace: str, pod: str, subnet: ipaddress.IPv4Network, timeout: float = 120.0
) -> PodSandbox:
    """Wait until the pod is Running; its sandbox, checked to hold eth0 and net1 on `subnet`."""
    node.wait_running(namespace, [pod], time.monotonic(), timeout)
    box = node.sandbox(namespace, pod)
    attached(node, box, subnet)
    return box


def waits_after_a_failed_sandbox(node: Node, namespace: str, pod: str) -> None:
    """The runtime failed the pod's sandbox (the kubelet will try again) and the pod is not Running."""
    wait_for("a failed sandbox", lambda: "FailedCreatePodSandBox" in events(node, namespace, pod), 60)
    assert read_pod(node, namespace, pod)["status"]["phase"] == "Pending"


def test_an_annotated_pod_runs_with_net1_and_leaves_nothing(node: Node, namespace: str) -> None:
    nad, subnet = node.bridge_nad("blue", namespace)
    node.apply(nad, node.pod("web", namespace, networks="blue"))

    node.wait_running(namespace, ["web"], time.monotonic())
    box = node.sandbox(namespace, "web")
    addresses = attached(node, box, subnet)
    status = network_status(node, namespace, "web")
    assert [(entry["name"], entry["interface"], entry.get("default", False)) for entry in status] == [
        (PRIMARY, "eth0", True),
        (f"{namespace}/blue", "net1", False),
    ]
    assert [entry["ips"] for entry in status] == [[addresses["eth0"]], [addresses["net1"]]]
    assert "AddedInterface" in events(node, namespace, "web")

    delete_pods(node, namespace, "web")
    assert node.wait_clean([box]) == []


def test_ten_pods_at_once(node: Node, namespace: str) -> None:
    nad, subnet = node.bridge_nad("blue", namespace)
    node.apply(nad)
    names = [f"burst-{index}" for index in range(10)]

    started = time.monotonic()
    node.apply(*(node.pod(name, namespace, networks="blue") for name in names))
    seconds = node.wait_running(namespace, names, started)

    print("time to Running (s):", {name: round(seconds[name], 2) for name in names})
    boxes = [node.sandbox(namespace, name) for name in names]
    addresses = [attached(node, box, subnet)["net1"] for box in boxes]
    assert len(set(addresses)) == len(names)
    delete_pods(node, namespace, *names)
    assert node.wait_clean(boxes) == []


def test_a_pod_made_while_the_daemon_is_down_runs_once_it_is_back(node: Node, namespace: str) -> None:
    nad, subnet = node.bridge_nad("blue", namespace)
    node.apply(nad)
    assert node.daemon.stop() == 0

    node.apply(node.pod("web", namespace, networks="blue"))
    waits_after_a_failed_sandbox(node, namespace, "web")  # the shim finds no daemon
    node.daemon.start()

    box = runs_with_net1(node, namespace, "web", subnet, RETRY_SECONDS)
    delete_pods(node, namespace, "web")
    assert node.wait_clean([box]) == []


def test_a_pod_runs_once_its_network_attachment_definition_exists(node: Node, namespace: str) -> None:
    node.apply(node.pod("web", namespace, networks="late"))
    waits_after_a_failed_sandbox(node, namespace, "web")  # the daemon finds no such NAD
    nad, subnet = node.bridge_nad("late", namespace)
    node.apply(nad)

    box = runs_with_net1(node, namespace, "web", subnet, RETRY_SECONDS)
    delete_pods(node, namespace, "web")
    assert node.wait_clean([box]) == []


def test_a_pod_deleted_while_the_daemon_is_killed_goes_once_it_is_back(node: Node, namespace: str) -> None:
    nad, subnet = node.bridge_nad("blue", namespace)
    node.apply(nad, node.pod("web", namespace, networks="blue"))
    box = runs_with_net1(node, namespace, "web", subnet)
    network_status(node, namespace, "web")  # the daemon is done with the pod's ADD
    assert node.daemon.process is not None
    node.daemon.process.kill()
    node.daemon.process.wait()

    node.kubelet.kubectl("delete", "pod", "web", "-n", namespace, "--wait=false")
    # The sandbox cannot be stopped without the daemon: the pod stays, its networking too.
    wait_for("a failed kill", lambda: "FailedKillPod" in events(node, namespace, "web"), 60)
    assert node.leftovers([box]) != []
    node.daemon.start()

    wait_for("the pod gone", lambda: node.read_pod(namespace, "web") is None, RETRY_SECONDS, 0.2)
    assert node.wait_clean([box]) == []


def test_a_kubelet_restart_adds_no_running_pod_again(node: Node, namespace: str) -> None:
    nad, subnet = node.bridge_nad("blue", namespace)
    node.apply(nad, node.pod("first", namespace, networks="blue"))
    first = runs_with_net1(node, namespace, "first", subnet)
    network_status(node, namespace, "first")
    adds = metric(node.daemon.metrics(), "multus_requests_total", command="ADD", result="ok")

    node.kubelet.restart()
    # A pod made after the restart is Running once the new kubelet has synced its pods, "first" too.
    node.apply(node.pod("second", namespace, networks="blue"))
    second = runs_with_net1(node, namespace, "second", subnet)

    assert node.sandbox(namespace, "first").id == first.id
    assert metric(node.daemon.metrics(), "multus_requests_total", command="ADD", result="ok") == adds + 1
    status = read_pod(node, namespace, "first")["status"]
    assert status["phase"] == "Running"
    assert [container["restartCount"] for container in status["containerStatuses"]] == [0]
    attached(node, first, subnet)
    delete_pods(node, namespace, "first", "second")
    assert node.wait_clean([first, second]) == []


def test_kubectl_annotate_changes_a_running_pods_interfaces(node: Node, namespace: str) -> None:
    blue, blue_subnet = node.bridge_nad("blue", namespace)
    green, green_subnet = node.bridge_nad("green", namespace)
    node.apply(blue, green, node.pod("web", namespace, networks="blue"))
    box = runs_with_net1(node, namespace, "web", blue_subnet)

    node.kubelet.kubectl("annotate", "pod", "web", "-n", namespace, f"{NETWORKS}=blue,green", "--overwrite")

    wait_for("net2 in the running pod", lambda: "net2" in interfaces(box.netns))
    [address] = interfaces(box.netns)["net2"].addresses
    assert ipaddress.ip_interface(address).network == green_subnet
    wait_for("network-status with net2", lambda: len(network_status(node, namespace, "web")) == 3)

    node.kubelet.kubectl("annotate", "pod", "web", "-n", namespace, f"{NETWORKS}=green", "--overwrite")

    wait_for("net1 gone from the running pod", lambda: "net1" not in interfaces(box.netns))
    assert sorted(interfaces(box.netns)) == ["eth0", "lo", "net2"]
    assert node.sandbox(namespace, "web").id == box.id  # the same sandbox all along
    delete_pods(node, namespace, "web")
    assert node.wait_clean([box]) == []
