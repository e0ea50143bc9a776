"""The names Kubernetes knows the project's objects by, each defined once: annotations, the NAD resource."""

# NPWG pod annotations: the networks a pod asks for, and what it got (written by the meta-plugin).
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
# On a NAD: the device-plugin resource whose device the delegate gets.
RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
# Multus's own pod annotation: a cluster network other than the node's default.
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
# On a static pod's mirror: the runtime knows the static pod's UID, not the mirror's.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
# Every annotation the node side reads starts with one of these.
NODE_READ_ANNOTATION_PREFIXES = ("k8s.v1.cni.cncf.io/", "v1.multus-cni.io/", MIRROR_ANNOTATION)

# The NetworkAttachmentDefinition custom resource.
NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"
NAD_KIND = "NetworkAttachmentDefinition"
