"""One element of the JSON form of `k8s.v1.cni.cncf.io/networks`, validated into a `NetworkSelection`.

Types are strict, as Go's decoder is: `"80"` is not a port and `1.0` is not an integer. Keys with a `.`
are vendor extensions and are ignored; other unknown keys are ignored too (upstream Multus and the
client library do, and other NPWG implementations add their own), but reported in `unknown_keys`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from multus.cni.errors import InvalidAnnotation
from multus.cni.names import ifname_error
from multus.k8s.addresses import normalize_guid, normalize_mac, parse_ip, parse_ip_or_cidr
from multus.k8s.json_boundary import describe_validation_error, invalid, short
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


DnsLabel = Annotated[str, AfterValidator(_label)]
OptionalDnsLabel = Annotated[str, AfterValidator(_label_or_empty)]
OptionalInterfaceName = Annotated[str, AfterValidator(_interface_or_empty)]
IPOrCIDR = Annotated[str, AfterValidator(_ip_or_cidr)]
IP = Annotated[str, AfterValidator(_ip)]
OptionalIP = Annotated[str, AfterValidator(_ip_or_empty)]
OptionalMac = Annotated[str, AfterValidator(_mac_or_empty)]
OptionalGuid = Annotated[str, AfterValidator(_guid_or_empty)]
OptionalProtocol = Annotated[str, AfterValidator(_protocol_or_empty)]
Port = Annotated[int, Field(ge=1, le=65535)]
Rate = Annotated[int, Field(ge=0, le=_MAX_RATE)]


class _PortMappingJSON(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)

    host_port: Port = Field(alias="hostPort")
    container_port: Port = Field(alias="containerPort")
    protocol: OptionalProtocol | None = None
    host_ip: OptionalIP | None = Field(None, alias="hostIP")

    def to_port_mapping(self) -> PortMapping:
        return PortMapping(
            host_port=self.host_port,
            container_port=self.container_port,
            protocol=(self.protocol or "tcp").lower(),
            host_ip=self.host_ip or None,
        )


class _BandwidthJSON(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)

    ingress_rate: Rate = Field(0, alias="ingressRate")
    ingress_burst: Rate = Field(0, alias="ingressBurst")
    egress_rate: Rate = Field(0, alias="egressRate")
    egress_burst: Rate = Field(0, alias="egressBurst")

    def to_bandwidth(self) -> Bandwidth:
        return Bandwidth(self.ingress_rate, self.ingress_burst, self.egress_rate, self.egress_burst)


class _SelectionJSON(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", defer_build=True)

    name: DnsLabel
    namespace: OptionalDnsLabel | None = None
    interface: OptionalInterfaceName | None = None
    interface_request: OptionalInterfaceName | None = Field(None, alias="interfaceRequest")
    ips: list[IPOrCIDR] | None = None
    mac: OptionalMac | None = None
    infiniband_guid: OptionalGuid | None = Field(None, alias="infiniband-guid")
    port_mappings: list[_PortMappingJSON] | None = Field(None, alias="portMappings")
    bandwidth: _BandwidthJSON | None = None
    cni_args: dict[str, Any] | None = Field(None, alias="cni-args")
    default_route: list[IP] | None = Field(None, alias="default-route")
    ipam_claim_reference: str | None = Field(None, alias="ipam-claim-reference")
    device_id: str | None = Field(None, alias="deviceID")


def selection_from_json(
    element: object, *, index: int, annotation: str, default_namespace: str
) -> NetworkSelection:
    """Validate element `index` of the annotation's JSON list; a missing namespace is `default_namespace`."""
    if not isinstance(element, dict):
        raise InvalidAnnotation(f"{annotation}: element {index} must be a JSON object, not {short(element)}")
    try:
        parsed = _SelectionJSON.model_validate(element)
    except ValidationError as exc:
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
        unknown_keys=tuple(sorted(key for key in parsed.model_extra or {} if "." not in key)),
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
    assert parsed is not None, "validated by the model"
    return parsed.version
