"""CNI results of every spec version, held in one version-independent form, and converted between versions.

`Result` holds what the richest version (1.1.0) can say. Converting down drops what the target cannot
hold; converting up adds nothing, so a result that went up and comes back down is unchanged:

- 0.1.0 / 0.2.0: `ip4` and `ip6` objects, each with its routes; no interfaces. Only the first IPv4 and
  the first IPv6 address survive, and only routes of a family that has an address.
- 0.3.0 / 0.3.1 / 0.4.0: `interfaces`, `ips` (with `version` "4"/"6" and an `interface` index),
  `routes`, `dns`.
- 1.0.0: as 0.4.0 without `ips[].version`.
- 1.1.0: adds interface `mtu`, `socketPath`, `pciID` and route `mtu`, `advmss`, `priority`, `table`,
  `scope`.

Addresses are `ipaddress` objects; a route's `dst` keeps host bits as written, like libcni does.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any, ClassVar

from multus.cni import validation
from multus.cni.errors import DecodeFailure, InvalidConfig
from multus.cni.jsontext import load_json
from multus.cni.schema import (
    Field,
    Record,
    SchemaError,
    dataclass_of,
    integer,
    list_of,
    nested,
    nullable,
    string,
    tuple_of,
)
from multus.cni.versions import SUPPORTED_VERSIONS, parse_version, require_supported

IPInterface = IPv4Interface | IPv6Interface
IPAddress = IPv4Address | IPv6Address

_FIRST_WITH_INTERFACES = (0, 3, 0)
_FIRST_WITHOUT_IP_VERSION = (1, 0, 0)
_FIRST_WITH_LINK_DETAILS = (1, 1, 0)


def _address_with_prefix(value: object) -> IPInterface:
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{value!r} is not an IP address with a prefix length, like 10.1.2.3/24")
    if not value.partition("/")[2].isdigit():
        raise ValueError(f"{value!r} has no numeric prefix length")
    try:
        return _interface(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address with a prefix length") from None


def _optional_address(value: object) -> IPAddress | None:
    # Go plugins write an absent gateway as "" as often as they leave it out.
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address")
    try:
        return _address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


# Parsed once: the same gateways, routes and subnets come back in result after result, ipaddress's
# parsing costs microseconds each, and its objects never change.
_interface = functools.lru_cache(maxsize=1024)(ipaddress.ip_interface)
_address = functools.lru_cache(maxsize=1024)(ipaddress.ip_address)


@dataclass(frozen=True)
class Interface:
    name: str = ""
    mac: str = ""
    sandbox: str = ""
    mtu: int | None = None
    socket_path: str = ""
    pci_id: str = ""


@dataclass(frozen=True)
class IPConfig:
    address: IPInterface
    gateway: IPAddress | None = None
    interface: int | None = None
    """Index into `Result.interfaces` of the interface holding the address."""

    @property
    def family(self) -> int:
        return self.address.version


@dataclass(frozen=True)
class Route:
    dst: IPInterface
    gw: IPAddress | None = None
    mtu: int | None = None
    advmss: int | None = None
    priority: int | None = None
    table: int | None = None
    scope: int | None = None

    @property
    def family(self) -> int:
        return self.dst.version

    @property
    def is_default(self) -> bool:
        return self.dst.network.prefixlen == 0


@dataclass(frozen=True)
class DNS:
    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out


@dataclass(frozen=True)
class Result:
    cni_version: str
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DNS = field(default_factory=DNS)

    def convert_to(self, version: str) -> Result:
        """This result as `version` can hold it (IncompatibleVersion for a version we do not speak)."""
        target = parse_version(require_supported(version))
        interfaces, ips, routes = self.interfaces, self.ips, self.routes
        if target < _FIRST_WITH_LINK_DETAILS:
            interfaces = tuple(replace(link, mtu=None, socket_path="", pci_id="") for link in interfaces)
            routes = tuple(Route(route.dst, route.gw) for route in routes)
        if target < _FIRST_WITH_INTERFACES:
            first_by_family: dict[int, IPConfig] = {}
            for ip in ips:
                first_by_family.setdefault(ip.family, IPConfig(ip.address, ip.gateway))
            families = [family for family in (4, 6) if family in first_by_family]
            ips = tuple(first_by_family[family] for family in families)
            routes = tuple(route for family in families for route in routes if route.family == family)
            interfaces = ()
        return Result(version, interfaces, ips, routes, self.dns)

    def to_dict(self) -> dict[str, Any]:
        """The wire form of `cni_version`, with the keys libcni would print."""
        result = self.convert_to(self.cni_version)
        version = parse_version(self.cni_version)
        out: dict[str, Any] = {"cniVersion": self.cni_version}
        if version < _FIRST_WITH_INTERFACES:
            for ip in result.ips:
                legacy: dict[str, Any] = {"ip": str(ip.address)}
                if ip.gateway is not None:
                    legacy["gateway"] = str(ip.gateway)
                if routes := [_route_dict(route) for route in result.routes if route.family == ip.family]:
                    legacy["routes"] = routes
                out[f"ip{ip.family}"] = legacy
        else:
            if result.interfaces:
                out["interfaces"] = [_interface_dict(link) for link in result.interfaces]
            if result.ips:
                with_version = version < _FIRST_WITHOUT_IP_VERSION
                out["ips"] = [_ip_dict(ip, with_version) for ip in result.ips]
            if result.routes:
                out["routes"] = [_route_dict(route) for route in result.routes]
        out["dns"] = result.dns.to_dict()
        return out


def _interface_dict(link: Interface) -> dict[str, Any]:
    out: dict[str, Any] = {"name": link.name}
    for key, value in (
        ("mac", link.mac),
        ("mtu", link.mtu),
        ("sandbox", link.sandbox),
        ("socketPath", link.socket_path),
        ("pciID", link.pci_id),
    ):
        if value:
            out[key] = value
    return out


def _ip_dict(ip: IPConfig, with_version: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_version:
        out["version"] = str(ip.family)
    if ip.interface is not None:
        out["interface"] = ip.interface
    out["address"] = str(ip.address)
    if ip.gateway is not None:
        out["gateway"] = str(ip.gateway)
    return out


def _route_dict(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"dst": str(route.dst)}
    if route.gw is not None:
        out["gw"] = str(route.gw)
    for key, value in (
        ("mtu", route.mtu),
        ("advmss", route.advmss),
        ("priority", route.priority),
        ("table", route.table),
        ("scope", route.scope),
    ):
        if value is not None:
            out[key] = value
    return out


# Reading a result: the daemon reads one on every delegate's reply, so interfaces, addresses and routes
# are read straight into the dataclasses above (`schema.dataclass_of`), not through Records first.

_int = nullable(integer())
_strings = tuple_of(string)

_interface_json = dataclass_of(
    Interface,
    {"name": string, "mac": string, "sandbox": string, "mtu": _int, "socket_path": string, "pci_id": string},
    {"socket_path": "socketPath", "pci_id": "pciID"},
)
_ip_json = dataclass_of(
    IPConfig, {"address": _address_with_prefix, "gateway": _optional_address, "interface": _int}
)
_route_json = dataclass_of(
    Route,
    {
        "dst": _address_with_prefix,
        "gw": _optional_address,
        "mtu": _int,
        "advmss": _int,
        "priority": _int,
        "table": _int,
        "scope": _int,
    },
)
_dns_json = dataclass_of(
    DNS, {"nameservers": _strings, "domain": string, "search": _strings, "options": _strings}
)


class _LegacyIPConfig(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "ip": Field(_address_with_prefix),
        "gateway": Field(_optional_address, None),
        "routes": Field(nullable(list_of(_route_json)), None),
    }

    ip: IPInterface
    gateway: IPAddress | None
    routes: list[Route] | None


class _LegacyResult(Record):
    """0.1.0 and 0.2.0."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "ip4": Field(nullable(nested(_LegacyIPConfig)), None),
        "ip6": Field(nullable(nested(_LegacyIPConfig)), None),
        "dns": Field(nullable(_dns_json), None),
    }

    ip4: _LegacyIPConfig | None
    ip6: _LegacyIPConfig | None
    dns: DNS | None

    def to_result(self, version: str) -> Result:
        ips: list[IPConfig] = []
        routes: list[Route] = []
        for legacy in (self.ip4, self.ip6):
            if legacy is not None:
                ips.append(IPConfig(legacy.ip, legacy.gateway))
                routes += legacy.routes or []
        return Result(version, (), tuple(ips), tuple(routes), self.dns or DNS())


class _CurrentResult(Record):
    """0.3.0 and later."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "interfaces": Field(nullable(list_of(_interface_json)), None),
        "ips": Field(nullable(list_of(_ip_json)), None),
        "routes": Field(nullable(list_of(_route_json)), None),
        "dns": Field(nullable(_dns_json), None),
    }

    interfaces: list[Interface] | None
    ips: list[IPConfig] | None
    routes: list[Route] | None
    dns: DNS | None

    def to_result(self, version: str) -> Result:
        return Result(
            version,
            tuple(self.interfaces or ()),
            tuple(self.ips or ()),
            tuple(self.routes or ()),
            self.dns or DNS(),
        )


_LEGACY_VERSIONS = frozenset(
    version for version in SUPPORTED_VERSIONS if parse_version(version) < _FIRST_WITH_INTERFACES
)


def parse_result(data: bytes | str | dict[str, Any], *, default_version: str | None = None) -> Result:
    """Decode a result of any version; `default_version` stands in for a missing `cniVersion`.

    Every failure is a DecodeFailure (or IncompatibleVersion) naming the field at fault.
    """
    data = load_json(data, "result") if isinstance(data, bytes | str) else data
    if not isinstance(data, dict):
        raise DecodeFailure(f"result must be a JSON object, not {type(data).__name__}")
    version = data.get("cniVersion") or default_version
    if version is None:
        raise DecodeFailure("result has no cniVersion")
    try:
        version = require_supported(version, "result cniVersion")
    except InvalidConfig as exc:  # a result is decoded, not configured
        raise DecodeFailure(exc.msg, exc.details) from None
    try:
        wire: type[_LegacyResult | _CurrentResult] = (
            _LegacyResult if version in _LEGACY_VERSIONS else _CurrentResult
        )
        return wire.validate(data).to_result(version)
    except SchemaError as exc:
        raise DecodeFailure(f"invalid result: {validation.describe(exc)}") from None
