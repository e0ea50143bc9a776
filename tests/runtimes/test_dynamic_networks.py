"""A running pod's networks follow its annotation, through a real containerd and the daemon alone: the
sandbox is made by CRI, the annotation is changed through the API server as `kubectl annotate` does, and
the daemon attaches or detaches in the sandbox containerd made."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.daemon.support import wait_for
from tests.e2e.meta.runtime import NETWORKS, BridgeNet, Sandbox, address_in
from tests.runtimes.containerd import FLAVOURS
from tests.runtimes.multus_node import CriRuntime

pytestmark = [pytest.mark.runtime, pytest.mark.e2e, pytest.mark.netns]

PODS_AT_ONCE = 20
MULTUSCTL = Path(sys.executable).parent / "multusctl"

on_thick_nodes = pytest.mark.parametrize(
    "node", [(flavour, "thick") for flavour in FLAVOURS], indirect=True, ids="-".join
)


def annotate(rt: CriRuntime, box: Sandbox, networks: str) -> None:
    body = {"metadata": {"annotations": {NETWORKS: networks}}}
    rt.core.patch_namespaced_pod(box.pod_name, box.pod_namespace, body)


def interfaces(rt: CriRuntime, box: Sandbox) -> list[str]:
    return sorted(rt.links(box))


def status_of(rt: CriRuntime, box: Sandbox) -> list[tuple[str, str]]:
    return [(entry["name"], entry["interface"]) for entry in rt.network_status(box) or []]


def nets(rt: CriRuntime) -> tuple[BridgeNet, BridgeNet]:
    blue, green = rt.bridge_net("blue", default_route=False), rt.bridge_net("green", default_route=False)
    rt.nad("blue", blue.config)
    rt.nad("green", green.config)
    return blue, green


@on_thick_nodes
def test_a_running_sandbox_gains_and_loses_networks_across_a_daemon_restart(rt: CriRuntime) -> None:
    _, green = nets(rt)
    box = rt.run_pod("blue")
    assert interfaces(rt, box) == ["eth0", "net1"]

    annotate(rt, box, "blue,green")

    wait_for("net2 in the sandbox", lambda: "net2" in rt.links(box))
    address_in(rt.links(box)["net2"], green)
    wait_for("net2 in network-status", lambda: len(status_of(rt, box)) == 3)
    ns = rt.namespace
    assert status_of(rt, box)[1:] == [(f"{ns}/blue", "net1"), (f"{ns}/green", "net2")]
    wait_for("the AddedInterface Event", lambda: any("net2" in event[2] for event in rt.events(box)))

    daemon = rt.node.daemon
    assert daemon is not None
    assert daemon.stop() == 0
    annotate(rt, box, "green")  # while the daemon is down: it catches up from its first list
    daemon.start()

    wait_for("net1 gone from the sandbox", lambda: "net1" not in rt.links(box))
    assert interfaces(rt, box) == ["eth0", "net2"]
    wait_for("network-status without net1", lambda: len(status_of(rt, box)) == 2)
    assert status_of(rt, box)[1:] == [(f"{ns}/green", "net2")]
    assert ("Normal", "RemovedInterface", f"Remove net1 from {ns}/blue") in rt.events(box)

    rt.remove_sandbox(box.container_id)
    assert rt.leftovers(box) == []


@on_thick_nodes
def test_pods_changed_at_once_all_follow_and_all_go(rt: CriRuntime) -> None:
    nets(rt)
    pods = [rt.pod_object("blue") for _ in range(PODS_AT_ONCE)]
    with ThreadPoolExecutor(max_workers=PODS_AT_ONCE) as pool:
        boxes = list(pool.map(lambda pod: rt.run_sandbox(*pod), pods))

    with ThreadPoolExecutor(max_workers=PODS_AT_ONCE) as pool:
        list(pool.map(lambda box: annotate(rt, box, "blue,green"), boxes))

    for box in boxes:
        wait_for(f"net2 in {box.pod_name}", lambda box=box: "net2" in rt.links(box))
    with ThreadPoolExecutor(max_workers=PODS_AT_ONCE) as pool:
        list(pool.map(rt.remove_sandbox, [box.container_id for box in boxes]))
    assert {box.pod_name: rt.leftovers(box) for box in boxes} == {box.pod_name: [] for box in boxes}


@on_thick_nodes
def test_a_change_naming_a_missing_nad_gives_one_warning_and_changes_nothing(rt: CriRuntime) -> None:
    nets(rt)
    box = rt.run_pod("blue")
    wait_for("the pod's network-status", lambda: len(status_of(rt, box)) == 2)
    before = status_of(rt, box)

    annotate(rt, box, "blue,nowhere")

    def warnings() -> list[tuple[str, str, str]]:
        return [event for event in rt.events(box) if event[0] == "Warning"]

    wait_for("the Warning", warnings)
    assert [event[1] for event in warnings()] == ["NetworksNotChanged"]
    assert "nowhere" in warnings()[0][2]
    assert interfaces(rt, box) == ["eth0", "net1"]
    assert status_of(rt, box) == before

    rt.remove_sandbox(box.container_id)
    assert rt.leftovers(box) == []


def multusctl(rt: CriRuntime, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(MULTUSCTL), *args, "--kubeconfig", str(rt.kubeconfig), "--timeout", "20"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("node", [(FLAVOURS[-1], "thick")], indirect=True, ids="-".join)
def test_multusctl_attaches_and_detaches_and_prints_what_the_node_did(rt: CriRuntime) -> None:
    nets(rt)
    box = rt.run_pod("blue")
    pod = f"{box.pod_namespace}/{box.pod_name}"

    attached = multusctl(rt, "attach", pod, "green@data0")

    assert attached.returncode == 0, attached.stderr
    [entry] = json.loads(attached.stdout)
    assert (entry["name"], entry["interface"]) == (f"{rt.namespace}/green", "data0")
    assert "data0" in rt.links(box)
    annotation = (rt.read_pod(box).metadata.annotations or {})[NETWORKS]
    assert annotation == f"blue,{rt.namespace}/green@data0"

    refused = multusctl(rt, "attach", pod, "nowhere")
    assert refused.returncode == 1
    assert refused.stderr.startswith("NetworksNotChanged: ")
    assert "nowhere" in refused.stderr
    assert (rt.read_pod(box).metadata.annotations or {})[NETWORKS] == annotation  # put back

    detached = multusctl(rt, "detach", pod, "green")
    assert detached.returncode == 0, detached.stderr
    assert "data0" not in rt.links(box)
    assert (
        multusctl(rt, "detach", pod, "green").stderr.strip() == f"multusctl: pod has no {rt.namespace}/green"
    )

    rt.remove_sandbox(box.container_id)
    assert rt.leftovers(box) == []
