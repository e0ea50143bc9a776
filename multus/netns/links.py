"""What a pod's network namespace really holds: interfaces, their addresses, MAC and MTU."""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
from dataclasses import dataclass, field

from multus.cni.errors import IOFailure
from multus.netns.namespace import inside, netns_route

_SIOCGIFHWADDR = 0x8927  # linux/sockios.h
_ARPHRD_ETHER = 1  # linux/if_arp.h


@dataclass(frozen=True)
class Link:
    """A link in a pod's namespace as netlink shows it."""

    name: str
    mac: str | None
    mtu: int | None
    addresses: list[str] = field(default_factory=list)  # CIDR notation, both families


def interfaces(netns_path: str) -> dict[str, Link]:
    """Every interface of the namespace by name, with its global-scope addresses."""
    with netns_route(netns_path) as ipr:
        by_index: dict[int, Link] = {}
        for link in ipr.get_links():
            by_index[link["index"]] = Link(
                name=link.get("IFLA_IFNAME"), mac=link.get("IFLA_ADDRESS"), mtu=link.get("IFLA_MTU")
            )
        for family in (socket.AF_INET, socket.AF_INET6):
            for addr in ipr.get_addr(family=family):
                owner = by_index.get(addr["index"])
                if owner is not None and addr["scope"] == 0:
                    owner.addresses.append(f"{addr.get('IFA_ADDRESS')}/{addr['prefixlen']}")
    return {iface.name: iface for iface in by_index.values()}


def interface_names(netns_path: str) -> set[str]:
    """The names of the namespace's interfaces: one netlink dump by libc, tens of microseconds, so an
    event loop may call it itself rather than wake a worker thread (which costs more)."""
    with inside(netns_path):
        try:
            return {name for _, name in socket.if_nameindex()}
        except OSError as error:
            raise IOFailure(f"cannot list the interfaces of {netns_path}", str(error)) from error


def ethernet_mac(netns_path: str, ifname: str) -> str | None:
    """The MAC of the namespace's Ethernet interface `ifname`, by one ioctl: microseconds, so an event
    loop may call it itself. None when there is no such interface or it is not Ethernet (netlink's
    `interfaces` tells then)."""
    request = struct.pack("16s16x", ifname.encode())
    with inside(netns_path), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            reply = fcntl.ioctl(sock, _SIOCGIFHWADDR, request)
        except OSError as error:
            if error.errno == errno.ENODEV:
                return None
            raise IOFailure(f"cannot read the MAC of {ifname} in {netns_path}", str(error)) from error
    family, address = struct.unpack_from("H6s", reply, 16)
    return address.hex(":") if family == _ARPHRD_ETHER else None
