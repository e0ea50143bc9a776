"""`namespaceIsolation: true` on every path a network can enter a pod, thin and thick: what the pod names
(the networks annotation, the default-network override) must be in its own namespace or a global one;
what the administrator names (clusterNetwork by NAD, defaultNetworks, the override's bare names) is looked
up in multusNamespace, never in the pod's, so a look-alike NAD there is never used. Look-alikes run a
planted program that leaves a mark."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.meta.runtime import DEFAULT_NETWORK, NETWORKS, Runtime, address_in
from tests.e2e.security.conftest import Planted

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

LOOK_ALIKE = {"cniVersion": "1.1.0", "name": "look-alike", "type": "planted"}


@pytest.mark.parametrize("annotation", [NETWORKS, DEFAULT_NETWORK])
def test_a_pod_may_not_name_another_namespaces_network(
    rt: Runtime, planted: Planted, annotation: str
) -> None:
    other = rt.make_namespace()
    rt.nad("elsewhere", LOOK_ALIKE, namespace=other)
    rt.pod(annotations={annotation: f"{other}/elsewhere"})
    config = rt.multus_config(namespaceIsolation=True)

    error = rt.run("ADD", config=config, env=planted.env(rt)).error(104)

    assert f"{other}/elsewhere" in error["msg"], error
    assert "isolation" in error["msg"], error
    assert planted.ran() == []
    assert rt.leftovers() == []
    rt.run("DEL", config=config, env=planted.env(rt)).ok()
    assert planted.ran() == []
    assert rt.leftovers() == []


@pytest.mark.parametrize("entry", ["clusterNetwork", "defaultNetworks", "default-network"])
def test_the_administrators_networks_come_from_multus_namespace_not_the_pods(
    rt: Runtime, planted: Planted, entry: str
) -> None:
    offered = rt.make_namespace()
    admin = rt.bridge_net("admin-net", default_route=entry != "defaultNetworks")
    rt.nad("admin-net", admin.config, namespace=offered)
    rt.nad("admin-net", LOOK_ALIKE)  # in the pod's own namespace, which isolation lets the pod use
    settings: dict[str, Any] = {entry: "admin-net"} if entry == "clusterNetwork" else {}
    if entry == "defaultNetworks":
        settings[entry] = ["admin-net"]
    config = rt.multus_config(namespaceIsolation=True, multusNamespace=offered, **settings)
    rt.pod(annotations={DEFAULT_NETWORK: "admin-net"} if entry == "default-network" else None)

    rt.run("ADD", config=config, env=planted.env(rt)).ok()

    links = rt.links()
    address_in(links["net1" if entry == "defaultNetworks" else "eth0"], admin)
    assert planted.ran() == []
    rt.run("DEL", config=config, env=planted.env(rt)).ok()
    assert rt.leftovers() == []
