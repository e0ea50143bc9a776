"""multus-py driven by a real containerd (Debian's 1.6 and 2.2.1) through CRI, as the kubelet drives it.

Every test runs against each flavour in thick mode (multus-daemon writes 00-multus.conf, containerd execs
the native shim) and, unless it is about the daemon, in thin mode (containerd execs `multus`). Pods are
created in the API server, then `crictl runp` makes their sandbox under the same name, namespace and UID.
After StopPodSandbox and RemovePodSandbox (containerd's two DELs) nothing may be left.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.daemon.support import wait_for
from tests.e2e.meta.runtime import NETWORK_STATUS, BridgeNet, Sandbox, address_in, netns_routes, next_subnet
from tests.e2e.meta.test_selection import host_link_exists
from tests.runtimes.containerd import FLAVOURS, CrictlError
from tests.runtimes.multus_node import MODES, MULTUS_NETWORK, PRIMARY, CriRuntime

pytestmark = [pytest.mark.runtime, pytest.mark.e2e, pytest.mark.netns]

DEFAULT_V4 = "0.0.0.0/0"
SANDBOXES_AT_ONCE = 20


def node_id(param: tuple[str, str]) -> str:
    return "-".join(param)


on_every_node = pytest.mark.parametrize(
    "node", [(flavour, mode) for flavour in FLAVOURS for mode in MODES], indirect=True, ids=node_id
)
on_thick_nodes = pytest.mark.parametrize(
    "node", [(flavour, "thick") for flavour in FLAVOURS], indirect=True, ids=node_id
)


def blue_nad(rt: CriRuntime) -> BridgeNet:
    """The NAD `blue`: a bridge + host-local network of the test's own."""
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    return blue


def default_routes(box: Sandbox) -> list[tuple[str, str | None, str]]:
    return [route for route in netns_routes(box) if route[0] == DEFAULT_V4]


def reported_status(rt: CriRuntime, box: Sandbox) -> list[dict[str, Any]]:
    """The pod's network-status, once written (the daemon writes it right after its answer)."""
    status: list[dict[str, Any]] = wait_for("the pod's network-status", lambda: rt.network_status(box))
    return status


def bare(address: str) -> str:
    return address.split("/", maxsplit=1)[0]


def qdisc_kinds(device: str) -> set[str]:
    shown = subprocess.run(
        ["tc", "-j", "qdisc", "show", "dev", device], capture_output=True, text=True, check=True
    )
    return {qdisc["kind"] for qdisc in json.loads(shown.stdout)}


@on_every_node
def test_networks_reach_the_sandbox_and_its_removal_leaves_nothing(rt: CriRuntime, veth_master: str) -> None:
    blue = blue_nad(rt)
    subnet = next_subnet()
    static, mac = f"{subnet.network_address + 10}/{subnet.prefixlen}", "02:00:00:00:0c:10"
    macvlan = {
        "cniVersion": "1.0.0",
        "type": "macvlan",
        "master": veth_master,
        "mode": "bridge",
        "capabilities": {"ips": True, "mac": True},
        "ipam": {"type": "static"},
    }
    rt.nad("mv", macvlan)

    box = rt.run_pod(
        [{"name": "blue", "default-route": [blue.gateway]}, {"name": "mv", "ips": [static], "mac": mac}]
    )

    links = rt.links(box)
    assert sorted(links) == ["eth0", "net1", "net2"]
    eth0, net1 = address_in(links["eth0"], rt.cluster), address_in(links["net1"], blue)
    assert (links["net2"].mac, links["net2"].addresses) == (mac, [static])
    assert default_routes(box) == [(DEFAULT_V4, blue.gateway, "net1")]
    status = reported_status(rt, box)
    assert [(entry["name"], entry["interface"], entry["ips"], entry["mac"]) for entry in status] == [
        (PRIMARY, "eth0", [bare(eth0)], links["eth0"].mac),
        (f"{rt.namespace}/blue", "net1", [bare(net1)], links["net1"].mac),
        (f"{rt.namespace}/mv", "net2", [bare(static)], mac),
    ]
    assert [(entry.get("default"), entry.get("gateway")) for entry in status] == [
        (True, None),
        (None, [blue.gateway]),
        (None, None),
    ]
    expected_events = [
        ("Normal", "AddedInterface", f"Add eth0 [{eth0}] from {PRIMARY}"),
        ("Normal", "AddedInterface", f"Add net1 [{net1}] from {rt.namespace}/blue"),
        ("Normal", "AddedInterface", f"Add net2 [{static}] from {rt.namespace}/mv"),
    ]
    wait_for("the AddedInterface Events", lambda: len(rt.events(box)) == len(expected_events))
    assert rt.events(box) == expected_events
    # Both sides' caches, in /var/lib/cni/results (containerd gives its libcni no cache dir of its own):
    # containerd's of its loopback and of multus-cni-network, multus's of each delegate; and multus's
    # record in its cniDir. In thick mode the daemon writes its own right after the reply.
    caches = sorted(
        f"{network}-{box.container_id}-{ifname}"
        for network, ifname in (
            ("cni-loopback", "lo"),
            (MULTUS_NETWORK, "eth0"),
            (PRIMARY, "eth0"),
            ("blue", "net1"),
            ("mv", "net2"),
        )
    )
    wait_for("the result caches", lambda: len(rt.result_cache_files(box)) == len(caches))
    assert [path.name for path in rt.result_cache_files(box)] == caches
    assert rt.cache_file(box).exists()

    rt.remove_sandbox(box.container_id)

    assert rt.leftovers(box) == []
    # The pod outlives its sandbox: the interfaces the annotation lists are gone, and so is it.
    wait_for("network-status cleared", lambda: NETWORK_STATUS not in annotations_of(rt, box.pod_name))


@on_every_node
def test_sandboxes_run_at_once_all_get_their_networks_and_all_go(rt: CriRuntime) -> None:
    blue = blue_nad(rt)
    pods = [rt.pod_object("blue") for _ in range(SANDBOXES_AT_ONCE)]

    with ThreadPoolExecutor(max_workers=SANDBOXES_AT_ONCE) as pool:
        boxes = list(pool.map(lambda pod: rt.run_sandbox(*pod), pods))

    addresses = set()
    for box in boxes:
        links = rt.links(box)
        assert sorted(links) == ["eth0", "net1"], box
        addresses |= {address_in(links["eth0"], rt.cluster), address_in(links["net1"], blue)}
    assert len(addresses) == 2 * SANDBOXES_AT_ONCE
    with ThreadPoolExecutor(max_workers=SANDBOXES_AT_ONCE) as pool:
        list(pool.map(rt.remove_sandbox, [box.container_id for box in boxes]))
    assert {box.pod_name: rt.leftovers(box) for box in boxes} == {box.pod_name: [] for box in boxes}
    assert rt.bridge_ports() == []


@on_thick_nodes
def test_daemon_down_at_run_pod_sandbox_fails_for_a_retry_and_the_retry_works(rt: CriRuntime) -> None:
    daemon = rt.node.daemon
    assert daemon is not None  # thick mode
    blue = blue_nad(rt)
    name, uid = rt.pod_object("blue")
    daemon.stop()

    with pytest.raises(CrictlError) as failed:
        rt.run_sandbox(name, uid)

    assert "the runtime will retry" in failed.value.stderr
    kept = rt.sandbox_ids(name)
    # containerd 1.6 keeps a sandbox whose clean-up DEL failed too, for the kubelet to stop it later;
    # containerd 2.x lets a DEL go that failed after a failed ADD. The shim made nothing either way.
    assert len(kept) == (1 if rt.node.flavour == "containerd-1.6" else 0)
    assert rt.leftovers_of_pod(name) == [f"sandbox {pod_id} in CRI" for pod_id in kept]
    daemon.start()
    for pod_id in kept:  # as the kubelet does before it tries again
        rt.remove_sandbox(pod_id)
    box = rt.run_sandbox(name, uid, attempt=1)
    links = rt.links(box)
    assert sorted(links) == ["eth0", "net1"]
    address_in(links["net1"], blue)
    rt.remove_sandbox(box.container_id)
    assert rt.leftovers(box) == []
    assert rt.leftovers_of_pod(name) == []


@on_thick_nodes
def test_daemon_restarted_between_run_and_stop_still_removes_everything(rt: CriRuntime) -> None:
    daemon = rt.node.daemon
    assert daemon is not None  # thick mode
    blue_nad(rt)
    box = rt.run_pod("blue")
    reported_status(rt, box)

    assert daemon.stop() == 0
    daemon.start()
    rt.remove_sandbox(box.container_id)

    assert rt.leftovers(box) == []


@on_every_node
def test_containerd_restarted_between_run_and_stop_still_removes_everything(rt: CriRuntime) -> None:
    blue_nad(rt)
    box = rt.run_pod("blue")

    rt.containerd.restart()
    rt.node.ensure_up()

    assert sorted(rt.links(box)) == ["eth0", "net1"]  # the sandbox lived on through the restart
    rt.remove_sandbox(box.container_id)
    assert rt.leftovers(box) == []


def refused_sandbox(rt: CriRuntime, name: str, uid: str) -> str:
    """RunPodSandbox for the pod `name` claiming `uid`, which must fail and leave nothing behind, not even
    a network-status: what the runtime said."""
    with pytest.raises(CrictlError) as failed:
        rt.run_sandbox(name, uid)
    assert rt.leftovers_of_pod(name) == []
    assert NETWORK_STATUS not in annotations_of(rt, name)
    return failed.value.stderr


@on_every_node
def test_a_missing_nad_fails_run_pod_sandbox_naming_it_and_leaves_nothing(rt: CriRuntime) -> None:
    name, uid = rt.pod_object("no-such-nad")

    assert "no-such-nad" in refused_sandbox(rt, name, uid)


@on_every_node
def test_a_sandbox_claiming_another_uid_fails_and_leaves_nothing(rt: CriRuntime) -> None:
    name, uid = rt.pod_object()
    claimed = str(uuid.uuid4())

    # The UID is checked before anything is made: the pod of that name is another one.
    assert f"has UID {uid}, the runtime asked for {claimed}" in refused_sandbox(rt, name, claimed)


def annotations_of(rt: CriRuntime, name: str) -> dict[str, str]:
    metadata = rt.core.read_namespaced_pod(name, rt.namespace).metadata
    assert metadata is not None
    return dict(metadata.annotations or {})


@on_every_node
def test_bandwidth_annotations_reach_the_bandwidth_plugin_of_the_primary_network(rt: CriRuntime) -> None:
    shaped = {"kubernetes.io/ingress-bandwidth": "10M", "kubernetes.io/egress-bandwidth": "20M"}

    box = rt.run_pod(sandbox_annotations=shaped)

    # containerd hands them over as runtimeConfig.bandwidth; the plugin shapes egress through an ifb
    # named after the network and the container, ingress with a tbf on the host's veth.
    ifb = ("bwp" + hashlib.sha512(f"{PRIMARY}{box.container_id}".encode()).hexdigest())[:15]
    assert host_link_exists(ifb)
    assert "tbf" in qdisc_kinds(ifb)
    (port,) = rt.bridge_ports()
    assert "tbf" in qdisc_kinds(port.split(" on ", 1)[0])
    rt.remove_sandbox(box.container_id)
    assert not host_link_exists(ifb)
    assert rt.leftovers(box) == []
