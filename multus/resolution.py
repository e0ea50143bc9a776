"""From a pod to the list of attachments to make: which networks, which configs, which interface names.

The cluster network comes first (the runtime's `CNI_IFNAME`, usually `eth0`), then `defaultNetworks`,
then the pod's `k8s.v1.cni.cncf.io/networks` annotation. Nothing here runs a plugin or touches the pod's
namespace beyond asking which interface names are taken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multus.cni.errors import CNIError, InvalidConfig, NetworkNotFound
from multus.config import MultusConfig
from multus.devices import DeviceAllocations
from multus.k8s.annotations import parse_default_network_annotation, parse_networks_annotation
from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.k8s.delegate_inputs import (
    capability_args,
    check_capabilities,
    extra_cni_args,
    with_cni_args,
    with_device_id,
)
from multus.k8s.device_info import device_info_for
from multus.k8s.interfaces import InterfaceRequest, assign_interface_names
from multus.k8s.nad import ConfDirConfig, InlineConfig, parse_nad
from multus.k8s.names import is_dns1123_label
from multus.k8s.namespaces import check_network_access, gets_only_cluster_network
from multus.k8s.selection import NetworkSelection
from multus.k8s.view import ClusterView, Pod
from multus.kubelet.device_info_files import read_device_info

CONF_SUFFIXES = (".conf", ".conflist", ".json")


@dataclass
class PlannedAttachment:
    """One network to attach: the exact config its delegates get, and what goes with it."""

    network: str  # `ns/name` for a NAD, the CNI config's `name` for a file-based network
    config: dict[str, Any]
    is_default: bool = False
    selection: NetworkSelection | None = None
    ifname: str = ""
    capability_args: dict[str, Any] = field(default_factory=dict)
    cni_args: list[tuple[str, str]] = field(default_factory=list)
    device_info: dict[str, Any] | None = None

    @property
    def default_route(self) -> tuple[str, ...]:
        return self.selection.default_route if self.selection else ()


async def resolve_attachments(
    config: MultusConfig,
    view: ClusterView | None,
    pod: Pod | None,
    cluster_ifname: str,
    taken: set[str],
    *,
    devices: DeviceAllocations | None = None,
) -> list[PlannedAttachment]:
    """Every attachment of the pod, in order, with interface names assigned and checked against `taken`."""
    attachments = [await _cluster_network(config, view, pod)]
    if pod is None or not gets_only_cluster_network(pod.namespace, config.namespace_policy):
        for name in config.default_networks:
            attachments.append(await _named_network(config, view, name))
        if not config.cluster_network:
            attachments.extend(_file_attachment(delegate, "delegates") for delegate in config.delegates[1:])
        if pod is not None:
            for selection in parse_networks_annotation(
                pod.annotations.get(NETWORKS_ANNOTATION), pod.namespace
            ):
                attachments.append(await resolve_selection(config, view, pod, selection, devices))
    names = assign_interface_names(
        [InterfaceRequest(a.network, a.selection.interface if a.selection else None) for a in attachments],
        cluster_ifname,
        taken,
    )
    for attachment, ifname in zip(attachments, names, strict=True):
        attachment.ifname = ifname
    return attachments


async def _cluster_network(
    config: MultusConfig, view: ClusterView | None, pod: Pod | None
) -> PlannedAttachment:
    # A pod in a system namespace gets the configured cluster network: its annotations are not read.
    if (
        pod is not None
        and view is not None
        and not gets_only_cluster_network(pod.namespace, config.namespace_policy)
    ):
        selection = parse_default_network_annotation(
            pod.annotations.get(DEFAULT_NETWORK_ANNOTATION), config.multus_namespace
        )
        if selection is not None:
            check_network_access(
                pod.namespace,
                selection.namespace,
                selection.name,
                config.namespace_policy,
                also=config.multus_namespace,
            )
            attachment = await _nad_attachment(config, view, selection)
            attachment.is_default = True
            return attachment
    if config.cluster_network:
        attachment = await _named_network(config, view, config.cluster_network)
    elif config.delegates:
        attachment = _file_attachment(config.delegates[0], "delegates")
    else:
        raise InvalidConfig(
            "network config: set clusterNetwork or delegates: the pod needs a cluster network"
        )
    attachment.is_default = True
    return attachment


async def _named_network(config: MultusConfig, view: ClusterView | None, name: str) -> PlannedAttachment:
    """`clusterNetwork`/`defaultNetworks` entries, tried in upstream's order: a NAD in `multusNamespace`,
    a config file in `confDir` with that `name`, a directory (its first config file), a file path."""
    if view is not None and is_dns1123_label(name):
        selection = NetworkSelection(name=name, namespace=config.multus_namespace)
        if await view.get_network(selection.namespace, selection.name) is not None:
            return await _nad_attachment(config, view, selection)
    by_name = find_conf_by_name(config.conf_dir, name)
    if by_name is not None:
        path, loaded = by_name
        return _file_attachment(loaded, str(path))
    path = Path(name)
    if path.is_dir():
        first = first_conf_file(path)
        if first is None:
            raise NetworkNotFound(f"network {name!r}: directory {path} holds no CNI config file")
        return _file_attachment(load_conf_file(first), str(first))
    if path.is_absolute() and path.is_file():
        return _file_attachment(load_conf_file(path), str(path))
    raise NetworkNotFound(
        f"network {name!r}: no NetworkAttachmentDefinition {config.multus_namespace}/{name}, "
        f"no config named {name!r} in {config.conf_dir}, and no such file or directory"
    )


async def resolve_selection(
    config: MultusConfig,
    view: ClusterView | None,
    pod: Pod,
    selection: NetworkSelection,
    devices: DeviceAllocations | None,
) -> PlannedAttachment:
    """One selection of the pod's annotation: its NAD's config, with a device of the pod's when the NAD
    names a resource. Its interface name is the caller's to give."""
    check_network_access(pod.namespace, selection.namespace, selection.name, config.namespace_policy)
    attachment = await _nad_attachment(config, view, selection, pod, devices)
    check_capabilities(selection, attachment.config)
    return attachment


async def _nad_attachment(
    config: MultusConfig,
    view: ClusterView | None,
    selection: NetworkSelection,
    pod: Pod | None = None,
    devices: DeviceAllocations | None = None,
) -> PlannedAttachment:
    obj = None if view is None else await view.get_network(selection.namespace, selection.name)
    if obj is None:
        raise NetworkNotFound(f"network {selection.reference}: NetworkAttachmentDefinition not found")
    nad = parse_nad(obj)
    if isinstance(nad.config, InlineConfig):
        delegate = nad.config.config
    else:
        delegate = _conf_dir_config(config.conf_dir, nad.config, selection.reference)
    device_id = None
    if nad.resource_name and devices is not None and pod is not None:
        device_id = await devices.take(pod, nad.resource_name)
    device_id = device_id or selection.device_id
    info = None
    if device_id:
        delegate = with_device_id(delegate, device_id)
        # What the device plugin wrote for the device tells more than its ID.
        written = read_device_info(nad.resource_name, device_id) if nad.resource_name else None
        info = written or device_info_for(device_id)
    return PlannedAttachment(
        network=selection.reference,
        config=with_cni_args(delegate, selection.cni_args),
        selection=selection,
        capability_args=capability_args(selection, device_id),
        cni_args=extra_cni_args(selection),
        device_info=info.to_json() if info else None,
    )


def _conf_dir_config(conf_dir: Path, marker: ConfDirConfig, reference: str) -> dict[str, Any]:
    found = find_conf_by_name(conf_dir, marker.network_name)
    if found is None:
        raise NetworkNotFound(
            f"network {reference}: the NetworkAttachmentDefinition has no config and {conf_dir} holds no "
            f"config named {marker.network_name!r}"
        )
    return found[1]


def _file_attachment(delegate: dict[str, Any], source: str) -> PlannedAttachment:
    name = delegate.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidConfig(f"{source}: the CNI config has no 'name'")
    return PlannedAttachment(network=name, config=delegate)


def conf_files(folder: Path) -> list[Path]:
    """CNI config files of a folder in libcni's order (by file name)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in CONF_SUFFIXES and p.is_file())


def first_conf_file(folder: Path) -> Path | None:
    files = conf_files(folder)
    return files[0] if files else None


def find_conf_by_name(folder: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    """The first config file of `folder` whose JSON `name` is `name`, and its config; unreadable files
    are skipped."""
    for path in conf_files(folder):
        try:
            loaded = load_conf_file(path)
        except CNIError:
            continue
        if loaded.get("name") == name:
            return path, loaded
    return None


def load_conf_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise InvalidConfig(f"cannot read CNI config {path}", str(error)) from error
    if not isinstance(loaded, dict) or not ("type" in loaded or "plugins" in loaded):
        raise InvalidConfig(
            f"CNI config {path} is neither a config (with 'type') nor a list (with 'plugins')"
        )
    return loaded
