"""`k8s.v1.cni.cncf.io/network-status`: entries from CNI results, the JSON written, and reading it back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multus.cni.errors import DecodeFailure, InvalidAnnotation
from multus.cni.results import DNS
from multus.k8s.constants import NETWORK_STATUS_ANNOTATION
from multus.k8s.device_info import DeviceInfo, PciDevice
from multus.k8s.status import NetworkStatus, format_network_status, parse_network_status, statuses_from_result

BRIDGE_RESULT: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "cni0", "mac": "aa:aa:aa:aa:aa:aa"},
        {"name": "veth1234", "mac": "bb:bb:bb:bb:bb:bb"},
        {"name": "eth0", "mac": "cc:cc:cc:cc:cc:cc", "mtu": 1450, "sandbox": "/var/run/netns/cni-1"},
    ],
    "ips": [
        {"address": "10.244.0.5/24", "gateway": "10.244.0.1", "interface": 2},
        {"address": "fd00::5/64", "interface": 2},
        {"address": "10.244.0.1/24", "interface": 0},
    ],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.0.1"}, {"dst": "10.96.0.0/12", "gw": "10.244.0.1"}],
    "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]},
}


def test_bridge_result_gives_one_entry_for_the_sandbox_interface() -> None:
    entries = statuses_from_result(BRIDGE_RESULT, network="cbr0", interface="eth0", default=True)
    assert entries == [
        NetworkStatus(
            name="cbr0",
            interface="eth0",
            ips=("10.244.0.5", "fd00::5"),
            mac="cc:cc:cc:cc:cc:cc",
            mtu=1450,
            default=True,
            dns=DNS(nameservers=("10.96.0.10",), search=("svc.cluster.local",)),
            gateway=("10.244.0.1",),
        )
    ]


def test_json_shape_of_a_cluster_network_entry() -> None:
    (entry,) = statuses_from_result(BRIDGE_RESULT, network="cbr0", interface="eth0", default=True)
    assert json.loads(format_network_status([entry])) == [
        {
            "name": "cbr0",
            "interface": "eth0",
            "ips": ["10.244.0.5", "fd00::5"],
            "mac": "cc:cc:cc:cc:cc:cc",
            "mtu": 1450,
            "default": True,
            "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]},
            "gateway": ["10.244.0.1"],
        }
    ]
    assert list(entry.to_json()) == ["name", "interface", "ips", "mac", "mtu", "default", "dns", "gateway"]


def test_json_shape_of_an_extra_network_entry_omits_default_and_keeps_empty_dns() -> None:
    result = {
        "interfaces": [{"name": "net1", "mac": "dd:dd:dd:dd:dd:dd", "sandbox": "/var/run/netns/x"}],
        "ips": [{"address": "192.168.1.5/24", "interface": 0}],
    }
    device = DeviceInfo(type="pci", pci=PciDevice(pci_address="0000:3b:00.2"))
    entries = statuses_from_result(
        result, network="nets/sriov", interface="net1", default=False, device_info=device
    )
    assert format_network_status(entries) == (
        '[{"name":"nets/sriov","interface":"net1","ips":["192.168.1.5"],"mac":"dd:dd:dd:dd:dd:dd","dns":{},'
        '"device-info":{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:3b:00.2"}}}]'
    )


def test_result_without_interfaces_gives_one_entry_with_the_requested_name_and_every_address() -> None:
    result = {"ips": [{"address": "10.1.1.5/24"}, {"address": "10.1.2.5/24", "interface": 3}]}
    assert statuses_from_result(result, network="nets/ipvlan", interface="net2", default=False) == [
        NetworkStatus("nets/ipvlan", "net2", ("10.1.1.5", "10.1.2.5"))
    ]


def test_result_with_only_host_interfaces_is_treated_like_no_interfaces() -> None:
    result = {"interfaces": [{"name": "host0"}], "ips": [{"address": "10.1.1.5/24", "interface": 0}]}
    assert statuses_from_result(result, network="n", interface="net1", default=False) == [
        NetworkStatus("n", "net1", ("10.1.1.5",))
    ]


def test_empty_result_still_gives_an_entry() -> None:
    assert statuses_from_result({}, network="n", interface="net1", default=True) == [
        NetworkStatus("n", "net1", default=True)
    ]


def test_several_sandbox_interfaces_give_one_entry_each() -> None:
    result = {
        "interfaces": [
            {"name": "net1", "mac": "11:11:11:11:11:11", "sandbox": "/ns"},
            {"name": "host-side"},
            {"name": "net1b", "mac": "22:22:22:22:22:22", "sandbox": "/ns"},
        ],
        "ips": [
            {"address": "10.0.0.2/24", "interface": 2},
            {"address": "10.0.1.2/24", "interface": 0},
            {"address": "10.0.9.9/24"},
            {"address": "10.0.5.5/24", "interface": 1},
            {"address": "10.0.7.7/24", "interface": 9},
        ],
        "routes": [{"dst": "::/0", "gw": "fd00::1"}, {"dst": "0.0.0.0/0"}],
    }
    entries = statuses_from_result(result, network="nets/multi", interface="net1b", default=True)
    assert [(e.interface, e.ips, e.default, e.gateway) for e in entries] == [
        ("net1", ("10.0.1.2",), False, ("fd00::1",)),
        # The entry with the requested name is primary: unindexed addresses and the default mark go there.
        ("net1b", ("10.0.0.2", "10.0.9.9"), True, ("fd00::1",)),
    ]


def test_primary_entry_falls_back_to_the_first_sandbox_interface() -> None:
    result = {
        "interfaces": [{"name": "a", "sandbox": "/ns"}, {"name": "b", "sandbox": "/ns"}],
        "ips": [{"address": "10.0.9.9/24"}],
    }
    entries = statuses_from_result(result, network="n", interface="other", default=True)
    assert [(e.interface, e.ips, e.default) for e in entries] == [
        ("a", ("10.0.9.9",), True),
        ("b", (), False),
    ]


def test_default_routes_are_found_by_prefix_length_not_by_shape() -> None:
    result = {
        "routes": [
            {"dst": "0.0.0.0/0", "gw": "10.0.0.1"},
            {"dst": "::/0", "gw": "FD00:0::1"},
            {"dst": "10.0.0.0/8", "gw": "10.0.0.254"},
            {"dst": "0.0.0.0/0", "gw": ""},
            {"dst": "::/0"},
        ]
    }
    (entry,) = statuses_from_result(result, network="n", interface="net1", default=False)
    assert entry.gateway == ("10.0.0.1", "fd00::1")


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"interfaces": "x"}, "interfaces: "),
        ({"ips": [{"address": "10.0.0.1/40"}]}, "ips[0].address: "),
        ({"ips": [{}]}, "ips[0].address: Field required"),
        ({"routes": [{"dst": "nowhere"}]}, "routes[0].dst: "),
        ({"routes": [{"dst": "0.0.0.0/0", "gw": "x"}]}, "routes[0].gw: "),
        ({"dns": []}, "dns: "),
    ],
)
def test_malformed_results_are_a_decode_failure_naming_network_and_field(
    result: dict[str, Any], problem: str
) -> None:
    with pytest.raises(DecodeFailure) as caught:
        statuses_from_result(result, network="nets/x", interface="net1", default=False)
    assert str(caught.value).startswith("network nets/x: the CNI result ")
    assert problem in str(caught.value)


def test_format_of_no_entries_is_an_empty_list() -> None:
    assert format_network_status([]) == "[]"


@pytest.mark.parametrize("value", [None, "", "  "])
def test_absent_status_reads_as_no_entries(value: str | None) -> None:
    assert parse_network_status(value) == []


def test_upstream_multus_output_is_read() -> None:
    value = """[{
        "name": "cbr0",
        "interface": "eth0",
        "ips": ["10.244.1.7"],
        "mac": "0a:58:0a:f4:01:07",
        "default": true,
        "dns": {}
    },{
        "name": "default/macvlan-conf",
        "interface": "net1",
        "ips": ["192.168.1.200"],
        "mac": "a6:1b:aa:4c:3d:cf",
        "dns": {},
        "gateway": ["192.168.1.1"],
        "device-info": {"type": "pci", "version": "1.0.0", "pci": {"pci-address": "0000:18:02.5"}}
    }]"""
    assert parse_network_status(value) == [
        NetworkStatus("cbr0", "eth0", ("10.244.1.7",), "0a:58:0a:f4:01:07", default=True),
        NetworkStatus(
            "default/macvlan-conf",
            "net1",
            ("192.168.1.200",),
            "a6:1b:aa:4c:3d:cf",
            gateway=("192.168.1.1",),
            device_info=DeviceInfo("pci", "1.0.0", pci=PciDevice(pci_address="0000:18:02.5")),
        ),
    ]


def test_other_tools_entries_are_tolerated_and_their_keys_kept() -> None:
    value = json.dumps(
        [{"name": "ovn", "interface-spec": [{"x": 1}], "dns": {"domain": "d"}}, {"interface": "x"}]
    )
    entries = parse_network_status(value)
    assert entries == [
        NetworkStatus("ovn", dns=DNS(domain="d"), extra={"interface-spec": [{"x": 1}]}),
        NetworkStatus("", "x"),
    ]
    assert json.loads(format_network_status(entries)) == [
        {"name": "ovn", "dns": {"domain": "d"}, "interface-spec": [{"x": 1}]},
        {"name": "", "interface": "x", "dns": {}},
    ]


def test_extra_keys_never_override_known_fields() -> None:
    entry = NetworkStatus("n", "net1", extra={"interface": "spoof", "x": 1})
    assert entry.to_json() == {"name": "n", "interface": "net1", "dns": {}, "x": 1}


def test_our_output_round_trips() -> None:
    entries = [
        *statuses_from_result(BRIDGE_RESULT, network="cbr0", interface="eth0", default=True),
        NetworkStatus(
            "nets/a",
            "net1",
            ("10.0.0.2",),
            device_info=DeviceInfo("pci", pci=PciDevice(pci_address="0000:00:01.0")),
        ),
    ]
    assert parse_network_status(format_network_status(entries)) == entries


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{", "not valid JSON"),
        ('{"name": "a"}', "must be a JSON list"),
        ('["a"]', "entry 0 must be a JSON object"),
        ('[{"name": 1}]', 'entry 0: "name" must be a string'),
        ('[{"name": "a"}, {"ips": "10.0.0.1"}]', 'entry 1: "ips" must be a list'),
        ('[{"default": "true"}]', '"default" must be true or false'),
        ('[{"mtu": "1500"}]', '"mtu" must be an integer'),
        ('[{"dns": {"nameservers": "x"}}]', '"dns.nameservers" must be a list'),
        ('[{"device-info": {"pci": {"pci-address": 1}}}]', '"device-info.pci.pci-address" must be a string'),
    ],
)
def test_malformed_status_is_refused_naming_entry_and_field(value: str, problem: str) -> None:
    with pytest.raises(InvalidAnnotation) as caught:
        parse_network_status(value)
    assert str(caught.value).startswith(f"{NETWORK_STATUS_ANNOTATION}: ")
    assert problem in str(caught.value)


def test_default_route_without_gw_goes_through_the_address_gateway_of_its_family() -> None:
    result = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
        "ips": [
            {"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0},
            {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 0},
        ],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.9.0.0/16"}],
    }
    (entry,) = statuses_from_result(result, network="cluster", interface="eth0", default=True)
    assert entry.gateway == ("10.1.0.1",)


def test_odd_but_readable_results_give_what_they_can() -> None:
    """The result parser is the CNI layer's: lenient where a plugin's output is odd but usable."""
    result = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "net1", "mtu": -1, "sandbox": "/var/run/netns/x"}],
        "ips": [{"address": "10.0.0.5/24", "interface": 0}, {"address": "10.0.0.6/24", "interface": -1}],
    }
    (entry,) = statuses_from_result(result, network="n", interface="net1", default=False)
    assert entry.ips == ("10.0.0.5",)  # an address with no interface of the pod is not the pod's
    assert entry.mtu is None  # a negative MTU is no MTU
