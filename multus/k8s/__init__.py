"""The Kubernetes side of the NPWG spec: pod annotations, NetworkAttachmentDefinitions, network-status.

Everything exported here is pure: no API calls, no netlink, no processes. Every malformed input raises
a `multus.cni.errors.CNIError` subclass whose message names the annotation or object and the field.
"""

from multus.k8s.annotations import (
    check_default_route_requests,
    format_networks_annotation,
    parse_default_network_annotation,
    parse_networks_annotation,
)
from multus.k8s.constants import (
    DEFAULT_NETWORK_ANNOTATION,
    NETWORK_STATUS_ANNOTATION,
    NETWORKS_ANNOTATION,
    RESOURCE_NAME_ANNOTATION,
)
from multus.k8s.delegate_inputs import (
    capability_args,
    check_capabilities,
    declared_capabilities,
    extra_cni_args,
    missing_capabilities,
    requested_capabilities,
    with_cni_args,
    with_device_id,
)
from multus.k8s.device_info import (
    DEVICE_INFO_VERSION,
    DeviceInfo,
    MemifDevice,
    PciDevice,
    VdpaDevice,
    VhostUserDevice,
    device_info_for,
    is_pci_address,
    parse_device_info,
)
from multus.k8s.interfaces import InterfaceRequest, assign_interface_names
from multus.k8s.nad import (
    ConfDirConfig,
    InlineConfig,
    NetworkAttachmentDefinition,
    check_nad_name,
    config_plugins,
    nad_name_problem,
    parse_nad,
    parse_nad_config,
)
from multus.k8s.names import is_dns1123_label
from multus.k8s.namespaces import (
    NamespacePolicy,
    check_network_access,
    gets_only_cluster_network,
    may_use_network,
    parse_global_namespaces,
)
from multus.k8s.selection import Bandwidth, NetworkSelection, PortMapping
from multus.k8s.status import NetworkStatus, format_network_status, parse_network_status, statuses_from_result

__all__ = [
    "DEFAULT_NETWORK_ANNOTATION",
    "DEVICE_INFO_VERSION",
    "NETWORKS_ANNOTATION",
    "NETWORK_STATUS_ANNOTATION",
    "RESOURCE_NAME_ANNOTATION",
    "Bandwidth",
    "ConfDirConfig",
    "DeviceInfo",
    "InlineConfig",
    "InterfaceRequest",
    "MemifDevice",
    "NamespacePolicy",
    "NetworkAttachmentDefinition",
    "NetworkSelection",
    "NetworkStatus",
    "PciDevice",
    "PortMapping",
    "VdpaDevice",
    "VhostUserDevice",
    "assign_interface_names",
    "capability_args",
    "check_capabilities",
    "check_default_route_requests",
    "check_nad_name",
    "check_network_access",
    "config_plugins",
    "declared_capabilities",
    "device_info_for",
    "extra_cni_args",
    "format_network_status",
    "format_networks_annotation",
    "gets_only_cluster_network",
    "is_dns1123_label",
    "is_pci_address",
    "may_use_network",
    "missing_capabilities",
    "nad_name_problem",
    "parse_default_network_annotation",
    "parse_device_info",
    "parse_global_namespaces",
    "parse_nad",
    "parse_nad_config",
    "parse_network_status",
    "parse_networks_annotation",
    "requested_capabilities",
    "statuses_from_result",
    "with_cni_args",
    "with_device_id",
]
