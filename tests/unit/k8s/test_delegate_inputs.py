"""From a selection to what its delegate gets: runtimeConfig, CNI_ARGS, cni-args, device, capabilities."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from multus.cni.errors import InvalidConfig, UnsupportedField
from multus.cni.results import Result, parse_result
from multus.k8s.delegate_inputs import (
    capability_args,
    check_capabilities,
    check_requests_met,
    declared_capabilities,
    extra_cni_args,
    missing_capabilities,
    requested_capabilities,
    with_cni_args,
    with_device_id,
)
from multus.k8s.selection import Bandwidth, NetworkSelection, PortMapping

PLAIN = NetworkSelection("a", "ns")
FULL = NetworkSelection(
    "a",
    "ns",
    ips=("10.1.1.5/24", "fd00::5"),
    mac="ca:fe:00:00:00:01",
    infiniband_guid="c2:11:22:33:44:55:66:77",
    port_mappings=(PortMapping(8080, 80, "udp", "192.0.2.1"), PortMapping(9090, 90)),
    bandwidth=Bandwidth(1, 2, 3, 4),
    device_id="0000:00:1f.6",
)


def test_plain_selection_asks_for_nothing() -> None:
    assert capability_args(PLAIN) == {}
    assert extra_cni_args(PLAIN) == []
    assert requested_capabilities(PLAIN) == frozenset()


def test_every_request_maps_to_its_runtime_config_key() -> None:
    assert capability_args(FULL) == {
        "ips": ["10.1.1.5/24", "fd00::5"],
        "mac": "ca:fe:00:00:00:01",
        "infinibandGUID": "c2:11:22:33:44:55:66:77",
        "portMappings": [
            {"hostPort": 8080, "containerPort": 80, "protocol": "udp", "hostIP": "192.0.2.1"},
            {"hostPort": 9090, "containerPort": 90, "protocol": "tcp"},
        ],
        "bandwidth": {"ingressRate": 1, "ingressBurst": 2, "egressRate": 3, "egressBurst": 4},
        "deviceID": "0000:00:1f.6",
    }


def test_allocated_device_wins_over_the_annotation_device() -> None:
    assert capability_args(FULL, device_id="0000:3b:00.2")["deviceID"] == "0000:3b:00.2"
    assert capability_args(PLAIN, device_id="0000:3b:00.2") == {"deviceID": "0000:3b:00.2"}


def test_allocated_device_is_not_a_request_of_the_pod() -> None:
    config = {"type": "sriov"}
    assert requested_capabilities(PLAIN) == frozenset()
    check_capabilities(PLAIN, config)


def test_ip_and_mac_also_go_to_cni_args() -> None:
    assert extra_cni_args(FULL) == [("IP", "10.1.1.5/24,fd00::5"), ("MAC", "ca:fe:00:00:00:01")]


def test_declared_capabilities_of_a_single_config_and_a_list() -> None:
    single = {"type": "macvlan", "capabilities": {"ips": True, "mac": True, "bandwidth": False}}
    assert declared_capabilities(single) == {"ips", "mac"}
    conflist = {
        "name": "chain",
        "plugins": [
            {"type": "macvlan", "capabilities": {"ips": True}},
            {"type": "tuning"},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "bandwidth", "capabilities": {"bandwidth": "yes"}},
        ],
    }
    assert declared_capabilities(conflist) == {"ips", "portMappings"}


def test_missing_capabilities_and_the_error_naming_them() -> None:
    config = {"type": "macvlan", "capabilities": {"ips": True}}
    assert missing_capabilities(FULL, config) == {"infinibandGUID", "portMappings", "bandwidth", "deviceID"}
    with pytest.raises(UnsupportedField) as caught:
        check_capabilities(
            NetworkSelection("a", "ns", infiniband_guid="c2:11:22:33:44:55:66:77", bandwidth=Bandwidth()),
            {"type": "x"},
        )
    assert str(caught.value) == (
        'network ns/a: the pod requests "bandwidth" (capability bandwidth), "infiniband-guid" (capability '
        'infinibandGUID), but no plugin of the network\'s config declares it in "capabilities"'
    )
    assert caught.value.code == 2


def test_ips_and_mac_need_no_declared_capability_they_go_through_cni_args() -> None:
    """As upstream: static IPAM, host-local, bridge, macvlan and tuning read IP=/MAC= from CNI_ARGS."""
    selection = NetworkSelection("a", "ns", ips=("10.1.1.5/24",), mac="ca:fe:00:00:00:01")
    assert missing_capabilities(selection, {"type": "macvlan", "ipam": {"type": "static"}}) == frozenset()
    check_capabilities(selection, {"type": "macvlan"})
    assert capability_args(selection) == {"ips": ["10.1.1.5/24"], "mac": "ca:fe:00:00:00:01"}
    assert extra_cni_args(selection) == [("IP", "10.1.1.5/24"), ("MAC", "ca:fe:00:00:00:01")]


def result_with(*addresses: str) -> Result:
    return parse_result({"cniVersion": "1.1.0", "ips": [{"address": address} for address in addresses]})


@pytest.mark.parametrize(
    "selection",
    [
        PLAIN,
        NetworkSelection("a", "ns", ips=("10.1.1.5/24", "fd00::5")),  # with and without a prefix
        NetworkSelection("a", "ns", ips=("10.1.1.5/16",)),  # addresses are compared, not prefixes
        NetworkSelection("a", "ns", mac="ca:fe:00:00:00:01"),
    ],
)
def test_requests_met(selection: NetworkSelection) -> None:
    check_requests_met(selection, "net1", result_with("10.1.1.5/24", "fd00::5/64"), "CA:FE:00:00:00:01")


def test_requests_not_met_name_the_network_what_was_asked_and_what_was_given() -> None:
    selection = NetworkSelection("a", "ns", ips=("10.1.1.5/24", "10.1.1.6"), mac="ca:fe:00:00:00:01")

    with pytest.raises(UnsupportedField) as caught:
        check_requests_met(selection, "net1", result_with("10.1.1.5/24", "10.9.0.2/24"), "0a:58:00:00:00:02")

    assert str(caught.value) == (
        "network ns/a (net1): the delegates did not honour the pod's request: "
        '"ips" asks for 10.1.1.5/24, 10.1.1.6 and the result has 10.1.1.5/24, 10.9.0.2/24; '
        '"mac" asks for ca:fe:00:00:00:01 and net1 has 0a:58:00:00:00:02'
    )
    assert caught.value.code == 2
    with pytest.raises(
        UnsupportedField, match=r'"ips" asks for 10\.1\.1\.5/24 and the result has no address$'
    ):
        check_requests_met(NetworkSelection("a", "ns", ips=("10.1.1.5/24",)), "net1", result_with(), None)
    with pytest.raises(UnsupportedField, match=r"net1 has no MAC$"):
        check_requests_met(NetworkSelection("a", "ns", mac="ca:fe:00:00:00:01"), "net1", result_with(), None)


def test_capabilities_declared_anywhere_in_the_list_satisfy_the_request() -> None:
    config = {
        "plugins": [
            {"type": "bridge", "capabilities": {"ips": True}},
            {"type": "tuning", "capabilities": {"mac": True}},
        ]
    }
    check_capabilities(NetworkSelection("a", "ns", ips=("10.0.0.2",), mac="ca:fe:00:00:00:01"), config)


def test_malformed_capabilities_are_an_invalid_config() -> None:
    with pytest.raises(InvalidConfig, match=r"plugin 0 \(macvlan\): 'capabilities' must be an object"):
        declared_capabilities({"type": "macvlan", "capabilities": ["ips"]})


def test_cni_args_merge_into_every_plugin_and_the_annotation_wins() -> None:
    config: dict[str, Any] = {
        "name": "chain",
        "plugins": [
            {"type": "bridge"},
            {"type": "tuning", "args": {"cni": {"keep": 1, "over": "config"}, "other": True}},
            {"type": "portmap", "args": {"cni": None}},
        ],
    }
    original = copy.deepcopy(config)
    merged = with_cni_args(config, {"over": "pod", "new": [1]})
    assert merged["plugins"] == [
        {"type": "bridge", "args": {"cni": {"over": "pod", "new": [1]}}},
        {"type": "tuning", "args": {"cni": {"keep": 1, "over": "pod", "new": [1]}, "other": True}},
        {"type": "portmap", "args": {"cni": {"over": "pod", "new": [1]}}},
    ]
    assert config == original
    merged["plugins"][0]["args"]["cni"]["new"].append(2)
    assert merged["plugins"][1]["args"]["cni"]["new"] == [1]


def test_cni_args_merge_into_a_single_config() -> None:
    assert with_cni_args({"type": "macvlan"}, {"a": "b"}) == {"type": "macvlan", "args": {"cni": {"a": "b"}}}


@pytest.mark.parametrize("cni_args", [None, {}])
def test_no_cni_args_leaves_the_config_alone(cni_args: dict[str, Any] | None) -> None:
    assert with_cni_args({"type": "macvlan"}, cni_args) == {"type": "macvlan"}


@pytest.mark.parametrize(
    ("plugin", "problem"),
    [
        ({"type": "x", "args": "a=b"}, r"plugin 0 \(x\): 'args' must be an object"),
        ({"type": "x", "args": {"cni": []}}, r"plugin 0 \(x\): 'args': 'cni' must be an object"),
    ],
)
def test_cni_args_into_a_malformed_args_is_an_invalid_config(plugin: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidConfig, match=problem):
        with_cni_args(plugin, {"a": 1})


def test_device_id_goes_into_every_plugin_under_both_keys() -> None:
    config = {"name": "n", "plugins": [{"type": "sriov"}, {"type": "tuning"}]}
    assert with_device_id(config, "0000:3b:00.2")["plugins"] == [
        {"type": "sriov", "deviceID": "0000:3b:00.2", "pciBusID": "0000:3b:00.2"},
        {"type": "tuning", "deviceID": "0000:3b:00.2", "pciBusID": "0000:3b:00.2"},
    ]
    assert config["plugins"] == [{"type": "sriov"}, {"type": "tuning"}]
    assert with_device_id({"type": "host-device"}, "0000:3b:00.2") == {
        "type": "host-device",
        "deviceID": "0000:3b:00.2",
        "pciBusID": "0000:3b:00.2",
    }
