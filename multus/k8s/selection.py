"""What a pod asks of one network attachment: the parsed, validated form of one annotation element."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PortMapping:
    host_port: int
    container_port: int
    # Lower case, as containerd hands it to the portmap plugin.
    protocol: str = "tcp"
    host_ip: str | None = None


@dataclass(frozen=True)
class Bandwidth:
    """Rates and bursts in bits, as the bandwidth plugin's runtimeConfig takes them; 0 means unset."""

    ingress_rate: int = 0
    ingress_burst: int = 0
    egress_rate: int = 0
    egress_burst: int = 0


@dataclass(frozen=True)
class NetworkSelection:
    """One attachment: the NAD it names and every per-attachment request made with it.

    Empty requests are normalised away: an absent field, JSON `null`, `""`, `[]`, `{}` and a bandwidth of
    all zeros read as "not requested", so consumers test one thing.
    """

    name: str
    namespace: str
    interface: str | None = None
    ips: tuple[str, ...] = ()
    mac: str | None = None
    infiniband_guid: str | None = None
    port_mappings: tuple[PortMapping, ...] = ()
    bandwidth: Bandwidth | None = None
    cni_args: Mapping[str, Any] | None = field(default=None, hash=False)
    default_route: tuple[str, ...] = ()
    ipam_claim_reference: str | None = None
    device_id: str | None = None
    # Keys without a '.' that no version of the NPWG spec defines: ignored, but kept so the caller can
    # warn about a likely typo ("interfce").
    unknown_keys: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """`namespace/name`, how messages and network-status name the network."""
        return f"{self.namespace}/{self.name}"
