"""DNS-1123 labels, and the IP / MAC / GUID forms annotations may carry."""

from __future__ import annotations

import pytest

from multus.k8s.addresses import (
    bare_address,
    is_default_destination,
    normalize_guid,
    normalize_mac,
    parse_ip,
    parse_ip_or_cidr,
)
from multus.k8s.names import dns1123_label_problem, is_dns1123_label


@pytest.mark.parametrize("label", ["a", "0", "net-1", "a" * 63, "1abc", "a-b-c"])
def test_dns1123_label_accepts(label: str) -> None:
    assert is_dns1123_label(label)
    assert dns1123_label_problem(label) is None


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ("", "must not be empty"),
        ("a" * 64, "64 characters long"),
        ("A", "not a DNS-1123 label"),
        ("-a", "not a DNS-1123 label"),
        ("a-", "not a DNS-1123 label"),
        ("a.b", "not a DNS-1123 label"),
        ("a_b", "not a DNS-1123 label"),
        ("a\n", "not a DNS-1123 label"),
        ("é", "not a DNS-1123 label"),
    ],
)
def test_dns1123_label_refuses(label: str, problem: str) -> None:
    assert not is_dns1123_label(label)
    assert problem in (dns1123_label_problem(label) or "")


@pytest.mark.parametrize("text", ["10.1.1.5", "::1", "fd00::5", "::ffff:1.2.3.4"])
def test_parse_ip_accepts_bare_addresses(text: str) -> None:
    assert parse_ip(text) is not None


@pytest.mark.parametrize(
    "text", ["", "10.1.1.5/24", "fe80::1%eth0", "10.1.1", "010.1.1.5", "\uff11.1.1.1", "host"]
)
def test_parse_ip_refuses(text: str) -> None:
    assert parse_ip(text) is None


@pytest.mark.parametrize("text", ["10.1.1.5", "10.1.1.5/24", "10.1.1.5/0", "10.1.1.5/32", "fd00::5/128"])
def test_parse_ip_or_cidr_accepts(text: str) -> None:
    assert parse_ip_or_cidr(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "10.1.1.5/33",
        "fd00::5/129",
        "10.1.1.5/",
        "10.1.1.5/255.255.255.0",
        "10.1.1.5/+8",
        "/24",
        "10.1.1.5/1/2",
    ],
)
def test_parse_ip_or_cidr_refuses(text: str) -> None:
    assert parse_ip_or_cidr(text) is None


def test_bare_address_drops_the_prefix_and_canonicalises() -> None:
    assert bare_address("10.1.1.5/24") == "10.1.1.5"
    assert bare_address("FD00:0::5/64") == "fd00::5"
    assert bare_address("10.1.1.5") == "10.1.1.5"
    assert bare_address("nonsense") is None


@pytest.mark.parametrize(
    ("dst", "default"), [("0.0.0.0/0", True), ("::/0", True), ("10.0.0.0/8", False), ("::", False)]
)
def test_default_destination_is_prefix_length_zero(dst: str, default: bool) -> None:
    assert is_default_destination(dst) is default


def test_mac_forms() -> None:
    assert normalize_mac("AA:bb:CC:dd:EE:ff") == "aa:bb:cc:dd:ee:ff"
    assert normalize_mac("aa-bb-cc-dd-ee-ff") == "aa:bb:cc:dd:ee:ff"
    for bad in [
        "aa:bb:cc:dd:ee",
        "aa:bb-cc:dd:ee:ff",
        "aabb.ccdd.eeff",
        "gg:bb:cc:dd:ee:ff",
        "aa:bb:cc:dd:ee:ff:00:11",
    ]:
        assert normalize_mac(bad) is None, bad


def test_guid_forms() -> None:
    assert normalize_guid("C2:11:22:33:44:55:66:77") == "c2:11:22:33:44:55:66:77"
    assert normalize_guid("c2-11-22-33-44-55-66-77") == "c2:11:22:33:44:55:66:77"
    for bad in ["aa:bb:cc:dd:ee:ff", "c2:11:22:33:44:55:66:77:88", "c2:11:22:33:44:55:66:7g"]:
        assert normalize_guid(bad) is None, bad
