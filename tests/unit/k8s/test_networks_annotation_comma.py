"""The comma form of `k8s.v1.cni.cncf.io/networks`: `name`, `ns/name`, `ns/name@ifname`."""

from __future__ import annotations

import pytest

from multus.cni.errors import InvalidAnnotation
from multus.k8s.annotations import format_networks_annotation, parse_networks_annotation
from multus.k8s.constants import NETWORKS_ANNOTATION
from multus.k8s.selection import NetworkSelection


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_absent_or_blank_selects_nothing(value: str | None) -> None:
    assert parse_networks_annotation(value, "pods") == []


def test_all_three_item_shapes() -> None:
    assert parse_networks_annotation("a, other/b, other/c@macvlan1", "pods") == [
        NetworkSelection("a", "pods"),
        NetworkSelection("b", "other"),
        NetworkSelection("c", "other", interface="macvlan1"),
    ]


def test_name_with_interface_and_no_namespace() -> None:
    assert parse_networks_annotation("a@net7", "pods") == [NetworkSelection("a", "pods", interface="net7")]


def test_items_and_parts_are_trimmed() -> None:
    assert parse_networks_annotation("  other / b @ if1 ,\ta ", "pods") == [
        NetworkSelection("b", "other", interface="if1"),
        NetworkSelection("a", "pods"),
    ]


def test_same_network_twice_gives_two_selections() -> None:
    assert parse_networks_annotation("a,a", "pods") == [NetworkSelection("a", "pods")] * 2


def test_interface_name_follows_the_interface_rule_not_dns() -> None:
    parsed = parse_networks_annotation("a@eth0.100,b@Net_1", "pods")
    assert [selection.interface for selection in parsed] == ["eth0.100", "Net_1"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a,,b", "element 1 is empty"),
        ("a,", "element 1 is empty"),
        (",a", "element 0 is empty"),
        ("a, ,b", "element 1 is empty"),
        ("x/y/z", "element 0 'x/y/z': more than one '/'"),
        ("a@b@c", "more than one '@'"),
        ("/a", "namespace must not be empty"),
        ("ns/", "network name must not be empty"),
        ("@if1", "network name must not be empty"),
        ("a@", "interface name must not be empty"),
        ("Caps", "network name 'Caps' is not a DNS-1123 label"),
        ("NS/a", "namespace 'NS' is not a DNS-1123 label"),
        ("a_b", "network name 'a_b' is not a DNS-1123 label"),
        ("ns@if/a", "namespace 'ns@if' is not a DNS-1123 label"),
        (f"{'a' * 64}", "64 characters long"),
        ("a@" + "x" * 16, "interface name 'xxxxxxxxxxxxxxxx' is 16 bytes long"),
        ("a@.", "interface name '.' is not allowed"),
        ("a@x:y", "interface name 'x:y' must not contain '/' or ':'"),
        ("a@x y", "whitespace"),
        ("good, a b", "element 1 'a b': network name 'a b' is not a DNS-1123 label"),
    ],
)
def test_malformed_items_are_refused_with_the_element_and_problem(value: str, problem: str) -> None:
    with pytest.raises(InvalidAnnotation) as caught:
        parse_networks_annotation(value, "pods")
    message = str(caught.value)
    assert message.startswith(f"{NETWORKS_ANNOTATION}: ")
    assert problem in message


def test_format_writes_the_comma_form_with_explicit_namespaces() -> None:
    selections = [NetworkSelection("a", "pods"), NetworkSelection("b", "other", interface="macvlan1")]
    text = format_networks_annotation(selections)
    assert text == "pods/a,other/b@macvlan1"
    assert parse_networks_annotation(text, "elsewhere") == selections


def test_format_refuses_what_the_comma_form_cannot_say() -> None:
    with pytest.raises(ValueError, match="cannot express"):
        format_networks_annotation([NetworkSelection("a", "pods", mac="aa:bb:cc:dd:ee:ff")])
    for interface in ["a,b", "a@b", 'a"b', "a[b", "a{b"]:
        with pytest.raises(ValueError, match="cannot be written"):
            format_networks_annotation([NetworkSelection("a", "pods", interface=interface)])
