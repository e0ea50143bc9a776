"""What a delegate plugin receives from a pod's selection: runtimeConfig capability args, extra CNI_ARGS,
and edits to its config (`cni-args`, the allocated device).

The capability rule follows libcni and the CNI conventions: a runtimeConfig key reaches only plugins that
declare it in `capabilities`, and a request that no plugin of the attachment declares fails the ADD
instead of being dropped silently. `ips` and `mac` are the exception: like upstream Multus, they also go
to every plugin as `IP=`/`MAC=` in CNI_ARGS, where static IPAM, host-local, bridge, macvlan and tuning
read them, so they need no declared capability; whether the delegates honoured them is checked on what
the ADD gave instead (`check_requests_met`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from multus.cni.errors import InvalidConfig, UnsupportedField
from multus.cni.results import Result
from multus.k8s.addresses import bare_address, normalize_mac
from multus.k8s.nad import config_plugins
from multus.k8s.selection import NetworkSelection, PortMapping

# runtimeConfig key -> the annotation field that requests it, for error messages.
_REQUESTED_BY = {
    "ips": "ips",
    "mac": "mac",
    "infinibandGUID": "infiniband-guid",
    "portMappings": "portMappings",
    "bandwidth": "bandwidth",
    "deviceID": "deviceID",
}
# Requests that reach plugins through CNI_ARGS as well, declared or not (see `extra_cni_args`).
THROUGH_CNI_ARGS = frozenset({"ips", "mac"})


def capability_args(selection: NetworkSelection, device_id: str | None = None) -> dict[str, Any]:
    """The runtimeConfig entries the selection asks for, keyed by capability name.

    `device_id` is the device the device plugin allocated for the NAD's resource; like upstream, it wins
    over the annotation's own `deviceID`.
    """
    args: dict[str, Any] = {}
    if selection.ips:
        args["ips"] = list(selection.ips)
    if selection.mac:
        args["mac"] = selection.mac
    if selection.infiniband_guid:
        args["infinibandGUID"] = selection.infiniband_guid
    if selection.port_mappings:
        args["portMappings"] = [_port_mapping_json(mapping) for mapping in selection.port_mappings]
    if selection.bandwidth:
        bandwidth = selection.bandwidth
        args["bandwidth"] = {
            "ingressRate": bandwidth.ingress_rate,
            "ingressBurst": bandwidth.ingress_burst,
            "egressRate": bandwidth.egress_rate,
            "egressBurst": bandwidth.egress_burst,
        }
    chosen_device = device_id or selection.device_id
    if chosen_device:
        args["deviceID"] = chosen_device
    return args


def _port_mapping_json(mapping: PortMapping) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "hostPort": mapping.host_port,
        "containerPort": mapping.container_port,
        "protocol": mapping.protocol,
    }
    if mapping.host_ip:
        entry["hostIP"] = mapping.host_ip
    return entry


def extra_cni_args(selection: NetworkSelection) -> list[tuple[str, str]]:
    """`IP=` and `MAC=` for CNI_ARGS, as upstream Multus adds them for plugins that read requests there."""
    pairs: list[tuple[str, str]] = []
    if selection.ips:
        pairs.append(("IP", ",".join(selection.ips)))
    if selection.mac:
        pairs.append(("MAC", selection.mac))
    return pairs


def requested_capabilities(selection: NetworkSelection) -> frozenset[str]:
    """The capabilities the pod itself asks for (a device-plugin device is not a request of the pod)."""
    return frozenset(capability_args(selection))


def declared_capabilities(config: dict[str, Any]) -> frozenset[str]:
    """Capabilities set to true by any plugin of a single config or a config list."""
    declared: set[str] = set()
    for index, plugin in enumerate(config_plugins(config)):
        capabilities = plugin.get("capabilities")
        if capabilities is None:
            continue
        if not isinstance(capabilities, Mapping):
            raise InvalidConfig(f"plugin {index} ({plugin['type']}): 'capabilities' must be an object")
        declared.update(name for name, enabled in capabilities.items() if enabled is True)
    return frozenset(declared)


def missing_capabilities(selection: NetworkSelection, config: dict[str, Any]) -> frozenset[str]:
    """Requested capabilities that no plugin of `config` declares and that CNI_ARGS does not carry."""
    return requested_capabilities(selection) - declared_capabilities(config) - THROUGH_CNI_ARGS


def check_capabilities(selection: NetworkSelection, config: dict[str, Any]) -> None:
    """Raise `UnsupportedField` when the selection requests a capability no plugin of `config` declares."""
    missing = sorted(missing_capabilities(selection, config))
    if missing:
        fields = ", ".join(f'"{_REQUESTED_BY[name]}" (capability {name})' for name in missing)
        raise UnsupportedField(
            f"network {selection.reference}: the pod requests {fields}, but no plugin of the network's "
            'config declares it in "capabilities"'
        )


def check_requests_met(selection: NetworkSelection, ifname: str, result: Result, mac: str | None) -> None:
    """Raise `UnsupportedField` when the attachment's ADD did not give the `ips` (compared as addresses,
    prefix or not) or the `mac` the selection asks for; `mac` is what the interface has (None: unknown).
    Upstream hands the pod whatever the plugins chose instead."""
    given = {str(ip.address.ip) for ip in result.ips}
    unmet = []
    if any(bare_address(requested) not in given for requested in selection.ips):
        has = ", ".join(str(ip.address) for ip in result.ips) or "no address"
        unmet.append(f'"ips" asks for {", ".join(selection.ips)} and the result has {has}')
    if selection.mac and normalize_mac(mac or "") != selection.mac:
        unmet.append(f'"mac" asks for {selection.mac} and {ifname} has {mac or "no MAC"}')
    if unmet:
        raise UnsupportedField(
            f"network {selection.reference} ({ifname}): the delegates did not honour the pod's request: "
            + "; ".join(unmet)
        )


def with_cni_args(config: dict[str, Any], cni_args: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of `config` with `cni_args` merged into `args.cni` of every plugin; the annotation wins."""
    merged = copy.deepcopy(config)
    if not cni_args:
        return merged
    for index, plugin in enumerate(config_plugins(merged)):
        args = _object_member(plugin, "args", f"plugin {index} ({plugin['type']})")
        cni = _object_member(args, "cni", f"plugin {index} ({plugin['type']}): 'args'")
        cni.update(copy.deepcopy(dict(cni_args)))
    return merged


def _object_member(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    member = parent.get(key)
    if member is None:
        member = parent[key] = {}
    if not isinstance(member, dict):
        raise InvalidConfig(f"{where}: {key!r} must be an object to take the pod's cni-args")
    return member


def with_device_id(config: dict[str, Any], device_id: str) -> dict[str, Any]:
    """A copy of `config` naming the allocated device in every plugin.

    `deviceID` is what SR-IOV style plugins read; `pciBusID` is what host-device reads, and upstream
    Multus sets both.
    """
    updated = copy.deepcopy(config)
    for plugin in config_plugins(updated):
        plugin["deviceID"] = device_id
        plugin["pciBusID"] = device_id
    return updated
