"""multus.netns against real namespaces: default-route replacement and interface inventory."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from multus.cni.errors import InterfaceConflict, InvalidEnvironment
from multus.netns import (
    NamespaceGone,
    default_routes,
    ethernet_mac,
    interface_names,
    interfaces,
    replace_default_route,
)
from tests.conftest import netns_path, unique_name

pytestmark = pytest.mark.netns


@pytest.fixture
def two_uplinks(netns_name: str) -> Iterator[str]:
    """`a` (10.201.1.2/24, fd01::2/64) and `b` (10.201.2.2/24): veths into the test netns, each with a
    default route of its own, so there is something to choose between."""
    peers = []
    with IPRoute() as host:
        for name, v4 in (("a", "10.201.1.2"), ("b", "10.201.2.2")):
            outside = unique_name("up")
            peers.append(outside)
            host.link("add", ifname=outside, kind="veth", peer={"ifname": name, "net_ns_fd": netns_name})
            with IPRoute(netns=netns_name, flags=0) as ipr:
                index = ipr.link_lookup(ifname=name)[0]
                ipr.link("set", index=index, state="up")
                ipr.addr("add", index=index, address=v4, prefixlen=24)
                if name == "a":
                    ipr.addr("add", index=index, address="fd01::2", prefixlen=64, flags=0x80)  # nodad
                gateway = v4.rsplit(".", 1)[0] + ".1"
                ipr.route("add", dst_len=0, gateway=gateway, oif=index, priority=100 if name == "a" else 200)
    yield netns_path(netns_name)
    with IPRoute() as host:
        for outside in peers:
            if host.link_lookup(ifname=outside):
                host.link("del", ifname=outside)


def test_replace_default_route_leaves_exactly_one(two_uplinks: str) -> None:
    before = {(r.ifname, r.gateway) for r in default_routes(two_uplinks) if r.family == socket.AF_INET}
    assert before == {("a", "10.201.1.1"), ("b", "10.201.2.1")}

    replace_default_route(two_uplinks, "b", "10.201.2.254")

    after = [(r.ifname, r.gateway) for r in default_routes(two_uplinks) if r.family == socket.AF_INET]
    assert after == [("b", "10.201.2.254")]


def test_replace_ipv6_default_route_keeps_ipv4(two_uplinks: str) -> None:
    replace_default_route(two_uplinks, "a", "fd01::1")
    routes = {(r.family, r.ifname, r.gateway) for r in default_routes(two_uplinks)}
    assert (socket.AF_INET6, "a", "fd01::1") in routes
    assert {(f, i, g) for f, i, g in routes if f == socket.AF_INET} == {
        (socket.AF_INET, "a", "10.201.1.1"),
        (socket.AF_INET, "b", "10.201.2.1"),
    }


def test_interfaces_reports_addresses_mac_and_mtu(two_uplinks: str) -> None:
    found = interfaces(two_uplinks)
    assert set(found) == {"lo", "a", "b"}
    assert found["a"].addresses == ["10.201.1.2/24", "fd01::2/64"]
    assert found["b"].addresses == ["10.201.2.2/24"]
    assert found["a"].mtu == 1500
    assert found["a"].mac is not None
    assert len(found["a"].mac) == 17
    assert found["lo"].addresses == []  # host scope only


def test_interface_names_are_those_of_the_namespace_not_ours(two_uplinks: str) -> None:
    assert interface_names(two_uplinks) == {"lo", "a", "b"}
    assert "a" not in {name for _, name in socket.if_nameindex()}  # the thread came back home


def test_ethernet_mac_is_what_netlink_shows_and_none_for_other_links(two_uplinks: str) -> None:
    shown = interfaces(two_uplinks)
    assert ethernet_mac(two_uplinks, "a") == shown["a"].mac
    assert ethernet_mac(two_uplinks, "b") == shown["b"].mac
    assert ethernet_mac(two_uplinks, "lo") is None  # loopback: not Ethernet, netlink tells
    assert ethernet_mac(two_uplinks, "missing") is None
    assert "a" not in {name for _, name in socket.if_nameindex()}  # the thread came back home


def test_missing_namespace_is_reported_not_created() -> None:
    path = "/var/run/netns/multus-does-not-exist"
    with pytest.raises(NamespaceGone):
        interfaces(path)
    with pytest.raises(NamespaceGone):
        interface_names(path)
    with pytest.raises(NamespaceGone):
        ethernet_mac(path, "eth0")
    with pytest.raises(NamespaceGone):
        replace_default_route(path, "eth0", "10.0.0.1")
    assert not os.path.exists(path)


@pytest.mark.timeout(20)  # an open() that blocks on the FIFO never returns: the timeout is the failure
@pytest.mark.parametrize("kind", ["fifo", "file", "directory"])
def test_a_path_that_is_not_a_namespace_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    path = tmp_path / kind
    {"fifo": os.mkfifo, "file": lambda p: p.write_text("x"), "directory": os.mkdir}[kind](path)
    for call in (interfaces, interface_names):
        with pytest.raises(InvalidEnvironment, match=f"CNI_NETNS: {path} is not a network namespace"):
            call(str(path))


def test_default_route_on_an_unknown_interface_is_an_error(two_uplinks: str) -> None:
    with pytest.raises(InterfaceConflict, match="net9"):
        replace_default_route(two_uplinks, "net9", "10.201.1.1")
