"""What a pod's selection hands the delegate: `ips`/`mac` to static IPAM, host-local, macvlan and tuning
(declared or through CNI_ARGS, and checked on the result), `cni-args` into every plugin's `args.cni`,
`portMappings`/`bandwidth` to the plugins that declare them. `fake-record` at the end of a chain shows
exactly what a delegate got."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from tests.e2e.meta.both_modes import (
    ignored_request_fails_cleanly,
    static_ips_and_mac_without_capabilities,
    tuning_mac_without_capabilities,
)
from tests.e2e.meta.runtime import Runtime, address_in, free_host_port, nat_rules, next_subnet

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def recorder(path: Path, **extra: Any) -> dict[str, Any]:
    return {"type": "fake-record", "recordFile": str(path), **extra}


def records(path: Path, command: str) -> list[dict[str, Any]]:
    """What `fake-record` was given for `command`, one entry per run."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["command"] == command]


def cni_args(record: dict[str, Any]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in record["env"]["CNI_ARGS"].split(";"))


def test_ips_and_mac_reach_macvlan_and_static_ipam(rt: Runtime, veth_master: str) -> None:
    subnet = next_subnet()
    address, mac = f"{subnet.network_address + 7}/{subnet.prefixlen}", "02:42:0a:de:00:07"
    record = rt.root / "record.jsonl"
    macvlan = {
        "type": "macvlan",
        "master": veth_master,
        "mode": "bridge",
        "capabilities": {"ips": True, "mac": True},
        "ipam": {"type": "static"},
    }
    rt.nad("macvlan", {"cniVersion": "1.1.0", "plugins": [macvlan, recorder(record)]})
    rt.pod([{"name": "macvlan", "ips": [address], "mac": mac}])

    rt.add()

    net1 = rt.links()["net1"]
    assert (net1.mac, net1.addresses) == (mac, [address])
    status = rt.network_status()
    assert status is not None
    assert status[1]["ips"] == [address.split("/", maxsplit=1)[0]]
    assert status[1]["mac"] == mac
    (added,) = records(record, "ADD")
    # Like upstream, the requests are in CNI_ARGS as well; runtimeConfig only for declaring plugins.
    assert cni_args(added)["IP"] == address
    assert cni_args(added)["MAC"] == mac
    assert "runtimeConfig" not in added["stdin"]
    rt.delete()
    assert rt.leftovers() == []


def test_ips_and_mac_without_capabilities_reach_the_plugins_through_cni_args(
    rt: Runtime, veth_master: str
) -> None:
    static_ips_and_mac_without_capabilities(rt, veth_master)


def test_mac_without_capabilities_reaches_tuning(rt: Runtime) -> None:
    tuning_mac_without_capabilities(rt)


@pytest.mark.parametrize("asked", ["ips", "mac"])
def test_a_request_the_plugins_ignore_fails_the_add_and_leaves_nothing(rt: Runtime, asked: str) -> None:
    ignored_request_fails_cleanly(rt, asked)


def test_cni_args_reach_every_plugin_of_the_list_and_the_annotation_wins(rt: Runtime) -> None:
    record = rt.root / "record.jsonl"
    net = rt.bridge_net(
        "with-args",
        default_route=False,
        after=[recorder(record, args={"cni": {"from-nad": "kept", "both": "nad"}})],
    )
    rt.nad("with-args", net.config)
    rt.pod([{"name": "with-args", "cni-args": {"both": "pod", "from-pod": ["any", "json"]}}])

    rt.add()

    expected = {"from-nad": "kept", "both": "pod", "from-pod": ["any", "json"]}
    (added,) = records(record, "ADD")
    assert added["stdin"]["args"]["cni"] == expected
    config = json.loads(rt.cache_file().read_text())["attachments"][1]["config"]
    assert config["plugins"][0]["args"]["cni"] == {"both": "pod", "from-pod": ["any", "json"]}  # bridge too
    rt.delete()
    (deleted,) = records(record, "DEL")
    assert deleted["stdin"]["args"]["cni"] == expected
    assert rt.leftovers() == []


@pytest.mark.parametrize("lost_before_del", ["nothing", "result cache", "attachment record"])
def test_port_mappings_and_bandwidth_reach_only_the_plugins_that_declare_them(
    rt: Runtime, lost_before_del: str
) -> None:
    record = rt.root / "record.jsonl"
    host_port = free_host_port()
    net = rt.bridge_net(
        "shaped",
        default_route=False,
        after=[
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "bandwidth", "capabilities": {"bandwidth": True}},
            recorder(record, capabilities={"portMappings": True}),
        ],
    )
    rt.nad("shaped", net.config)
    mapping = {"hostPort": host_port, "containerPort": 8080, "protocol": "UDP"}
    bandwidth = {
        "ingressRate": 8_000_000,
        "ingressBurst": 800_000,
        "egressRate": 8_000_000,
        "egressBurst": 800_000,
    }
    box = rt.pod([{"name": "shaped", "portMappings": [mapping], "bandwidth": bandwidth}])
    # The bandwidth plugin names its egress device after the network and the container.
    ifb = ("bwp" + hashlib.sha512(f"shaped{box.container_id}".encode()).hexdigest())[:15]

    rt.add()

    assert any(f"--dports {host_port}" in rule for rule in nat_rules(box.container_id))
    assert host_link_exists(ifb)
    (added,) = records(record, "ADD")
    wanted = {"portMappings": [{"hostPort": host_port, "containerPort": 8080, "protocol": "udp"}]}
    assert added["stdin"]["runtimeConfig"] == wanted
    address_in(rt.links()["net1"], net)
    # DEL gets the port mappings from either cache alone: the runtime does not know this attachment's
    # requests, and without them portmap and bandwidth could not find what to remove.
    if lost_before_del == "result cache":
        for path in rt.result_cache_files():
            path.unlink()
    elif lost_before_del == "attachment record":
        rt.cache_file().unlink()
    rt.delete()
    (deleted,) = records(record, "DEL")
    assert deleted["stdin"]["runtimeConfig"] == wanted
    assert not host_link_exists(ifb)
    assert rt.leftovers() == []


def host_link_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def test_several_requested_ips_all_reach_static_ipam_and_the_status(rt: Runtime, veth_master: str) -> None:
    first, second = next_subnet(), next_subnet()
    addresses = [f"{first.network_address + 9}/24", f"{second.network_address + 9}/24"]
    macvlan = {
        "type": "macvlan",
        "master": veth_master,
        "capabilities": {"ips": True},
        "ipam": {"type": "static"},
    }
    rt.nad("two-addresses", {"cniVersion": "1.1.0", "plugins": [macvlan]})
    rt.pod([{"name": "two-addresses", "ips": addresses}])

    rt.add()

    assert sorted(rt.links()["net1"].addresses) == sorted(addresses)
    status = rt.network_status()
    assert status is not None
    assert status[1]["ips"] == [str(ipaddress.ip_interface(a).ip) for a in addresses]
    rt.delete()
    assert rt.leftovers() == []


def test_runtime_config_from_the_runtime_reaches_only_the_cluster_network(rt: Runtime) -> None:
    cluster_record, blue_record = rt.root / "cluster.jsonl", rt.root / "blue.jsonl"
    rt.cluster.config["plugins"] += [
        {"type": "portmap", "capabilities": {"portMappings": True}},
        recorder(
            cluster_record, capabilities={"portMappings": True, "io.kubernetes.cri.pod-annotations": True}
        ),
    ]
    rt.write_conf("10-cluster.conflist", rt.cluster.config)
    blue = rt.bridge_net(
        "blue", default_route=False, after=[recorder(blue_record, capabilities={"portMappings": True})]
    )
    rt.nad("blue", blue.config)
    box = rt.pod("blue")
    host_port = free_host_port()
    # What containerd adds for a pod with a hostPort: each key only reaches plugins that declare it.
    runtime_config = {
        "portMappings": [{"hostPort": host_port, "containerPort": 80, "protocol": "tcp"}],
        "io.kubernetes.cri.pod-annotations": {"team": "a"},
    }
    config = rt.multus_config(runtimeConfig=runtime_config)

    rt.add(config=config)

    assert any(f"--dports {host_port}" in rule for rule in nat_rules(box.container_id))
    assert records(cluster_record, "ADD")[0]["stdin"]["runtimeConfig"] == runtime_config
    assert "runtimeConfig" not in records(blue_record, "ADD")[0]["stdin"]
    rt.delete(config=config)
    assert records(cluster_record, "DEL")[0]["stdin"]["runtimeConfig"] == runtime_config
    assert rt.leftovers() == []


def test_resource_name_gives_each_attachment_its_own_allocated_device(rt: Runtime) -> None:
    record = rt.root / "record.jsonl"
    resource, devices = "example.com/sriov", ["0000:03:00.2", "0000:03:00.3"]
    net = rt.bridge_net(
        "sriov", default_route=False, after=[recorder(record, capabilities={"deviceID": True})]
    )
    rt.nad("sriov", net.config, annotations={"k8s.v1.cni.cncf.io/resourceName": resource})
    box = rt.pod("sriov,sriov")
    checkpoint = rt.root / "kubelet_internal_checkpoint"  # as the kubelet's device manager writes it
    entry = {
        "PodUID": box.pod_uid,
        "ContainerName": "c",
        "ResourceName": resource,
        "DeviceIDs": {"0": devices},
    }
    checkpoint.write_text(json.dumps({"Data": {"PodDeviceEntries": [entry]}, "Checksum": 0}))
    config = rt.multus_config(deviceCheckpointFile=str(checkpoint))

    rt.add(config=config)

    added = [run["stdin"] for run in records(record, "ADD")]
    assert [(stdin["deviceID"], stdin["pciBusID"], stdin["runtimeConfig"]) for stdin in added] == [
        (device, device, {"deviceID": device}) for device in devices
    ]
    status = rt.network_status()
    assert status is not None
    assert [entry["device-info"]["type"] for entry in status[1:]] == ["pci", "pci"]
    assert [entry["device-info"]["pci"]["pci-address"] for entry in status[1:]] == devices
    rt.delete(config=config)
    assert rt.leftovers() == []


def test_infiniband_guid_and_device_id_of_the_annotation_reach_declaring_plugins(rt: Runtime) -> None:
    declaring, silent = rt.root / "declaring.jsonl", rt.root / "silent.jsonl"
    capabilities = {"infinibandGUID": True, "deviceID": True}
    net = rt.bridge_net(
        "ib", default_route=False, after=[recorder(declaring, capabilities=capabilities), recorder(silent)]
    )
    rt.nad("ib", net.config)
    guid, device = "c2:11:22:33:44:55:66:77", "0000:af:00.1"
    rt.pod([{"name": "ib", "infiniband-guid": guid, "deviceID": device}])

    rt.add()

    (seen,), (unseen,) = records(declaring, "ADD"), records(silent, "ADD")
    assert seen["stdin"]["runtimeConfig"] == {"infinibandGUID": guid, "deviceID": device}
    assert "runtimeConfig" not in unseen["stdin"]
    assert seen["stdin"]["deviceID"] == unseen["stdin"]["deviceID"] == device  # in the config, like upstream
    status = rt.network_status()
    assert status is not None
    assert status[1]["device-info"]["pci"]["pci-address"] == device
    rt.delete()
    assert rt.leftovers() == []
