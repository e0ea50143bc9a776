"""The default route (docs/reference.md §4), network-status (§5), the UID check and Events (§5)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.meta.runtime import NETWORKS, RESULTS_DIR, Runtime, Sandbox, address_in, netns_routes, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

DEFAULT_V4 = "0.0.0.0/0"


def default_routes(sandbox: Sandbox) -> list[tuple[str, str | None, str]]:
    return [route for route in netns_routes(sandbox) if route[0] == DEFAULT_V4]


def cached_default_gateways(result: dict[str, Any]) -> list[str | None]:
    return [route.get("gw") for route in result.get("routes", []) if route["dst"] == DEFAULT_V4]


def bare(address: str) -> str:
    return address.split("/", maxsplit=1)[0]


def test_default_route_moves_to_the_attachment_that_asks_for_it(rt: Runtime) -> None:
    chosen = rt.bridge_net("chosen", default_route=False)
    rt.nad("chosen", chosen.config)
    box = rt.pod([{"name": "chosen", "default-route": [chosen.gateway]}])
    assert rt.cluster.gateway != chosen.gateway

    result = rt.add()

    assert default_routes(box) == [(DEFAULT_V4, chosen.gateway, "net1")]
    status = rt.network_status()
    assert status is not None
    assert "gateway" not in status[0]
    assert status[1]["gateway"] == [chosen.gateway]
    assert cached_default_gateways(result) == []  # the runtime is told the truth too
    # Both caches were rewritten to match: our record and libcni's result cache.
    record = json.loads(rt.cache_file().read_text())["attachments"]
    assert [cached_default_gateways(entry["result"]) for entry in record] == [[], [chosen.gateway]]
    for network, ifname, gateways in (("mpy-cluster", "eth0", []), ("chosen", "net1", [chosen.gateway])):
        cached = json.loads((RESULTS_DIR / f"{network}-{box.container_id}-{ifname}").read_text())
        assert cached_default_gateways(cached["result"]) == gateways
    rt.check()  # the delegates' CHECK compares routes with the rewritten results
    rt.delete()
    assert rt.leftovers() == []


def test_empty_default_route_keeps_what_the_delegates_configured(rt: Runtime) -> None:
    other = rt.bridge_net("other", default_route=False)
    rt.nad("other", other.config)
    box = rt.pod([{"name": "other", "default-route": []}])

    rt.add()

    assert default_routes(box) == [(DEFAULT_V4, rt.cluster.gateway, "eth0")]
    status = rt.network_status()
    assert status is not None
    assert status[0]["gateway"] == [rt.cluster.gateway]
    assert "gateway" not in status[1]
    rt.delete()
    assert rt.leftovers() == []


def test_network_status_and_events_are_written_as_the_reference_says(rt: Runtime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")

    rt.add()

    links = rt.links()
    eth0, net1 = address_in(links["eth0"], rt.cluster), address_in(links["net1"], blue)
    assert rt.network_status() == [
        {
            "name": "mpy-cluster",
            "interface": "eth0",
            "ips": [bare(eth0)],
            "mac": links["eth0"].mac,
            "default": True,
            "dns": {},
            "gateway": [rt.cluster.gateway],
        },
        {
            "name": f"{rt.namespace}/blue",
            "interface": "net1",
            "ips": [bare(net1)],
            "mac": links["net1"].mac,
            "dns": {},
        },
    ]
    assert rt.events() == [
        ("Normal", "AddedInterface", f"Add eth0 [{eth0}] from mpy-cluster"),
        ("Normal", "AddedInterface", f"Add net1 [{net1}] from {rt.namespace}/blue"),
    ]
    rt.delete()
    assert rt.leftovers() == []


def test_cluster_network_from_a_nad_is_named_namespace_slash_name(rt: Runtime) -> None:
    multus_namespace = rt.make_namespace()
    from_nad = rt.bridge_net("from-nad")
    rt.nad("from-nad", from_nad.config, namespace=multus_namespace)
    config = rt.multus_config(multusNamespace=multus_namespace, clusterNetwork="from-nad")
    rt.pod()

    rt.add(config=config)

    address_in(rt.links()["eth0"], from_nad)
    status = rt.network_status()
    assert status is not None
    assert [(entry["name"], entry.get("default")) for entry in status] == [
        (f"{multus_namespace}/from-nad", True)
    ]
    rt.delete(config=config)
    assert rt.leftovers() == []


def test_add_for_a_pod_recreated_under_the_same_name_fails_and_writes_nothing(rt: Runtime) -> None:
    box = rt.pod()
    rt.delete_pod_object(box)
    new_uid = rt.create_pod_object(box.pod_namespace, box.pod_name, {})

    error = rt.run("ADD").error(3)

    assert box.pod_uid in error["msg"]
    assert new_uid in error["msg"]
    assert rt.network_status() is None
    assert rt.leftovers() == []


def test_pod_recreated_while_its_add_runs_is_left_with_nothing(rt: Runtime) -> None:
    paused, started, release = rt.paused_net("paused")
    rt.nad("paused", paused.config)
    box = rt.pod("paused")

    with ThreadPoolExecutor(1) as pool:
        adding = pool.submit(rt.run, "ADD")
        wait_for(started.exists)
        # Every delegate has run or is running: now the pod the ADD is for goes away and comes back.
        rt.delete_pod_object(box)
        rt.create_pod_object(box.pod_namespace, box.pod_name, {NETWORKS: "paused"})
        release.touch()
        reply = adding.result()

    error = reply.error(3)
    assert box.pod_uid in error["msg"]
    assert rt.network_status() is None
    assert rt.leftovers() == []


@pytest.mark.parametrize("version", ["0.2.0", "0.3.1", "0.4.0", "1.0.0"])
def test_network_status_of_a_nad_at_an_older_cni_version(rt: Runtime, version: str) -> None:
    older = rt.bridge_net("older", default_route=False)
    rt.nad("older", {**older.config, "cniVersion": version})
    rt.pod("older")

    rt.add()

    net1 = address_in(rt.links()["net1"], older)
    status = rt.network_status()
    assert status is not None
    assert status[1]["ips"] == [bare(net1)]
    assert ("Normal", "AddedInterface", f"Add net1 [{net1}] from {rt.namespace}/older") in rt.events()
    rt.delete()
    assert rt.leftovers() == []


def test_ipv6_default_route_moves_alone_and_ipv4_stays(rt: Runtime) -> None:
    cluster, _ = rt.dual_stack_net("mpy-cluster", default_route=True)
    rt.write_conf("10-cluster.conflist", cluster.config)
    chosen, chosen6 = rt.dual_stack_net("chosen6", default_route=False)
    rt.nad("chosen6", chosen.config)
    gateway6 = str(chosen6.network_address + 1)
    box = rt.pod([{"name": "chosen6", "default-route": [gateway6]}])

    rt.add()

    assert default_routes(box) == [(DEFAULT_V4, cluster.gateway, "eth0")]
    assert [route for route in netns_routes(box, 6) if route[0] == "::/0"] == [("::/0", gateway6, "net1")]
    status = rt.network_status()
    assert status is not None
    assert status[0]["gateway"] == [cluster.gateway]
    assert status[1]["gateway"] == [gateway6]
    rt.check()
    rt.delete()
    assert rt.leftovers() == []
