"""Resolving a pod's attachments: cluster network lookup order, defaultNetworks, the annotation, names."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from multus.cni.errors import (
    InterfaceConflict,
    InvalidConfig,
    NetworkForbidden,
    NetworkNotFound,
    UnsupportedField,
)
from multus.config import MultusConfig
from multus.devices import DeviceAllocations
from multus.kube.fileview import FileView
from multus.resolution import PlannedAttachment, resolve_attachments


def nad(namespace: str, name: str, config: dict[str, Any] | None, **annotations: str) -> str:
    spec = {"config": json.dumps(config)} if config is not None else {}
    return json.dumps(
        {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "spec": spec,
        }
    )


def pod(namespace: str, name: str, **annotations: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        }
    )


BRIDGE = {"cniVersion": "1.0.0", "type": "bridge"}
MACVLAN = {
    "cniVersion": "1.0.0",
    "type": "macvlan",
    "capabilities": {"ips": True, "mac": True},
    "ipam": {"type": "static"},
}


@pytest.fixture
def cluster(tmp_path: Path) -> Path:
    folder = tmp_path / "cluster"
    folder.mkdir()
    (tmp_path / "net.d").mkdir()
    (tmp_path / "net.d" / "10-cluster.conflist").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "bridge"}]})
    )
    (tmp_path / "net.d" / "20-ondisk.conf").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "ondisk", "type": "ptp"})
    )
    docs = [
        nad("shop", "blue", BRIDGE),
        nad("shop", "static", MACVLAN),
        nad("shop", "ondisk", None),
        nad("shop", "sriov", {"type": "host-device"}, **{"k8s.v1.cni.cncf.io/resourceName": "vendor.io/vf"}),
        nad("private", "secret", BRIDGE),
        nad("kube-system", "sidecar", BRIDGE),
        nad("kube-system", "alt-cluster", {"cniVersion": "1.0.0", "type": "ptp"}),
    ]
    (folder / "all.yaml").write_text("\n---\n".join(docs))
    return folder


def resolve(
    cluster: Path,
    annotations: dict[str, str],
    *,
    namespace: str = "shop",
    taken: set[str] | None = None,
    **settings: Any,
) -> list[PlannedAttachment]:
    (cluster / "pod.yaml").write_text(pod(namespace, "web", **annotations))
    view = FileView(cluster)
    config = MultusConfig.validate(
        {"clusterNetwork": "cluster", "confDir": str(cluster.parent / "net.d"), **settings}
    )
    the_pod = asyncio.run(view.get_pod(namespace, "web"))
    devices = DeviceAllocations(
        lambda pod: {"vendor.io/vf": ["0000:03:02.3", "0000:03:02.4"]} if pod.uid == "file-shop-web" else {}
    )
    return asyncio.run(resolve_attachments(config, view, the_pod, "eth0", taken or {"lo"}, devices=devices))


def summary(attachments: list[PlannedAttachment]) -> list[tuple[str, str, bool]]:
    return [(a.ifname, a.network, a.is_default) for a in attachments]


def test_comma_form_names_interfaces_by_position(cluster: Path) -> None:
    got = resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "blue@blue0, shop/blue"})
    assert summary(got) == [
        ("eth0", "cluster", True),
        ("blue0", "shop/blue", False),
        ("net2", "shop/blue", False),
    ]
    assert got[1].config["name"] == "blue"  # a NAD config without a name takes the NAD's


def test_json_form_reaches_the_delegate(cluster: Path) -> None:
    element = {"name": "static", "ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:05", "cni-args": {"x": "y"}}
    got = resolve(cluster, {"k8s.v1.cni.cncf.io/networks": json.dumps([element])})
    assert got[1].capability_args == {"ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:05"}
    assert got[1].cni_args == [("IP", "10.1.1.5/24"), ("MAC", "02:00:00:00:00:05")]
    assert got[1].config["args"] == {"cni": {"x": "y"}}


def test_capability_nobody_declares_fails(cluster: Path) -> None:
    asks = '[{"name": "blue", "portMappings": [{"hostPort": 8080, "containerPort": 80}]}]'
    with pytest.raises(UnsupportedField, match=r"shop/blue.*\"portMappings\""):
        resolve(cluster, {"k8s.v1.cni.cncf.io/networks": asks})


def test_ips_and_mac_nobody_declares_go_through_cni_args(cluster: Path) -> None:
    element = {"name": "blue", "ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:05"}
    got = resolve(cluster, {"k8s.v1.cni.cncf.io/networks": json.dumps([element])})
    assert got[1].cni_args == [("IP", "10.1.1.5/24"), ("MAC", "02:00:00:00:00:05")]


def test_empty_nad_config_uses_conf_dir(cluster: Path) -> None:
    got = resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "ondisk"})
    assert got[1].config == {"cniVersion": "1.0.0", "name": "ondisk", "type": "ptp"}


def test_default_networks_and_system_namespaces(cluster: Path) -> None:
    got = resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "blue"}, defaultNetworks=["sidecar"])
    assert summary(got)[1:] == [("net1", "kube-system/sidecar", False), ("net2", "shop/blue", False)]
    system = resolve(
        cluster,
        {"k8s.v1.cni.cncf.io/networks": "shop/blue"},
        namespace="kube-system",
        defaultNetworks=["sidecar"],
    )
    assert summary(system) == [("eth0", "cluster", True)]


def test_default_network_annotation_replaces_the_cluster_network(cluster: Path) -> None:
    got = resolve(cluster, {"v1.multus-cni.io/default-network": "alt-cluster"})
    assert summary(got) == [("eth0", "kube-system/alt-cluster", True)]


def test_isolation(cluster: Path) -> None:
    with pytest.raises(NetworkForbidden, match="private/secret"):
        resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "private/secret"}, namespaceIsolation=True)
    assert len(resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "private/secret"})) == 2


def test_isolation_holds_for_the_default_network_override(cluster: Path) -> None:
    override = "v1.multus-cni.io/default-network"
    with pytest.raises(NetworkForbidden, match="private/secret"):
        resolve(cluster, {override: "private/secret"}, namespaceIsolation=True)
    # Its bare names mean multusNamespace, where the administrator keeps the cluster networks on offer.
    got = resolve(cluster, {override: "alt-cluster"}, namespaceIsolation=True)
    assert summary(got) == [("eth0", "kube-system/alt-cluster", True)]
    assert summary(resolve(cluster, {override: "private/secret"})) == [("eth0", "private/secret", True)]


def test_missing_network_and_missing_cluster_network(cluster: Path) -> None:
    with pytest.raises(NetworkNotFound, match="shop/absent"):
        resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "absent"})
    with pytest.raises(NetworkNotFound, match="'nowhere'"):
        resolve(cluster, {}, clusterNetwork="nowhere")
    with pytest.raises(InvalidConfig, match="clusterNetwork or delegates"):
        resolve(cluster, {}, clusterNetwork=None)


def test_interface_taken_or_repeated(cluster: Path) -> None:
    with pytest.raises(InterfaceConflict, match="already exists"):
        resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "blue"}, taken={"lo", "net1"})
    with pytest.raises(InterfaceConflict, match="both"):
        resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "blue@x,blue@x"})


def test_device_from_the_kubelet_allocation(cluster: Path) -> None:
    got = resolve(cluster, {"k8s.v1.cni.cncf.io/networks": "sriov,sriov"})
    assert [a.config["deviceID"] for a in got[1:]] == ["0000:03:02.3", "0000:03:02.4"]
    assert got[1].device_info == {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:03:02.3"}}


def test_cluster_network_from_a_directory_or_a_file(cluster: Path) -> None:
    net_d = cluster.parent / "net.d"
    assert summary(resolve(cluster, {}, clusterNetwork=str(net_d))) == [("eth0", "cluster", True)]
    assert summary(resolve(cluster, {}, clusterNetwork=str(net_d / "20-ondisk.conf"))) == [
        ("eth0", "ondisk", True)
    ]
