"""One element of the JSON form of `k8s.v1.cni.cncf.io/networks`, validated into a `NetworkSelection`.

Types are strict, as Go's decoder is: `"80"` is not a port and `1.0` is not an integer. Keys with a `.`
are vendor extensions and are ignored; other unknown keys are ignored too (upstream Multus and the
client library do, and other NPWG implementations add their own), but reported in `unknown_keys`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from multus.cni.errors import InvalidAnnotation
from multus.cni.names import ifname_error
from multus.cni.schema import (
    Field,
    Record,
    SchemaError,
    any_dict,
    integer,
    invalid,
    list_of,
    nested,
    nullable,
    string,
    then,
)
from multus.k8s.addresses import normalize_guid, normalize_mac, parse_ip, parse_ip_or_cidr
from multus.k8s.json_boundary import describe_validation_error, short
from multus.k8s.names import dns1123_label_problem
from multus.k8s.selection import Bandwidth, NetworkSelection, PortMapping

_PROTOCOLS = ("tcp", "udp", "sctp")
# Upstream decodes rates into a Go int; a larger value could never reach the bandwidth plugin.
_MAX_RATE = 2**63 - 1


def _label(value: str) -> str:
    problem = dns1123_label_problem(value)
    if problem:
        raise invalid(problem)
    return value


def _label_or_empty(value: str) -> str:
    return _label(value) if value else value


def _interface_or_empty(value: str) -> str:
    problem = ifname_error(value) if value else None
    if problem:
        raise invalid(f"is not a usable interface name: {problem}")
    return value


def _ip_or_cidr(value: str) -> str:
    if parse_ip_or_cidr(value) is None:
        raise invalid(f"{short(value)} is not an IP address or address/prefix")
    return value


def _ip(value: str) -> str:
    if parse_ip(value) is None:
        raise invalid(f"{short(value)} is not an IP address")
    return value


def _ip_or_empty(value: str) -> str:
    return _ip(value) if value else value


def _mac_or_empty(value: str) -> str:
    if value and normalize_mac(value) is None:
        raise invalid(f"{short(value)} is not a MAC address (6 hex octets separated by ':' or '-')")
    return value


def _guid_or_empty(value: str) -> str:
    if value and normalize_guid(value) is None:
        raise invalid(f"{short(value)} is not an InfiniBand GUID (8 hex octets separated by ':' or '-')")
    return value


def _protocol_or_empty(value: str) -> str:
    if value and value.lower() not in _PROTOCOLS:
        raise invalid(f"{short(value)} is not one of TCP, UDP, SCTP")
    return value


_dns_label = then(string, _label)
_optional_dns_label = nullable(then(string, _label_or_empty))
_optional_interface = nullable(then(string, _interface_or_empty))
_optional_ip = nullable(then(string, _ip_or_empty))
_port = integer(ge=1, le=65535)
_rate = integer(ge=0, le=_MAX_RATE)


class _PortMappingJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "host_port": Field(_port, alias="hostPort"),
        "container_port": Field(_port, alias="containerPort"),
        "protocol": Field(nullable(then(string, _protocol_or_empty)), None),
        "host_ip": Field(_optional_ip, None, alias="hostIP"),
    }

    host_port: int
    container_port: int
    protocol: str | None
    host_ip: str | None

    def to_port_mapping(self) -> PortMapping:
        return PortMapping(
            host_port=self.host_port,
            container_port=self.container_port,
            protocol=(self.protocol or "tcp").lower(),
            host_ip=self.host_ip or None,
        )


class _BandwidthJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "ingress_rate": Field(_rate, 0, alias="ingressRate"),
        "ingress_burst": Field(_rate, 0, alias="ingressBurst"),
        "egress_rate": Field(_rate, 0, alias="egressRate"),
        "egress_burst": Field(_rate, 0, alias="egressBurst"),
    }

    ingress_rate: int
    ingress_burst: int
    egress_rate: int
    egress_burst: int

    def to_bandwidth(self) -> Bandwidth:
        return Bandwidth(self.ingress_rate, self.ingress_burst, self.egress_rate, self.egress_burst)


class _SelectionJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "name": Field(_dns_label),
        "namespace": Field(_optional_dns_label, None),
        "interface": Field(_optional_interface, None),
        "interface_request": Field(_optional_interface, None, alias="interfaceRequest"),
        "ips": Field(nullable(list_of(then(string, _ip_or_cidr))), None),
        "mac": Field(nullable(then(string, _mac_or_empty)), None),
        "infiniband_guid": Field(nullable(then(string, _guid_or_empty)), None, alias="infiniband-guid"),
        "port_mappings": Field(nullable(list_of(nested(_PortMappingJSON))), None, alias="portMappings"),
        "bandwidth": Field(nullable(nested(_BandwidthJSON)), None),
        "cni_args": Field(nullable(any_dict), None, alias="cni-args"),
        "default_route": Field(nullable(list_of(then(string, _ip))), None, alias="default-route"),
        "ipam_claim_reference": Field(nullable(string), None, alias="ipam-claim-reference"),
        "device_id": Field(nullable(string), None, alias="deviceID"),
    }
    EXTRA = "allow"

    name: str
    namespace: str | None
    interface: str | None
    interface_request: str | None
    ips: list[str] | None
    mac: str | None
    infiniband_guid: str | None
    port_mappings: list[_PortMappingJSON] | None
    bandwidth: _BandwidthJSON | None
    cni_args: dict[str, Any] | None
    default_route: list[str] | None
    ipam_claim_reference: str | None
    device_id: str | None


def selection_from_json(
    element: object, *, index: int, annotation: str, default_namespace: str
) -> NetworkSelection:
    """Validate element `index` of the annotation's JSON list; a missing namespace is `default_namespace`."""
    if not isinstance(element, dict):
        raise InvalidAnnotation(f"{annotation}: element {index} must be a JSON object, not {short(element)}")
    try:
        parsed = _SelectionJSON.validate(element)
    except SchemaError as exc:
        raise InvalidAnnotation(f"{annotation}: element {index}: {describe_validation_error(exc)}") from None
    gateways = tuple(parsed.default_route or ())
    _check_one_gateway_per_family(gateways, index=index, annotation=annotation)
    mac = normalize_mac(parsed.mac) if parsed.mac else None
    guid = normalize_guid(parsed.infiniband_guid) if parsed.infiniband_guid else None
    return NetworkSelection(
        name=parsed.name,
        namespace=parsed.namespace or default_namespace,
        # The deprecated alias only counts when the current key is absent, as upstream reads it.
        interface=parsed.interface or parsed.interface_request or None,
        ips=tuple(parsed.ips or ()),
        mac=mac,
        infiniband_guid=guid,
        port_mappings=tuple(mapping.to_port_mapping() for mapping in parsed.port_mappings or ()),
        bandwidth=_requested_bandwidth(parsed.bandwidth),
        cni_args=parsed.cni_args or None,
        default_route=gateways,
        ipam_claim_reference=parsed.ipam_claim_reference or None,
        device_id=parsed.device_id or None,
        unknown_keys=tuple(sorted(key for key in parsed.extra if "." not in key)),
    )


def _requested_bandwidth(bandwidth: _BandwidthJSON | None) -> Bandwidth | None:
    requested = bandwidth.to_bandwidth() if bandwidth else None
    # All zeros shapes nothing; treating it as no request spares the pod a capability check.
    return requested if requested != Bandwidth() else None


def _check_one_gateway_per_family(gateways: tuple[str, ...], *, index: int, annotation: str) -> None:
    for version in (4, 6):
        same_family = [gateway for gateway in gateways if _version(gateway) == version]
        if len(same_family) > 1:
            raise InvalidAnnotation(
                f'{annotation}: element {index}: "default-route" has {len(same_family)} IPv{version} '
                f"gateways ({', '.join(same_family)}); at most one per IP family (no ECMP)"
            )


def _version(gateway: str) -> int:
    parsed = parse_ip(gateway)
    assert parsed is not None, "validated by the record"
    return parsed.version
