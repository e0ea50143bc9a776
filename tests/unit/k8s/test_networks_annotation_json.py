"""The JSON form of `k8s.v1.cni.cncf.io/networks`: every field, and every way to get one wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multus.cni.errors import InvalidAnnotation
from multus.k8s.annotations import parse_networks_annotation
from multus.k8s.constants import NETWORKS_ANNOTATION
from multus.k8s.selection import Bandwidth, NetworkSelection, PortMapping


def parse_one(element: dict[str, Any], pod_namespace: str = "pods") -> NetworkSelection:
    (selection,) = parse_networks_annotation(json.dumps([element]), pod_namespace)
    return selection


def refusal(value: str) -> str:
    with pytest.raises(InvalidAnnotation) as caught:
        parse_networks_annotation(value, "pods")
    message = str(caught.value)
    assert message.startswith(f"{NETWORKS_ANNOTATION}: ")
    assert "Traceback" not in message
    return message


def refusal_of(element: Any) -> str:
    return refusal(json.dumps([element]))


def test_every_field_is_read() -> None:
    selection = parse_one(
        {
            "name": "macvlan-net",
            "namespace": "other",
            "interface": "mv1",
            "ips": ["10.1.1.5/24", "fd00::5"],
            "mac": "CA-FE-00-00-00-01",
            "infiniband-guid": "C2:11:22:33:44:55:66:77",
            "portMappings": [
                {"hostPort": 8080, "containerPort": 80, "protocol": "udp", "hostIP": "192.0.2.1"},
                {"hostPort": 9090, "containerPort": 90},
            ],
            "bandwidth": {"ingressRate": 1000, "ingressBurst": 2000, "egressRate": 3000, "egressBurst": 4000},
            "cni-args": {"foo": "bar", "nested": {"n": [1, 2]}},
            "default-route": ["10.1.1.1", "fd00::1"],
            "ipam-claim-reference": "claim-1",
            "deviceID": "0000:00:1f.6",
        }
    )
    assert selection == NetworkSelection(
        name="macvlan-net",
        namespace="other",
        interface="mv1",
        ips=("10.1.1.5/24", "fd00::5"),
        mac="ca:fe:00:00:00:01",
        infiniband_guid="c2:11:22:33:44:55:66:77",
        port_mappings=(PortMapping(8080, 80, "udp", "192.0.2.1"), PortMapping(9090, 90, "tcp", None)),
        bandwidth=Bandwidth(1000, 2000, 3000, 4000),
        cni_args={"foo": "bar", "nested": {"n": [1, 2]}},
        default_route=("10.1.1.1", "fd00::1"),
        ipam_claim_reference="claim-1",
        device_id="0000:00:1f.6",
    )
    assert selection.reference == "other/macvlan-net"


def test_minimal_element_defaults_to_the_pod_namespace_and_no_requests() -> None:
    assert parse_one({"name": "a"}, "pods") == NetworkSelection("a", "pods")


def test_empty_list_selects_nothing() -> None:
    assert parse_networks_annotation("[]", "pods") == []


def test_order_and_repeats_are_kept() -> None:
    parsed = parse_networks_annotation('[{"name": "b"}, {"name": "a"}, {"name": "b"}]', "pods")
    assert [selection.name for selection in parsed] == ["b", "a", "b"]


@pytest.mark.parametrize("empty", [None, ""])
def test_null_and_empty_strings_mean_not_requested(empty: str | None) -> None:
    element = {
        "name": "a",
        "namespace": empty,
        "interface": empty,
        "mac": empty,
        "infiniband-guid": empty,
        "ipam-claim-reference": empty,
        "deviceID": empty,
    }
    assert parse_one(element) == NetworkSelection("a", "pods")


def test_null_and_empty_lists_and_objects_mean_not_requested() -> None:
    empties: tuple[None, list[str]] = (None, [])
    for empty in empties:
        element = {"name": "a", "ips": empty, "portMappings": empty, "default-route": empty}
        assert parse_one(element) == NetworkSelection("a", "pods")
    assert parse_one({"name": "a", "cni-args": {}, "bandwidth": None}) == NetworkSelection("a", "pods")
    assert parse_one({"name": "a", "cni-args": None}) == NetworkSelection("a", "pods")


def test_deprecated_interface_request_is_an_alias() -> None:
    assert parse_one({"name": "a", "interfaceRequest": "old1"}).interface == "old1"


def test_interface_wins_over_the_deprecated_alias_as_upstream() -> None:
    assert parse_one({"name": "a", "interface": "new1", "interfaceRequest": "old1"}).interface == "new1"
    assert parse_one({"name": "a", "interface": "", "interfaceRequest": "old1"}).interface == "old1"


def test_name_is_not_split_on_slash() -> None:
    message = refusal_of({"name": "other/a"})
    assert "element 0" in message
    assert "\"name\" 'other/a' is not a DNS-1123 label" in message


def test_protocol_is_case_insensitive_and_lower_cased() -> None:
    mappings = parse_one(
        {
            "name": "a",
            "portMappings": [
                {"hostPort": 1, "containerPort": 1, "protocol": "TCP"},
                {"hostPort": 2, "containerPort": 2, "protocol": "Sctp"},
                {"hostPort": 3, "containerPort": 3, "protocol": ""},
            ],
        }
    ).port_mappings
    assert [mapping.protocol for mapping in mappings] == ["tcp", "sctp", "tcp"]


def test_port_bounds_are_inclusive() -> None:
    mapping = {"hostPort": 65535, "containerPort": 1}
    assert parse_one({"name": "a", "portMappings": [mapping]}).port_mappings == (PortMapping(65535, 1),)


def test_bandwidth_fields_default_to_zero_and_all_zeros_is_no_request() -> None:
    assert parse_one({"name": "a", "bandwidth": {"egressRate": 5}}).bandwidth == Bandwidth(egress_rate=5)
    assert parse_one({"name": "a", "bandwidth": {}}).bandwidth is None
    assert parse_one({"name": "a", "bandwidth": {"ingressRate": 0, "egressBurst": 0}}).bandwidth is None


def test_vendor_keys_are_ignored_silently_and_other_unknown_keys_reported() -> None:
    selection = parse_one({"name": "a", "example.com/speed": "fast", "interfce": "typo", "Name": "x"})
    assert selection.unknown_keys == ("Name", "interfce")
    assert selection.interface is None


def test_unknown_keys_inside_port_mappings_and_bandwidth_are_ignored() -> None:
    selection = parse_one(
        {
            "name": "a",
            "portMappings": [{"hostPort": 1, "containerPort": 2, "extra": True}],
            "bandwidth": {"ingressRate": 1, "extra": True},
        }
    )
    assert selection.port_mappings == (PortMapping(1, 2),)
    assert selection.bandwidth == Bandwidth(ingress_rate=1)


def test_one_gateway_per_family_in_one_element() -> None:
    assert parse_one({"name": "a", "default-route": ["10.0.0.1", "fd00::1"]}).default_route == (
        "10.0.0.1",
        "fd00::1",
    )


def test_default_route_may_be_empty_on_several_elements() -> None:
    value = json.dumps([{"name": "a", "default-route": []}, {"name": "b", "default-route": ["10.0.0.1"]}])
    assert [selection.default_route for selection in parse_networks_annotation(value, "pods")] == [
        (),
        ("10.0.0.1",),
    ]


def test_two_elements_with_default_route_are_refused() -> None:
    value = json.dumps(
        [
            {"name": "a", "default-route": ["10.0.0.1"]},
            {"name": "b"},
            {"name": "c", "default-route": ["fd00::1"]},
        ]
    )
    message = refusal(value)
    assert 'elements 0 (pods/a), 2 (pods/c) each set "default-route"' in message


@pytest.mark.parametrize(
    ("gateways", "family"),
    [(["10.0.0.1", "10.0.0.2"], "2 IPv4 gateways (10.0.0.1, 10.0.0.2)"), (["fd00::1", "fd00::2"], "2 IPv6")],
)
def test_ecmp_default_route_in_one_element_is_refused(gateways: list[str], family: str) -> None:
    message = refusal_of({"name": "a", "default-route": gateways})
    assert f'element 0: "default-route" has {family}' in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("[", "not valid JSON"),
        ('{"name": "a"}', "the JSON form must be a list of objects"),
        ('"a"', "the JSON form must be a list of objects"),
        ("[1]", "element 0 must be a JSON object, not 1"),
        ('[{"name": "a"}, "b"]', "element 1 must be a JSON object"),
        ("[NaN]", "NaN is not a JSON number"),
        ("[" * 50_000, "nested more than 64 levels deep"),
        (
            '[{"name": "a", "cni-args": {"x": ' + "[" * 70 + "]" * 70 + "}}]",
            "nested more than 64 levels deep",
        ),
        ('[{"name": "a"}] trailing', "not valid JSON"),
    ],
)
def test_malformed_json_is_refused(value: str, problem: str) -> None:
    assert problem in refusal(value)


# (element, field named in the message, problem in the message)
BAD_ELEMENTS: list[tuple[dict[str, Any], str, str]] = [
    ({}, '"name"', "is required"),
    ({"name": None}, '"name"', "must be a string"),
    ({"name": ""}, '"name"', "must not be empty"),
    ({"name": 5}, '"name"', "must be a string, not 5"),
    ({"name": "A"}, '"name"', "is not a DNS-1123 label"),
    ({"name": "a", "namespace": "Bad_NS"}, '"namespace"', "is not a DNS-1123 label"),
    ({"name": "a", "namespace": ["x"]}, '"namespace"', "must be a string"),
    ({"name": "a", "interface": "x" * 16}, '"interface"', "16 bytes long"),
    ({"name": "a", "interface": "a/b"}, '"interface"', "'/' or ':'"),
    ({"name": "a", "interface": 1}, '"interface"', "must be a string"),
    ({"name": "a", "interfaceRequest": ".."}, '"interfaceRequest"', "is not allowed"),
    ({"name": "a", "ips": "10.0.0.1"}, '"ips"', "must be a list"),
    ({"name": "a", "ips": ["10.0.0.1/33"]}, '"ips[0]"', "is not an IP address or address/prefix"),
    ({"name": "a", "ips": ["10.0.0.1", "x"]}, '"ips[1]"', "is not an IP address or address/prefix"),
    ({"name": "a", "ips": [4]}, '"ips[0]"', "must be a string"),
    ({"name": "a", "mac": "zz:zz:zz:zz:zz:zz"}, '"mac"', "is not a MAC address"),
    ({"name": "a", "mac": "aa:bb:cc:dd:ee:ff:00:11"}, '"mac"', "is not a MAC address"),
    ({"name": "a", "infiniband-guid": "aa:bb:cc:dd:ee:ff"}, '"infiniband-guid"', "is not an InfiniBand GUID"),
    ({"name": "a", "portMappings": {}}, '"portMappings"', "must be a list"),
    ({"name": "a", "portMappings": [1]}, '"portMappings[0]"', "must be an object"),
    ({"name": "a", "portMappings": [{"containerPort": 80}]}, '"portMappings[0].hostPort"', "is required"),
    ({"name": "a", "portMappings": [{"hostPort": 80}]}, '"portMappings[0].containerPort"', "is required"),
    ({"name": "a", "portMappings": [{"hostPort": 0, "containerPort": 80}]}, "hostPort", "must be at least 1"),
    ({"name": "a", "portMappings": [{"hostPort": 65536, "containerPort": 80}]}, "hostPort", "at most 65535"),
    ({"name": "a", "portMappings": [{"hostPort": 1, "containerPort": -1}]}, "containerPort", "at least 1"),
    (
        {"name": "a", "portMappings": [{"hostPort": "80", "containerPort": 80}]},
        "hostPort",
        "must be an integer",
    ),
    (
        {"name": "a", "portMappings": [{"hostPort": 80.0, "containerPort": 80}]},
        "hostPort",
        "must be an integer",
    ),
    (
        {"name": "a", "portMappings": [{"hostPort": True, "containerPort": 80}]},
        "hostPort",
        "must be an integer",
    ),
    (
        {"name": "a", "portMappings": [{"hostPort": 1, "containerPort": 1, "protocol": "icmp"}]},
        "protocol",
        "TCP",
    ),
    (
        {"name": "a", "portMappings": [{"hostPort": 1, "containerPort": 1, "hostIP": "x"}]},
        "hostIP",
        "IP address",
    ),
    ({"name": "a", "bandwidth": []}, '"bandwidth"', "must be an object"),
    ({"name": "a", "bandwidth": {"ingressRate": -1}}, '"bandwidth.ingressRate"', "must be at least 0"),
    ({"name": "a", "bandwidth": {"egressBurst": 2**63}}, '"bandwidth.egressBurst"', "at most"),
    ({"name": "a", "bandwidth": {"egressRate": "1"}}, '"bandwidth.egressRate"', "must be an integer"),
    ({"name": "a", "cni-args": []}, '"cni-args"', "must be an object"),
    ({"name": "a", "cni-args": "x=y"}, '"cni-args"', "must be an object"),
    ({"name": "a", "default-route": "10.0.0.1"}, '"default-route"', "must be a list"),
    ({"name": "a", "default-route": ["10.0.0.0/8"]}, '"default-route[0]"', "is not an IP address"),
    ({"name": "a", "ipam-claim-reference": 3}, '"ipam-claim-reference"', "must be a string"),
    ({"name": "a", "deviceID": {}}, '"deviceID"', "must be a string"),
]


@pytest.mark.parametrize(("element", "field", "problem"), BAD_ELEMENTS)
def test_bad_fields_are_refused_naming_element_field_and_problem(
    element: dict[str, Any], field: str, problem: str
) -> None:
    message = refusal(json.dumps([{"name": "fine"}, element]))
    assert "element 1" in message
    assert field in message
    assert problem in message


def test_every_bad_field_of_an_element_is_reported() -> None:
    message = refusal_of({"name": "a", "mac": "x", "ips": ["y"]})
    assert '"mac"' in message
    assert '"ips[0]"' in message


def test_braces_in_values_do_not_break_messages() -> None:
    assert "{0}" in refusal_of({"name": "a", "mac": "{0}"})
