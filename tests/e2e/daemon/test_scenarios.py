"""The meta-plugin's end-to-end scenarios again, through shim -> daemon: extra networks from NADs, CHECK,
network-status and Events, the default route, DEL from the cache, DEL twice, bad annotations. Each test
runs with the Python shim and with the native one, against one shared `multus-daemon`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pyroute2 import IPRoute, netns

from tests.e2e.daemon.support import ShimRuntime, wait_for
from tests.e2e.meta.runtime import (
    CLUSTER_NETWORK,
    NETWORK_STATUS,
    NETWORKS,
    Sandbox,
    address_in,
    answers_in_version,
    netns_routes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def bare(address: str) -> str:
    return address.split("/", maxsplit=1)[0]


@pytest.mark.parametrize("form", ["comma", "json"])
def test_add_check_del_with_extra_networks_from_nads(rt: ShimRuntime, form: str) -> None:
    elsewhere = rt.make_namespace()
    blue, green = rt.bridge_net("blue", default_route=False), rt.bridge_net("green", default_route=False)
    rt.nad("blue", blue.config)
    rt.nad("green", green.config, namespace=elsewhere)
    networks: str | list[dict[str, Any]] = (
        f"blue@blue1, {elsewhere}/green"
        if form == "comma"
        else [{"name": "blue", "interface": "blue1"}, {"name": "green", "namespace": elsewhere}]
    )
    rt.pod(networks)

    result = rt.add()

    links = rt.links()
    assert sorted(links) == ["blue1", "eth0", "net2"]
    eth0 = address_in(links["eth0"], rt.cluster)
    blue1, net2 = address_in(links["blue1"], blue), address_in(links["net2"], green)
    assert [ip["address"] for ip in result["ips"]] == [eth0]  # the runtime gets the cluster network's
    assert rt.network_status() == [
        {
            "name": CLUSTER_NETWORK,
            "interface": "eth0",
            "ips": [bare(eth0)],
            "mac": links["eth0"].mac,
            "default": True,
            "dns": {},
            "gateway": [rt.cluster.gateway],
        },
        {
            "name": f"{rt.namespace}/blue",
            "interface": "blue1",
            "ips": [bare(blue1)],
            "mac": links["blue1"].mac,
            "dns": {},
        },
        {
            "name": f"{elsewhere}/green",
            "interface": "net2",
            "ips": [bare(net2)],
            "mac": links["net2"].mac,
            "dns": {},
        },
    ]
    assert rt.events() == sorted(
        [
            ("Normal", "AddedInterface", f"Add eth0 [{eth0}] from {CLUSTER_NETWORK}"),
            ("Normal", "AddedInterface", f"Add blue1 [{blue1}] from {rt.namespace}/blue"),
            ("Normal", "AddedInterface", f"Add net2 [{net2}] from {elsewhere}/green"),
        ]
    )
    rt.check()
    rt.delete()
    assert rt.leftovers() == []


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_every_answer_is_in_the_version_of_the_multus_config(rt: ShimRuntime, version: str) -> None:
    answers_in_version(rt, version)


def test_check_fails_when_an_attachment_is_gone(rt: ShimRuntime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue")
    rt.add()
    with IPRoute(netns=box.netns_name, flags=0) as ipr:
        ipr.link("del", index=ipr.link_lookup(ifname="net1")[0])

    error = rt.run("CHECK").error(None)

    assert "net1" in error["msg"] + error.get("details", "")
    rt.delete()
    assert rt.leftovers() == []


def test_default_route_moves_to_the_attachment_that_asks_for_it(rt: ShimRuntime) -> None:
    chosen = rt.bridge_net("chosen", default_route=False)
    rt.nad("chosen", chosen.config)
    box = rt.pod([{"name": "chosen", "default-route": [chosen.gateway]}])

    result = rt.add()

    defaults = [route for route in netns_routes(box) if route[0] == "0.0.0.0/0"]
    assert defaults == [("0.0.0.0/0", chosen.gateway, "net1")]
    assert [route for route in result.get("routes", []) if route["dst"] == "0.0.0.0/0"] == []
    status = rt.network_status()
    assert status is not None
    assert status[1]["gateway"] == [chosen.gateway]
    rt.check()
    rt.delete()
    assert rt.leftovers() == []


def test_del_twice_succeeds_both_times(rt: ShimRuntime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")
    rt.add()
    assert sorted(rt.links()) == ["eth0", "net1"]

    rt.delete()
    rt.delete()  # containerd's stop, then remove

    assert rt.leftovers() == []


def requests_logged(rt: ShimRuntime, box: Sandbox) -> list[str]:
    """The commands of the sandbox's requests the daemon has answered (it logs each after answering)."""
    return [
        line["command"]
        for line in rt.daemon.log_lines()
        if line.get("msg") == "request" and line.get("container") == box.container_id
    ]


def test_del_of_a_sandbox_the_pod_outlives_clears_its_network_status(rt: ShimRuntime) -> None:
    """A sandbox that failed, or whose ADD result the runtime refused (its DEL comes at once, before
    the daemon's cache may hold the network-status just written): the pod stays for the next one."""
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue")
    rt.add()

    rt.delete()

    assert wait_for("the daemon's decision", lambda: rt.status_decisions(box)) == ["cleared"]
    annotations = rt.read_pod().metadata.annotations  # type: ignore[union-attr]
    assert NETWORK_STATUS not in annotations
    assert annotations[NETWORKS] == "blue"
    cleared = rt.resource_version()
    rt.delete()  # the runtime's second DEL: no record left, nothing to decide, nothing written
    wait_for("the second DEL's answer", lambda: requests_logged(rt, box) == ["ADD", "DEL", "DEL"])
    assert rt.status_decisions(box) == ["cleared"]
    assert rt.resource_version() == cleared
    assert rt.leftovers() == []


def test_del_of_a_terminating_pod_leaves_its_network_status(rt: ShimRuntime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue")
    rt.add()
    rt.delete_pod_held()
    terminating, status = rt.resource_version(), rt.network_status()

    rt.delete()

    decided = wait_for("the daemon's decision", lambda: rt.status_decisions(box))
    assert decided == ["the pod is being deleted"]
    assert (rt.resource_version(), rt.network_status()) == (terminating, status)
    assert rt.leftovers() == []


def test_del_for_a_pod_recreated_under_the_same_name_leaves_the_new_pods_status(rt: ShimRuntime) -> None:
    box = rt.pod()
    rt.add()
    rt.delete_pod_object(box)
    new_uid = rt.create_pod_object(box.pod_namespace, box.pod_name, {NETWORK_STATUS: "[]"})
    recreated = rt.resource_version()

    rt.delete(box)  # the old sandbox, with the old UID in K8S_POD_UID

    decided = wait_for("the daemon's decision", lambda: rt.status_decisions(box))
    assert decided == [f"the pod has another UID ({new_uid})"]
    assert (rt.resource_version(), rt.network_status()) == (recreated, [])
    assert rt.leftovers() == []


def test_del_after_the_pod_and_the_nad_were_deleted(rt: ShimRuntime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")
    rt.add()
    rt.delete_pod_object()
    rt.delete_nad("blue")

    rt.delete()

    assert rt.leftovers() == []
    assert wait_for("the daemon's decision", lambda: rt.status_decisions(rt.sandbox)) == ["the pod is gone"]


def test_del_after_the_netns_was_removed_still_releases_addresses(rt: ShimRuntime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue", own_netns=True)
    rt.add(box)
    assert len(rt.ipam_allocations(box)) == 2
    netns.remove(box.netns_name)

    rt.delete(box)

    assert rt.leftovers(box) == []


@pytest.mark.parametrize(
    ("annotation", "code", "named", "reason"),
    [
        ("ns/name/extra", 102, "ns/name/extra", "InvalidNetworksAnnotation"),  # more than one "/"
        ('[{"name": "blue", "interface": 7}]', 102, "interface", "InvalidNetworksAnnotation"),
        ("[{", 102, "JSON", "InvalidNetworksAnnotation"),
        ("no-such-network", 103, "no-such-network", "NoNetworkFound"),
    ],
    ids=["two-slashes", "interface-not-a-string", "broken-json", "missing-nad"],
)
def test_bad_annotation_is_a_cni_error_and_leaves_nothing(
    rt: ShimRuntime, annotation: str, code: int, named: str, reason: str
) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod(annotation)

    error = rt.run("ADD").error(code)

    assert named.lower() in json.dumps(error).lower(), error
    assert rt.leftovers() == []
    assert rt.network_status() is None
    assert [event[:2] for event in rt.events()] == [("Warning", reason)]
    rt.delete()  # the runtime calls DEL after a failed ADD: it succeeds and there is nothing to undo
    assert rt.leftovers() == []

    def logged() -> list[tuple[str, str, str]]:  # each request's line, once its answer is out
        return [
            (line["command"], line["level"], line["result"])
            for line in rt.daemon.log_lines()
            if line.get("msg") == "request" and line.get("container") == rt.sandbox.container_id
        ]

    wait_for("both requests logged", lambda: len(logged()) == 2)
    assert logged() == [("ADD", "error", f"error {code}"), ("DEL", "info", "ok")]
