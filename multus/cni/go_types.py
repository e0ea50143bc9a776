"""Decoders (`multus.cni.gojson`) for the Go types the CNI plugins share: containernetworking/cni's
`types.Route`, `types.DNS` and `types.IPNet`, and Go's `net.IP`."""

from __future__ import annotations

import ipaddress

from multus.cni import gojson
from multus.cni.addresses import IPAddress, parse_cidr, parse_ip
from multus.cni.gojson import integer, list_of, pointer, string, struct

IP = gojson.text(parse_ip, "an IP address")  # net.IP
IPNET = gojson.json_text(parse_cidr, "an address/prefix (CIDR)")  # types.IPNet
ROUTE = struct(
    {
        "dst": IPNET,
        "gw": IP,
        "mtu": integer,
        "advmss": integer,
        "priority": integer,
        "table": pointer(integer),
        "scope": pointer(integer),
    }
)
DNS = struct(
    {
        "nameservers": list_of(string),
        "domain": string,
        "search": list_of(string),
        "options": list_of(string),
    }
)
# An address entry of static and whereabouts: untagged fields are matched by their Go names.
ADDRESS = struct(
    {
        "address": string,
        "gateway": IP,
        "Address": struct({"IP": IP, "Mask": string}),
        "Version": string,
    }
)


def to4(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address is the IPv4 address to Go (net.IP.To4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
