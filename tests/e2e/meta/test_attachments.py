"""Which attachments a pod gets, end to end: annotations in both forms, NAD lookup, namespaces, conf-dir
configs, config lists, interface names. Every test ends with a DEL that leaves nothing behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.meta.runtime import (
    CLUSTER_NETWORK,
    DEFAULT_NETWORK,
    RESULTS_DIR,
    Runtime,
    address_in,
    free_host_port,
    nat_rules,
)

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


@pytest.mark.parametrize("form", ["comma", "json"])
def test_both_annotation_forms_attach_every_network_under_its_interface_name(rt: Runtime, form: str) -> None:
    elsewhere = rt.make_namespace()
    blue, green, red = (rt.bridge_net(name, default_route=False) for name in ("blue", "green", "red"))
    rt.nad("blue", blue.config)
    rt.nad("green", green.config, namespace=elsewhere)
    rt.nad("red", red.config)
    networks: str | list[dict[str, Any]] = (
        f" blue@blue1, {elsewhere}/green ,red"
        if form == "comma"
        else [
            {"name": "blue", "interface": "blue1"},
            {"name": "green", "namespace": elsewhere},
            {"name": "red"},
        ]
    )
    rt.pod(networks)

    rt.add()

    links = rt.links()
    assert sorted(links) == ["blue1", "eth0", "net2", "net3"]  # net<position> counts the cluster network
    for ifname, net in (("eth0", rt.cluster), ("blue1", blue), ("net2", green), ("net3", red)):
        address_in(links[ifname], net)
    status = rt.network_status()
    assert status is not None
    assert [(entry["name"], entry["interface"]) for entry in status] == [
        (CLUSTER_NETWORK, "eth0"),
        (f"{rt.namespace}/blue", "blue1"),
        (f"{elsewhere}/green", "net2"),
        (f"{rt.namespace}/red", "net3"),
    ]
    rt.delete()
    assert rt.leftovers() == []


def test_default_network_annotation_replaces_the_cluster_network(rt: Runtime) -> None:
    multus_namespace = rt.make_namespace()
    alternative = rt.bridge_net("alternative")
    rt.nad("alternative", alternative.config, namespace=multus_namespace)
    rt.pod(annotations={DEFAULT_NETWORK: "alternative"})  # no namespace: looked up in multusNamespace
    config = rt.multus_config(multusNamespace=multus_namespace)

    result = rt.add(config=config)

    links = rt.links()
    assert sorted(links) == ["eth0"]
    assert [ip["address"] for ip in result["ips"]] == [address_in(links["eth0"], alternative)]
    status = rt.network_status()
    assert status is not None
    assert [(entry["name"], entry["interface"], entry.get("default")) for entry in status] == [
        (f"{multus_namespace}/alternative", "eth0", True)
    ]
    assert [port.split(" on ")[1] for port in rt.bridge_ports()] == [alternative.bridge]
    rt.delete(config=config)
    assert rt.leftovers() == []


def test_isolation_allows_the_pods_own_and_the_global_namespaces(rt: Runtime) -> None:
    shared = rt.make_namespace()
    own, common = rt.bridge_net("own", default_route=False), rt.bridge_net("common", default_route=False)
    rt.nad("own", own.config)
    rt.nad("common", common.config, namespace=shared)
    rt.pod(f"own,{shared}/common")
    # globalNamespaces as upstream writes it: a comma-separated string.
    config = rt.multus_config(namespaceIsolation=True, globalNamespaces=f"default,{shared}")

    rt.add(config=config)

    links = rt.links()
    assert sorted(links) == ["eth0", "net1", "net2"]
    address_in(links["net1"], own)
    address_in(links["net2"], common)
    rt.delete(config=config)
    assert rt.leftovers() == []


def test_default_networks_go_to_every_pod_except_those_in_system_namespaces(rt: Runtime) -> None:
    multus_namespace, system_namespace = rt.make_namespace(), rt.make_namespace()
    extra = rt.bridge_net("extra", default_route=False)
    rt.nad("extra", extra.config, namespace=multus_namespace)
    config = rt.multus_config(
        multusNamespace=multus_namespace, defaultNetworks=["extra"], systemNamespaces=[system_namespace]
    )
    ordinary = rt.pod()
    # A system pod's annotations are not even read: a missing NAD there is no error, and it keeps the
    # cluster network even when it names another default network.
    system = rt.pod("no-such-network", annotations={DEFAULT_NETWORK: "extra"}, namespace=system_namespace)

    rt.add(ordinary, config=config)
    rt.add(system, config=config)

    assert sorted(rt.links(ordinary)) == ["eth0", "net1"]
    address_in(rt.links(ordinary)["net1"], extra)
    assert sorted(rt.links(system)) == ["eth0"]
    address_in(rt.links(system)["eth0"], rt.cluster)
    status = rt.network_status(ordinary)
    assert status is not None
    assert [entry["name"] for entry in status] == [CLUSTER_NETWORK, f"{multus_namespace}/extra"]
    for sandbox in (ordinary, system):
        rt.delete(sandbox, config=config)
        assert rt.leftovers(sandbox) == []


@pytest.mark.parametrize("spec_config", [None, "", "\n"], ids=["absent", "empty", "blank"])
def test_nad_without_config_uses_the_conf_dir_file_of_that_name(rt: Runtime, spec_config: str | None) -> None:
    on_disk = rt.bridge_net("on-disk", default_route=False)
    rt.write_conf("50-on-disk.conflist", on_disk.config)
    rt.nad("on-disk", spec_config)
    rt.pod("on-disk")

    rt.add()

    address_in(rt.links()["net1"], on_disk)
    status = rt.network_status()
    assert status is not None
    assert status[1]["name"] == f"{rt.namespace}/on-disk"
    rt.delete()
    assert rt.leftovers() == []


def test_nad_config_without_name_is_named_after_the_nad(rt: Runtime) -> None:
    nameless = rt.bridge_net("placeholder", default_route=False)
    del nameless.config["name"]
    rt.nad("nameless", nameless.config)
    rt.pod("nameless")

    rt.add()

    # The name reached the delegates: libcni's cache entry and host-local's data folder carry it.
    assert (RESULTS_DIR / f"nameless-{rt.sandbox.container_id}-net1").is_file()
    assert (rt.ipam_dir / "nameless").is_dir()
    record = json.loads(rt.cache_file().read_text())
    assert record["attachments"][1]["config"]["name"] == "nameless"
    rt.delete()
    assert rt.leftovers() == []


def test_config_list_runs_bridge_then_tuning_then_portmap(rt: Runtime) -> None:
    host_port = free_host_port()
    chain = rt.bridge_net(
        "chain",
        default_route=False,
        after=[
            {"type": "tuning", "mtu": 1280},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    )
    rt.nad("chain", chain.config)
    rt.pod([{"name": "chain", "portMappings": [{"hostPort": host_port, "containerPort": 80}]}])

    rt.add()

    net1 = rt.links()["net1"]
    address_in(net1, chain)
    assert net1.mtu == 1280  # tuning ran on bridge's interface
    assert any(f"--dports {host_port}" in rule for rule in nat_rules(rt.sandbox.container_id))  # portmap
    rt.delete()
    assert rt.leftovers() == []


def test_same_network_twice_gives_two_attachments_and_two_status_entries(rt: Runtime) -> None:
    twice = rt.bridge_net("twice", default_route=False)
    rt.nad("twice", twice.config)
    rt.pod("twice,twice")

    rt.add()

    links = rt.links()
    assert sorted(links) == ["eth0", "net1", "net2"]
    assert address_in(links["net1"], twice) != address_in(links["net2"], twice)
    status = rt.network_status()
    assert status is not None
    assert [(entry["name"], entry["interface"]) for entry in status[1:]] == [
        (f"{rt.namespace}/twice", "net1"),
        (f"{rt.namespace}/twice", "net2"),
    ]
    rt.delete()
    assert rt.leftovers() == []


@pytest.mark.parametrize("form", ["conf-name", "file-path", "directory"])
def test_cluster_network_named_by_conf_name_file_path_or_directory(rt: Runtime, form: str) -> None:
    folder = rt.root / "primary"
    folder.mkdir()
    primary = rt.bridge_net("primary")
    (folder / "05-primary.conflist").write_text(json.dumps(primary.config))
    (folder / "99-later.conflist").write_text(json.dumps(rt.cluster.config))  # a directory means its first
    cluster_network = {
        "conf-name": CLUSTER_NETWORK,
        "file-path": str(folder / "05-primary.conflist"),
        "directory": str(folder),
    }[form]
    expected = rt.cluster if form == "conf-name" else primary
    config = rt.multus_config(clusterNetwork=cluster_network)
    rt.pod()

    rt.add(config=config)

    address_in(rt.links()["eth0"], expected)
    status = rt.network_status()
    assert status is not None
    assert [entry["name"] for entry in status] == [expected.config["name"]]
    rt.delete(config=config)
    assert rt.leftovers() == []


def test_delegates_give_the_cluster_network_and_further_attachments_for_every_pod(rt: Runtime) -> None:
    first, second = rt.bridge_net("first"), rt.bridge_net("second", default_route=False)
    # Upstream's older style: no clusterNetwork, the configs themselves, single plugins.
    delegates = [
        {"cniVersion": "1.1.0", "name": net.config["name"], **net.config["plugins"][0]}
        for net in (first, second)
    ]
    config = rt.multus_config(clusterNetwork=None, delegates=delegates)
    rt.pod()

    rt.add(config=config)

    links = rt.links()
    assert sorted(links) == ["eth0", "net1"]
    address_in(links["eth0"], first)
    address_in(links["net1"], second)
    rt.delete(config=config)
    assert rt.leftovers() == []
