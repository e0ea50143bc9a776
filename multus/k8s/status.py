"""The pod annotation `k8s.v1.cni.cncf.io/network-status`: its entries, building them from CNI results,
and writing and reading the JSON.

Shape of an entry, as the NPWG client library writes it and other tools parse it: `name`, `interface`,
`ips` (bare addresses), `mac`, `mtu` (when known), `default` (only `true`, only on the cluster
network), `dns` (always, `{}` when empty), `gateway` (gateways of default routes), `device-info`. Empty
optional fields are omitted. Keys written by other tools are kept, so rewriting an annotation loses
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from multus.cni.errors import CNIError, DecodeFailure, InvalidAnnotation
from multus.cni.jsontext import MalformedJSON, decode_json
from multus.cni.results import DNS, Result, parse_result
from multus.cni.schema import Field, Record, SchemaError, boolean, integer, list_of, nested, nullable, string
from multus.cni.versions import LATEST_VERSION

# Re-exported (`as`): the orchestrator imports it from here.
from multus.k8s.constants import NETWORK_STATUS_ANNOTATION as NETWORK_STATUS_ANNOTATION  # noqa: PLC0414
from multus.k8s.device_info import DeviceInfo, DeviceInfoJSON
from multus.k8s.json_boundary import describe_validation_error, short


@dataclass(frozen=True)
class NetworkStatus:
    """One sandbox interface of one attachment."""

    name: str
    interface: str | None = None
    ips: tuple[str, ...] = ()
    mac: str | None = None
    mtu: int | None = None
    default: bool = False
    dns: DNS = field(default_factory=DNS)
    gateway: tuple[str, ...] = ()
    device_info: DeviceInfo | None = None
    # Keys this project does not define, from entries other tools wrote; written back unchanged.
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name}
        if self.interface:
            body["interface"] = self.interface
        if self.ips:
            body["ips"] = list(self.ips)
        if self.mac:
            body["mac"] = self.mac
        if self.mtu:
            body["mtu"] = self.mtu
        if self.default:
            body["default"] = True
        body["dns"] = self.dns.to_dict()
        if self.gateway:
            body["gateway"] = list(self.gateway)
        if self.device_info:
            body["device-info"] = self.device_info.to_json()
        for key, value in self.extra.items():
            body.setdefault(key, value)
        return body


def format_network_status(entries: Iterable[NetworkStatus]) -> str:
    """The annotation value: a compact JSON list of the entries, in the given (attachment) order."""
    return json.dumps([entry.to_json() for entry in entries], separators=(",", ":"))


def statuses_from_result(
    result: Result | Mapping[str, Any],
    *,
    network: str,
    interface: str,
    default: bool,
    device_info: DeviceInfo | None = None,
) -> list[NetworkStatus]:
    """The entries for one attachment from its CNI result (read with `multus.cni`'s result parser when
    given as JSON, any version).

    One entry per sandbox interface (an interface with a non-empty `sandbox`), each with the addresses
    whose `interface` index points at it. With no sandbox interface in the result, one entry named
    `interface` (the name the attachment was given) holds every address. The attachment's primary entry,
    the one named `interface` or else the first, takes addresses without an index and, for the cluster
    network (`default`), the `default` mark. Every entry carries the result's DNS and the gateways of its
    default routes (prefix length 0).
    """
    if not isinstance(result, Result):
        try:
            result = parse_result(dict(result), default_version=LATEST_VERSION)
        except CNIError as exc:
            raise DecodeFailure(f"network {network}: the CNI result {exc.msg}", exc.details) from None
    parsed = result  # a 0.1/0.2 result has no interfaces: all its addresses go to the one entry
    gateways = _default_gateways(parsed)
    sandbox = [(index, iface) for index, iface in enumerate(parsed.interfaces) if iface.sandbox]
    if not sandbox:
        addresses = tuple(str(ip.address.ip) for ip in parsed.ips)
        return [
            NetworkStatus(
                network, interface, addresses, None, None, default, parsed.dns, gateways, device_info
            )
        ]

    primary = next((index for index, iface in sandbox if iface.name == interface), sandbox[0][0])
    addresses_by_index: dict[int, list[str]] = {index: [] for index, _ in sandbox}
    for ip in parsed.ips:
        target = primary if ip.interface is None else ip.interface
        # An address on a host-side interface (or a dangling index) is not the pod's.
        if target in addresses_by_index:
            addresses_by_index[target].append(str(ip.address.ip))
    return [
        NetworkStatus(
            name=network,
            interface=iface.name,
            ips=tuple(addresses_by_index[index]),
            mac=iface.mac or None,
            mtu=iface.mtu if iface.mtu and iface.mtu > 0 else None,
            default=default and index == primary,
            dns=parsed.dns,
            gateway=gateways,
            device_info=device_info,
        )
        for index, iface in sandbox
    ]


def _default_gateways(result: Result) -> tuple[str, ...]:
    """Gateways of the default routes. A route without `gw` goes through the gateway of the address of
    its family (the CNI spec's rule, and what host-local's `routes: [{"dst": "0.0.0.0/0"}]` gives)."""
    found = []
    for route in result.routes:
        if not route.is_default:
            continue
        gateway = route.gw or next(
            (
                ip.gateway
                for ip in result.ips
                if ip.gateway is not None and ip.gateway.version == route.family
            ),
            None,
        )
        if gateway is not None:
            found.append(str(gateway))
    return tuple(found)


def parse_network_status(value: str | None) -> list[NetworkStatus]:
    """Read the annotation back, including entries other tools wrote; absent or blank means no entries."""
    if value is None or not value.strip():
        return []
    try:
        entries = decode_json(value)
    except MalformedJSON as exc:
        raise InvalidAnnotation(f"{NETWORK_STATUS_ANNOTATION}: {exc}") from None
    if not isinstance(entries, list):
        raise InvalidAnnotation(f"{NETWORK_STATUS_ANNOTATION}: must be a JSON list, not {short(entries)}")
    return [_parse_entry(entry, index) for index, entry in enumerate(entries)]


def _parse_entry(entry: object, index: int) -> NetworkStatus:
    if not isinstance(entry, dict):
        raise InvalidAnnotation(
            f"{NETWORK_STATUS_ANNOTATION}: entry {index} must be a JSON object, not {short(entry)}"
        )
    try:
        parsed = _StatusEntryJSON.validate(entry)
    except SchemaError as exc:
        raise InvalidAnnotation(
            f"{NETWORK_STATUS_ANNOTATION}: entry {index}: {describe_validation_error(exc)}"
        ) from None
    return NetworkStatus(
        name=parsed.name,
        interface=parsed.interface or None,
        ips=tuple(parsed.ips or ()),
        mac=parsed.mac or None,
        mtu=parsed.mtu or None,
        default=parsed.default,
        dns=parsed.dns.to_dns() if parsed.dns else DNS(),
        gateway=tuple(parsed.gateway or ()),
        device_info=parsed.device_info.to_device_info() if parsed.device_info else None,
        extra=dict(parsed.extra),
    )


_texts = nullable(list_of(string))


class _DnsJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "nameservers": Field(_texts, None),
        "domain": Field(nullable(string), None),
        "search": Field(_texts, None),
        "options": Field(_texts, None),
    }

    nameservers: list[str] | None
    domain: str | None
    search: list[str] | None
    options: list[str] | None

    def to_dns(self) -> DNS:
        return DNS(
            tuple(self.nameservers or ()),
            self.domain or "",
            tuple(self.search or ()),
            tuple(self.options or ()),
        )


class _StatusEntryJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "name": Field(string, ""),
        "interface": Field(nullable(string), None),
        "ips": Field(_texts, None),
        "mac": Field(nullable(string), None),
        "mtu": Field(nullable(integer()), None),
        "default": Field(boolean, False),
        "dns": Field(nullable(nested(_DnsJSON)), None),
        "gateway": Field(_texts, None),
        "device_info": Field(nullable(nested(DeviceInfoJSON)), None, alias="device-info"),
    }
    EXTRA = "allow"

    name: str
    interface: str | None
    ips: list[str] | None
    mac: str | None
    mtu: int | None
    default: bool
    dns: _DnsJSON | None
    gateway: list[str] | None
    device_info: DeviceInfoJSON | None
