"""What the Go plugins refuse in a plugin's input, found before any plugin runs.

A Go plugin that cannot read its config refuses every command, DEL included: an attachment made with
such a config can never be deleted, and the runtime retries its DEL for ever. So a config is read here
as the plugins read it (containernetworking/plugins v1.10, with encoding/json's rules, see
`multus.cni.gojson`), and refused with the field named:

- every plugin: the spec's keys of `types.NetConf` (`name`, `type`, `cniVersion`, `capabilities`, an
  `ipam` object whose `type` is a plain file name, `dns`, `prevResult`, `cni.dev/valid-attachments`);
- `ipam` of type `host-local` (allocator.LoadIPAMConfig): every range of `ranges` and the range written
  at the `ipam` level (a subnet with room for addresses and no host bits set; gateway, rangeStart and
  rangeEnd inside it, in order), one family per range set, no overlaps, at most one address per family
  before 0.3.0, `routes`, and the addresses of `args.cni.ips` and `runtimeConfig`;
- `ipam` of type `static` (its LoadIPAMConfig): `addresses` in CIDR form, `routes`, `dns`, and the CIDRs
  of `args.cni.ips` and `runtimeConfig.ips`;
- `ipam` of type `whereabouts` or `dhcp`: see `multus.cni.ipam_whereabouts_dhcp`;
- the main plugins' own keys (bridge, macvlan, ipvlan, vlan, ptp, tuning): see `multus.cni.plugin_checks`.

Some of these a plugin refuses only at ADD (an MTU, a mode, a DHCP option); an attachment that exists
passed them, so refusing them on every command costs no DEL.

`cni_args_problem` checks the CNI_ARGS the IPAM plugins read (`IP`, and `GATEWAY` of static and
whereabouts); host-local reads them on DEL too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from multus.cni import gojson
from multus.cni.addresses import IPAddress, IPInterface, parse_cidr, parse_ip, parse_ip_or_cidr
from multus.cni.go_types import ADDRESS, DNS, IP, IPNET, ROUTE, to4
from multus.cni.gojson import Decoder, Refused, list_of, map_of, pointer, string, struct
from multus.cni.ipam_whereabouts_dhcp import (
    DHCP,
    WHEREABOUTS,
    check_dhcp,
    check_whereabouts,
    whereabouts_args_problem,
)
from multus.cni.names import plugin_type_error
from multus.cni.plugin_checks import main_plugin_problem
from multus.cni.validation import short
from multus.cni.versions import at_least

HOST_LOCAL, STATIC = "host-local", "static"
ARGS_READ_BY_IPAM = frozenset({"IP", "GATEWAY"})
# Before 0.3.0 a result holds one address per family.
_MANY_ADDRESSES_SINCE = "0.3.0"

_IP_OR_CIDR = gojson.json_text(parse_ip_or_cidr, "an IP address or address/prefix")  # pkg/ip.IP, required
_NET_CONF = struct(
    {
        "cniVersion": string,
        "name": string,
        "type": string,
        "capabilities": map_of(gojson.boolean),
        "ipam": struct({"type": string}),
        "dns": DNS,
        "prevResult": map_of(gojson.anything),
        "cni.dev/valid-attachments": list_of(struct({"containerID": string, "ifname": string})),
    }
)
_RANGE_FIELDS = {"rangeStart": IP, "rangeEnd": IP, "subnet": IPNET, "gateway": IP}
_RANGE_SETS = list_of(list_of(struct(_RANGE_FIELDS)))


def _ipam_input(ipam: Mapping[str, Decoder], ips: Decoder, **runtime: Decoder) -> Decoder:
    """What an IPAM plugin reads: the whole plugin config into its own `Net`, with the `ipam` fields of
    its IPAMConfig besides the common ones, and addresses asked for in `args.cni.ips` and at runtime."""
    return struct(
        {
            "name": string,
            "cniVersion": string,
            "ipam": pointer(
                struct({**ipam, "Name": string, "type": string, "routes": list_of(pointer(ROUTE))})
            ),
            "runtimeConfig": struct({**runtime, "ips": list_of(ips)}),
            "args": pointer(struct({"cni": pointer(struct({"ips": list_of(ips)}))})),
        }
    )


_HOST_LOCAL = _ipam_input(
    {
        **_RANGE_FIELDS,  # the embedded *Range: a range written at the ipam level
        "dataDir": string,
        "resolvConf": string,
        "ranges": _RANGE_SETS,
    },
    _IP_OR_CIDR,
    ipRanges=_RANGE_SETS,
)
_STATIC = _ipam_input(
    {
        "addresses": list_of(ADDRESS),
        "dns": DNS,
    },
    string,
)


def ipam_type(config: Mapping[str, Any]) -> str:
    """The IPAM plugin a plugin config delegates to, as the plugin reads it ("" for none); the config
    must have passed `plugin_config_problem`."""
    decoded = _NET_CONF(config, "")
    return str(decoded.get("ipam", {}).get("type", "")) if isinstance(decoded, dict) else ""


def plugin_config_problem(config: Mapping[str, Any], version: str) -> Refused | None:
    """Why a Go plugin (and the IPAM plugin it calls) would refuse `config`, the plugin's input (with
    the list's `name` and `cniVersion`), or None. `version` is the list's version."""
    try:
        decoded = _NET_CONF(config, "")
        main_plugin_problem(config)
        kind = decoded.get("ipam", {}).get("type", "") if isinstance(decoded, dict) else ""
        if kind and (why := plugin_type_error(kind)):  # the plugin looks it up in CNI_PATH, on DEL too
            raise Refused("ipam.type", why)
        if kind == HOST_LOCAL:
            _check_host_local(_HOST_LOCAL(config, ""), version)
        elif kind == STATIC:
            _check_static(_STATIC(config, ""), version)
        elif kind == WHEREABOUTS:
            check_whereabouts(config, version)
        elif kind == DHCP:
            check_dhcp(config)
    except Refused as refused:
        return refused
    return None


def cni_args_problem(kind: str, args: Iterable[tuple[str, str]]) -> Refused | None:
    """Why IPAM plugin `kind` would refuse these CNI_ARGS pairs, or None. They read `IP` (host-local one
    address, with or without prefix; static and whereabouts a comma list of CIDRs) and `GATEWAY` (static
    and whereabouts: a comma list)."""
    if kind == WHEREABOUTS:
        return whereabouts_args_problem(args)
    for key, value in args:
        if kind == HOST_LOCAL and key == "IP" and value and parse_ip_or_cidr(value) is None:
            return Refused("CNI_ARGS IP", f"{short(value)} is not one IP address (host-local reads one)")
        if kind == STATIC and key in ("IP", "GATEWAY"):
            parse, what = (parse_cidr, "an address/prefix") if key == "IP" else (parse_ip, "an IP address")
            for item in value.split(",") if value else ():
                if parse(item.strip()) is None:
                    return Refused(f"CNI_ARGS {key}", f"{short(item)} is not {what}")
    return None


# host-local -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    """A range as host-local canonicalises it: addresses `start` to `end` of `network`."""

    where: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    start: int
    end: int

    def overlaps(self, other: _Range) -> bool:
        return (
            self.network.version == other.network.version
            and self.start <= other.end
            and other.start <= self.end
        )

    def __str__(self) -> str:
        make = ipaddress.IPv4Address if self.network.version == 4 else ipaddress.IPv6Address
        return f"{make(self.start)}-{make(self.end)}"


def _check_host_local(net: dict[str, Any], version: str) -> None:
    ipam = net.get("ipam") or {}
    # In host-local's order: ranges given at runtime, the one written at the ipam level, `ranges`.
    sets = [
        _range_set(f"runtimeConfig.ipRanges[{index}]", ranges)
        for index, ranges in enumerate(net.get("runtimeConfig", {}).get("ipRanges") or [])
    ]
    if ipam.get("subnet") is not None:
        sets.append([_range("ipam", ipam)])
    sets += [
        _range_set(f"ipam.ranges[{index}]", ranges) for index, ranges in enumerate(ipam.get("ranges") or [])
    ]
    if not sets:
        raise Refused("ipam", "has no IP ranges: set ranges (or subnet)")
    families = [ranges[0].network.version for ranges in sets]
    if max(families.count(4), families.count(6)) > 1 and not at_least(version, _MANY_ADDRESSES_SINCE):
        raise Refused("ipam", f"cniVersion {version} allows one range set per IP family")
    for index, ranges in enumerate(sets):
        for other in sets[index + 1 :]:
            _no_overlap(ranges, other)


def _range_set(where: str, fields: list[dict[str, Any] | None] | None) -> list[_Range]:
    if not fields:
        raise Refused(where, "is an empty range set")
    ranges = [_range(f"{where}[{index}]", item or {}) for index, item in enumerate(fields)]
    if len({item.network.version for item in ranges}) > 1:
        raise Refused(where, "mixes IPv4 and IPv6 ranges")
    _no_overlap(ranges, ranges)
    return ranges


def _no_overlap(ranges: list[_Range], others: list[_Range]) -> None:
    for first in ranges:
        for second in others:
            if first is not second and first.overlaps(second):
                raise Refused(second.where, f"overlaps {first.where} ({first})")


def _range(where: str, fields: dict[str, Any]) -> _Range:
    subnet: IPInterface | None = fields.get("subnet")
    if subnet is None:
        raise Refused(where, "has no subnet")
    if isinstance(subnet.ip, ipaddress.IPv6Address) and subnet.ip.ipv4_mapped is not None:
        raise Refused(f"{where}.subnet", f"{subnet} mixes an IPv4 address with an IPv6 prefix length")
    network = subnet.network
    if network.prefixlen > network.max_prefixlen - 2:
        raise Refused(f"{where}.subnet", f"{network} is too small to allocate addresses from")
    if subnet.ip != network.network_address:
        raise Refused(f"{where}.subnet", f"{subnet} has host bits set (the network is {network})")
    for key in ("gateway", "rangeStart", "rangeEnd"):
        if fields.get(key) is not None and to4(fields[key]) not in network:
            raise Refused(f"{where}.{key}", f"{fields[key]} is not in {network}")
    start = int(to4(fields["rangeStart"])) if fields.get("rangeStart") else int(network.network_address) + 1
    # Without rangeEnd, IPv4 ranges end before the broadcast address.
    last = int(network.broadcast_address) - (1 if network.version == 4 else 0)
    end = int(to4(fields["rangeEnd"])) if fields.get("rangeEnd") else last
    if start > end:
        raise Refused(where, f"rangeStart {fields.get('rangeStart')} is after the range's end")
    return _Range(where, network, start, end)


# static ---------------------------------------------------------------------------------------------


def _check_static(net: dict[str, Any], version: str) -> None:
    ipam = net.get("ipam") or {}
    # Each list replaces the addresses before any is parsed: a replaced address is never read.
    cni_args = (net.get("args") or {}).get("cni") or {}
    addresses: list[IPAddress] | None = None
    for where, listed in (
        ("args.cni.ips", cni_args.get("ips")),
        ("runtimeConfig.ips", net.get("runtimeConfig", {}).get("ips")),
    ):
        if listed:
            addresses = [_cidr(f"{where}[{index}]", text) for index, text in enumerate(listed)]
    if addresses is None:
        addresses = []
        for index, address in enumerate(ipam.get("addresses") or []):
            item = address or {}
            given = item.get("Address", {}).get("IP")
            addresses.append(
                given if given is not None else _cidr(f"ipam.addresses[{index}].address", item.get("address"))
            )
    families = [to4(address).version for address in addresses]
    if max(families.count(4), families.count(6)) > 1 and not at_least(version, _MANY_ADDRESSES_SINCE):
        raise Refused("ipam.addresses", f"cniVersion {version} allows one address per IP family")


def _cidr(where: str, text: str | None) -> IPAddress:
    parsed = parse_cidr(text or "")
    if parsed is None:
        raise Refused(where, f"{short(text or '')} is not an address/prefix (CIDR)")
    return parsed.ip
