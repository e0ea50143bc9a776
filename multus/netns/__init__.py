"""What the meta-plugin does in a pod's network namespace itself, through pyroute2."""

from multus.netns.links import Link, ethernet_mac, interface_names, interfaces
from multus.netns.namespace import NamespaceGone, is_missing, netns_route
from multus.netns.routes import DefaultRoute, default_routes, replace_default_route

__all__ = [
    "DefaultRoute",
    "Link",
    "NamespaceGone",
    "default_routes",
    "ethernet_mac",
    "interface_names",
    "interfaces",
    "is_missing",
    "netns_route",
    "replace_default_route",
]
