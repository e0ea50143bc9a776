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
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any, ClassVar, TypeVar

from multus.cni import validation
from multus.cni.errors import DecodeFailure, InvalidConfig
from multus.cni.jsontext import load_json
from multus.cni.schema import (
    Check,
    Field,
    Invalid,
    Problem,
    Record,
    SchemaError,
    integer,
    list_of,
    nested,
    nullable,
    run_check,
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


# Reading a result: the daemon reads one on every delegate's reply, so the fields are read into the
# dataclasses above directly (with schema's checks and problems), not through schema Records first.

D = TypeVar("D")
_ABSENT = object()
_int = nullable(integer())
_strings = tuple_of(string)
# (attribute, JSON key, the attribute's name when that is another key accepted, check) of each field
_Keys = list[tuple[str, str, str | None, Check]]


def _keys(checks: dict[str, Check], aliases: dict[str, str] | None = None) -> _Keys:
    aliases = aliases or {}
    return [
        (attr, aliases.get(attr, attr), attr if attr in aliases else None, check)
        for attr, check in checks.items()
    ]


def _read(
    value: Mapping[str, Any], keys: _Keys, values: dict[str, Any], required: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """`values` with each field `value` has put through its check, by attribute name; unknown keys are
    ignored. SchemaError with every problem, a `required` field not there being one."""
    problems: list[Problem] = []
    for attr, json_key, by_name, item in keys:
        key, given = json_key, value.get(json_key, _ABSENT)
        if given is _ABSENT and by_name is not None and by_name in value:
            key, given = by_name, value[by_name]
        if given is _ABSENT:
            if attr in required:
                problems.append({"type": "missing", "loc": (key,), "msg": "Field required", "input": value})
            continue
        try:
            values[attr] = item(given)
        except ValueError:
            run_check(item, given, (key,), problems)  # again, to note every problem in it
    if problems:
        raise SchemaError(problems)
    return values


def _from_json(cls: type[D], checks: dict[str, Check], aliases: dict[str, str] | None = None) -> Check:
    """The check turning a JSON object into the dataclass `cls` (whose defaults are plain values): each
    field under its JSON key (`aliases` maps the attribute names that differ) or its attribute name, put
    through its check; fields not there take their defaults and unknown keys are ignored."""
    name = cls.__name__
    keys = _keys(checks, aliases)
    defaults = {each.name: each.default for each in fields(cls)}  # type: ignore[arg-type]
    required = frozenset(attr for attr, default in defaults.items() if default is MISSING)

    def check(value: Any) -> D:
        if type(value) is not dict and not isinstance(value, Mapping):
            if isinstance(value, cls):
                return value
            raise Invalid(
                "dataclass_type",
                f"Input should be a dictionary or an instance of {name}",
                value,
                {"class_name": name},
            )
        values = _read(value, keys, defaults.copy(), required)
        # Set as the dataclass's __init__ would: its object.__setattr__ per field costs four times as much,
        # a third of the parse of a typical result.
        made = object.__new__(cls)
        made.__dict__.update(values)
        return made

    return check


_interface_json = _from_json(
    Interface,
    {"name": string, "mac": string, "sandbox": string, "mtu": _int, "socket_path": string, "pci_id": string},
    {"socket_path": "socketPath", "pci_id": "pciID"},
)
_ip_json = _from_json(
    IPConfig, {"address": _address_with_prefix, "gateway": _optional_address, "interface": _int}
)
_route_json = _from_json(
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
_dns_json = _from_json(
    DNS, {"nameservers": _strings, "domain": string, "search": _strings, "options": _strings}
)


def _optional_list(item: Check) -> Check:
    """`nullable(list_of(item))`, trying the items without noting problems first: a reply is seldom
    refused, and this saves a fifth of the parse of a typical one."""
    noting = nullable(list_of(item))

    def check(value: Any) -> list[Any] | None:
        if type(value) is list:
            try:
                return [item(element) for element in value]
            except ValueError:
                pass
        return noting(value)  # type: ignore[no-any-return]

    return check


class _LegacyIPConfig(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "ip": Field(_address_with_prefix),
        "gateway": Field(_optional_address, None),
        "routes": Field(nullable(list_of(_route_json)), None),
    }

    ip: IPInterface
    gateway: IPAddress | None
    routes: list[Route] | None


# The fields of a result's JSON object, 0.1.0 and 0.2.0 (LEGACY) and later (CURRENT).
_LEGACY = _keys(
    {
        "ip4": nullable(nested(_LegacyIPConfig)),
        "ip6": nullable(nested(_LegacyIPConfig)),
        "dns": nullable(_dns_json),
    }
)
_CURRENT = _keys(
    {
        "interfaces": _optional_list(_interface_json),
        "ips": _optional_list(_ip_json),
        "routes": _optional_list(_route_json),
        "dns": nullable(_dns_json),
    }
)
_LEGACY_VERSIONS = frozenset(
    version for version in SUPPORTED_VERSIONS if parse_version(version) < _FIRST_WITH_INTERFACES
)


def _legacy_result(wire: dict[str, Any], version: str) -> Result:
    ips: list[IPConfig] = []
    routes: list[Route] = []
    legacy: _LegacyIPConfig | None
    for legacy in (wire.get("ip4"), wire.get("ip6")):
        if legacy is not None:
            ips.append(IPConfig(legacy.ip, legacy.gateway))
            routes += legacy.routes or []
    return Result(version, (), tuple(ips), tuple(routes), wire.get("dns") or DNS())


def _current_result(wire: dict[str, Any], version: str) -> Result:
    return Result(
        version,
        tuple(wire.get("interfaces") or ()),
        tuple(wire.get("ips") or ()),
        tuple(wire.get("routes") or ()),
        wire.get("dns") or DNS(),
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
        if version in _LEGACY_VERSIONS:
            return _legacy_result(_read(data, _LEGACY, {}), version)
        return _current_result(_read(data, _CURRENT, {}), version)
    except SchemaError as exc:
        raise DecodeFailure(f"invalid result: {validation.describe(exc)}") from None
