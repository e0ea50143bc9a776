"""Choosing the pod's default route: one gateway per IP family, on the interface the user picked."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from multus.cni.errors import InterfaceConflict, IOFailure
from multus.netns.namespace import is_missing, netns_route

MAIN_TABLE = 254


@dataclass(frozen=True)
class DefaultRoute:
    family: int
    gateway: str | None
    ifname: str


def _family_of(gateway: str) -> int:
    return socket.AF_INET if ipaddress.ip_address(gateway).version == 4 else socket.AF_INET6


def default_routes(netns_path: str) -> list[DefaultRoute]:
    """Every default route of the main table, of both families.

    A default route is one with prefix length 0, whatever its destination attribute says: the kernel
    omits RTA_DST for it, and matching on "no destination" is what broke upstream's removal.
    """
    found: list[DefaultRoute] = []
    with netns_route(netns_path) as ipr:
        names = {link["index"]: link.get("IFLA_IFNAME") for link in ipr.get_links()}
        for family in (socket.AF_INET, socket.AF_INET6):
            for route in ipr.get_routes(family=family, table=MAIN_TABLE):
                if route["dst_len"] == 0 and route.get("RTA_OIF") in names:
                    found.append(DefaultRoute(family, route.get("RTA_GATEWAY"), names[route.get("RTA_OIF")]))
    return found


def replace_default_route(netns_path: str, ifname: str, gateway: str) -> None:
    """Make `gateway` via `ifname` the only default route of its family in the namespace."""
    from pyroute2.netlink.exceptions import NetlinkError  # noqa: PLC0415  loaded by netns_route anyway

    family = _family_of(gateway)
    with netns_route(netns_path) as ipr:
        indexes = ipr.link_lookup(ifname=ifname)
        if not indexes:
            raise InterfaceConflict(f"default-route: interface {ifname} is not in the pod's namespace")
        for route in ipr.get_routes(family=family, table=MAIN_TABLE):
            if route["dst_len"] == 0:
                try:
                    ipr.route("del", **_identity(route, family))
                except NetlinkError as error:
                    if not is_missing(error):  # gone meanwhile is what we wanted
                        raise IOFailure(
                            f"cannot remove a default route from {netns_path}", str(error)
                        ) from error
        try:
            ipr.route("add", family=family, dst_len=0, gateway=gateway, oif=indexes[0], table=MAIN_TABLE)
        except NetlinkError as error:
            raise IOFailure(f"cannot add the default route via {gateway} on {ifname}", str(error)) from error


def _identity(route: Any, family: int) -> dict[str, object]:
    """The attributes that pick exactly this route out of the table for a delete."""
    get = route.get
    identity: dict[str, object] = {"family": family, "dst_len": 0, "table": MAIN_TABLE}
    for key, attribute in (("oif", "RTA_OIF"), ("gateway", "RTA_GATEWAY"), ("priority", "RTA_PRIORITY")):
        value = get(attribute)
        if value is not None:
            identity[key] = value
    return identity
