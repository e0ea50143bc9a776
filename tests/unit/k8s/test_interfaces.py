"""Interface names per attachment: requested, the runtime's CNI_IFNAME, or `net<position>`."""

from __future__ import annotations

import pytest

from multus.cni.errors import InterfaceConflict
from multus.k8s.interfaces import InterfaceRequest, assign_interface_names

CLUSTER = InterfaceRequest("cluster-net")


def test_cluster_network_gets_the_runtime_name_and_others_their_position() -> None:
    requests = [CLUSTER, InterfaceRequest("ns/a", "macvlan1"), InterfaceRequest("ns/b")]
    assert assign_interface_names(requests, "eth0") == ["eth0", "macvlan1", "net2"]


def test_positions_count_every_attachment() -> None:
    requests = [CLUSTER, *(InterfaceRequest(f"ns/n{i}") for i in range(3))]
    assert assign_interface_names(requests, "eth0") == ["eth0", "net1", "net2", "net3"]


def test_cluster_network_may_request_its_own_name() -> None:
    assert assign_interface_names([InterfaceRequest("kube-system/alt", "pod0")], "eth0") == ["pod0"]


def test_no_attachments_no_names() -> None:
    assert assign_interface_names([], "eth0") == []


def test_two_requests_for_one_name_conflict_naming_both() -> None:
    requests = [CLUSTER, InterfaceRequest("ns/a", "data"), InterfaceRequest("ns/b", "data")]
    with pytest.raises(InterfaceConflict) as caught:
        assign_interface_names(requests, "eth0")
    assert (
        str(caught.value)
        == "interface name 'data' is given to both attachment 1 (ns/a) and attachment 2 (ns/b)"
    )


def test_request_colliding_with_a_generated_name_conflicts() -> None:
    requests = [CLUSTER, InterfaceRequest("ns/a", "net2"), InterfaceRequest("ns/b")]
    with pytest.raises(
        InterfaceConflict, match=r"'net2' is given to both attachment 1 \(ns/a\) and attachment 2"
    ):
        assign_interface_names(requests, "eth0")


def test_request_for_the_cluster_name_conflicts() -> None:
    with pytest.raises(InterfaceConflict, match=r"'eth0' is given to both attachment 0 \(cluster-net\)"):
        assign_interface_names([CLUSTER, InterfaceRequest("ns/a", "eth0")], "eth0")


def test_name_already_in_the_netns_conflicts() -> None:
    requests = [CLUSTER, InterfaceRequest("ns/a")]
    assert assign_interface_names(requests, "eth0", existing={"lo", "net2"}) == ["eth0", "net1"]
    with pytest.raises(InterfaceConflict) as caught:
        assign_interface_names(requests, "eth0", existing={"lo", "net1"})
    assert str(caught.value) == (
        "interface name 'net1' of attachment 1 (ns/a) already exists in the pod's network namespace"
    )
