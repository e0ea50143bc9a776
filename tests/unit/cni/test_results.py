"""Results of every version: decoding, the wire forms, and conversions up and down."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multus.cni import (
    DNS,
    SUPPORTED_VERSIONS,
    DecodeFailure,
    IncompatibleVersion,
    Interface,
    IPConfig,
    Result,
    Route,
    parse_result,
    parse_version,
)

small = st.integers(min_value=0, max_value=2**16)
words = st.text(alphabet="abcdefghij.-", min_size=1, max_size=12)
v4 = st.builds(ipaddress.IPv4Interface, st.tuples(st.ip_addresses(v=4), st.integers(0, 32)))
v6 = st.builds(ipaddress.IPv6Interface, st.tuples(st.ip_addresses(v=6), st.integers(0, 128)))
addresses = st.one_of(v4, v6)


def _gateway_like(address: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), st.ip_addresses(v=address.version))


ips = addresses.flatmap(
    lambda address: st.builds(
        IPConfig, st.just(address), _gateway_like(address), st.one_of(st.none(), st.integers(0, 3))
    )
)
routes = addresses.flatmap(
    lambda dst: st.builds(
        Route,
        st.just(dst),
        _gateway_like(dst),
        *[st.one_of(st.none(), small) for _ in range(5)],
    )
)
interfaces = st.builds(
    Interface,
    words,
    st.sampled_from(["", "0a:58:0a:f4:00:05"]),
    st.sampled_from(["", "/var/run/netns/cni-1"]),
    st.one_of(st.none(), st.integers(68, 9000)),
    st.sampled_from(["", "/run/vhost.sock"]),
    st.sampled_from(["", "0000:3b:00.1"]),
)
dns = st.builds(
    DNS,
    st.lists(st.ip_addresses().map(str), max_size=2).map(tuple),
    st.one_of(st.just(""), words),
    st.lists(words, max_size=2).map(tuple),
    st.lists(words, max_size=2).map(tuple),
)
richest_results = st.builds(
    Result,
    st.just("1.1.0"),
    st.lists(interfaces, max_size=3).map(tuple),
    st.lists(ips, max_size=4).map(tuple),
    st.lists(routes, max_size=4).map(tuple),
    dns,
)
versions = st.sampled_from(SUPPORTED_VERSIONS)


@given(richest_results, versions)
def test_wire_form_decodes_to_the_same_result(result: Result, version: str) -> None:
    converted = result.convert_to(version)
    wire = json.loads(json.dumps(converted.to_dict()))
    assert parse_result(wire) == converted


@given(richest_results, versions, versions)
def test_up_then_down_keeps_everything_the_lower_version_holds(result: Result, low: str, high: str) -> None:
    low, high = sorted((low, high), key=parse_version)
    lower = result.convert_to(low)
    assert lower.convert_to(high).convert_to(low) == lower


@given(richest_results, versions)
def test_down_conversion_only_drops(result: Result, version: str) -> None:
    lower = result.convert_to(version)
    assert lower.dns == result.dns
    assert len(lower.ips) <= len(result.ips)
    for ip in lower.ips:
        assert ip.address in [original.address for original in result.ips]
    for route in lower.routes:
        assert (route.dst, route.gw) in [(original.dst, original.gw) for original in result.routes]
    if parse_version(version) >= (0, 3, 0):
        assert lower.ips == result.ips
        assert [link.name for link in lower.interfaces] == [link.name for link in result.interfaces]
        assert [(r.dst, r.gw) for r in lower.routes] == [(r.dst, r.gw) for r in result.routes]


def _sample() -> Result:
    return Result(
        "1.1.0",
        interfaces=(
            Interface("br0", mac="aa:bb:cc:00:00:01"),
            Interface(
                "eth0", mac="aa:bb:cc:00:00:02", sandbox="/var/run/netns/x", mtu=1400, pci_id="0000:01"
            ),
        ),
        ips=(
            IPConfig(
                ipaddress.ip_interface("10.230.0.5/24"), ipaddress.ip_address("10.230.0.1"), interface=1
            ),
            IPConfig(ipaddress.ip_interface("10.230.9.5/24"), interface=1),
            IPConfig(ipaddress.ip_interface("fd00:230::5/64"), interface=1),
        ),
        routes=(
            Route(ipaddress.ip_interface("::/0"), ipaddress.ip_address("fd00:230::1")),
            Route(
                ipaddress.ip_interface("0.0.0.0/0"), ipaddress.ip_address("10.230.0.1"), mtu=1300, table=100
            ),
        ),
        dns=DNS(nameservers=("10.230.0.53",), search=("svc.cluster.local",)),
    )


def test_legacy_form_keeps_the_first_address_of_each_family() -> None:
    assert _sample().convert_to("0.2.0").to_dict() == {
        "cniVersion": "0.2.0",
        "ip4": {
            "ip": "10.230.0.5/24",
            "gateway": "10.230.0.1",
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.230.0.1"}],
        },
        "ip6": {"ip": "fd00:230::5/64", "routes": [{"dst": "::/0", "gw": "fd00:230::1"}]},
        "dns": {"nameservers": ["10.230.0.53"], "search": ["svc.cluster.local"]},
    }


def test_legacy_routes_need_an_address_of_their_family() -> None:
    only_v4 = replace(_sample(), ips=_sample().ips[:1])
    assert "ip6" not in only_v4.convert_to("0.1.0").to_dict()
    assert [route.family for route in only_v4.convert_to("0.1.0").routes] == [4]


def test_04_form_has_ip_versions_and_no_11_fields() -> None:
    wire = _sample().convert_to("0.4.0").to_dict()
    assert wire["interfaces"][1] == {
        "name": "eth0",
        "mac": "aa:bb:cc:00:00:02",
        "sandbox": "/var/run/netns/x",
    }
    assert [ip["version"] for ip in wire["ips"]] == ["4", "4", "6"]
    assert wire["routes"][1] == {"dst": "0.0.0.0/0", "gw": "10.230.0.1"}
    assert "version" not in _sample().convert_to("1.0.0").to_dict()["ips"][0]


def test_11_form_has_link_and_route_details() -> None:
    wire = _sample().to_dict()
    assert wire["interfaces"][1] == {
        "name": "eth0",
        "mac": "aa:bb:cc:00:00:02",
        "mtu": 1400,
        "sandbox": "/var/run/netns/x",
        "pciID": "0000:01",
    }
    assert wire["routes"][1] == {"dst": "0.0.0.0/0", "gw": "10.230.0.1", "mtu": 1300, "table": 100}


def test_legacy_result_converts_up() -> None:
    legacy = {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.230.1.5/24", "gateway": "10.230.1.1", "routes": [{"dst": "0.0.0.0/0"}]},
        "ip6": {"ip": "fd00:231::5/64"},
        "dns": {},
    }
    up = parse_result(legacy).convert_to("1.0.0").to_dict()
    assert up == {
        "cniVersion": "1.0.0",
        "ips": [{"address": "10.230.1.5/24", "gateway": "10.230.1.1"}, {"address": "fd00:231::5/64"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {},
    }


def test_go_style_empty_values_and_missing_version() -> None:
    result = parse_result(
        b'{"ips": [{"version": "4", "address": "10.230.2.5/24", "gateway": ""}],'
        b' "routes": null, "dns": null}',
        default_version="0.3.1",
    )
    assert result == Result("0.3.1", ips=(IPConfig(ipaddress.ip_interface("10.230.2.5/24")),))


def test_route_dst_keeps_host_bits_and_default_routes_are_found_by_prefix() -> None:
    result = parse_result({"cniVersion": "1.0.0", "routes": [{"dst": "10.230.3.7/24"}, {"dst": "::/0"}]})
    assert result.to_dict()["routes"][0] == {"dst": "10.230.3.7/24"}
    assert [route.is_default for route in result.routes] == [False, True]


@pytest.mark.parametrize(
    ("wire", "field"),
    [
        ({"cniVersion": "1.0.0", "ips": [{"address": "10.230.0.5"}]}, "ips[0].address"),
        ({"cniVersion": "1.0.0", "ips": [{"address": "10.230.0.5/24", "gateway": "nope"}]}, "ips[0].gateway"),
        (
            {"cniVersion": "1.0.0", "ips": [{"address": "10.230.0.5/24", "interface": "0"}]},
            "ips[0].interface",
        ),
        ({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "mtu": "1500"}]}, "interfaces[0].mtu"),
        ({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "table": 1.5}]}, "routes[0].table"),
        ({"cniVersion": "0.2.0", "ip4": {"ip": "x/24"}}, "ip4.ip"),
        ({"cniVersion": "1.0.0", "dns": {"nameservers": "10.0.0.1"}}, "dns.nameservers"),
        ({"cniVersion": "1.0.0", "interfaces": {}}, "interfaces"),
    ],
)
def test_decode_errors_name_the_field(wire: dict[str, object], field: str) -> None:
    with pytest.raises(DecodeFailure, match=f"^invalid result: {re.escape(field)}:"):
        parse_result(wire)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (
            {"cniVersion": "1.0.0", "interfaces": [5]},
            "interfaces[0]: Input should be a dictionary or an instance of Interface",
        ),
        ({"cniVersion": "1.0.0", "ips": [{}]}, "ips[0].address: Field required"),
        ({"cniVersion": "1.0.0", "dns": {"search": "a"}}, "dns.search: Input should be a valid tuple"),
        (
            {"cniVersion": "0.2.0", "ip4": 5},
            "ip4: Input should be a valid dictionary or instance of _LegacyIPConfig",
        ),
        (
            {
                "cniVersion": "1.1.0",
                "interfaces": [{"name": None, "socket_path": 5}],
                "routes": [{"dst": "10.0.0.0/8", "mtu": True}],
            },
            "interfaces[0].name: Input should be a valid string; interfaces[0].socket_path: Input should be "
            "a valid string; routes[0].mtu: Input should be a valid integer",
        ),
    ],
)
def test_decode_errors_say_every_problem(wire: dict[str, object], message: str) -> None:
    with pytest.raises(DecodeFailure) as refused:
        parse_result(wire)
    assert refused.value.msg == f"invalid result: {message}"


def test_fields_are_read_under_their_attribute_names_too() -> None:
    wire = {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0", "socket_path": "/s", "pciID": "p"}]}
    assert parse_result(wire).interfaces == (Interface("eth0", socket_path="/s", pci_id="p"),)


@pytest.mark.parametrize(
    "data", [b"not json", b"[1]", b"{}", "\udcff", b"[" * 100_000, b'{"dns": ' + b"[" * 80]
)
def test_undecodable_results(data: bytes | str) -> None:
    with pytest.raises(DecodeFailure):
        parse_result(data)


def test_result_in_an_unknown_version() -> None:
    with pytest.raises(IncompatibleVersion, match=r"result cniVersion '9.9.9'"):
        parse_result({"cniVersion": "9.9.9"})
    with pytest.raises(IncompatibleVersion):
        _sample().convert_to("0.5.0")
