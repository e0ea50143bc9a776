"""The URL path of each object and list the project reads or writes."""

from __future__ import annotations

from multus.k8s.constants import NAD_GROUP, NAD_PLURAL, NAD_VERSION

NODES_PATH = "/api/v1/nodes"
_NAD_API = f"/apis/{NAD_GROUP}/{NAD_VERSION}"
_WEBHOOK_CONFIGURATIONS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def pods_path(namespace: str | None = None) -> str:
    """The pods of `namespace`, or of every namespace (None)."""
    return "/api/v1/pods" if namespace is None else f"/api/v1/namespaces/{namespace}/pods"


def pod_path(namespace: str, name: str) -> str:
    return f"{pods_path(namespace)}/{name}"


def pod_status_path(namespace: str, name: str) -> str:
    return f"{pod_path(namespace, name)}/status"


def events_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/events"


def config_map_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


def nads_path(namespace: str | None = None) -> str:
    """The NetworkAttachmentDefinitions of `namespace`, or of every namespace (None)."""
    if namespace is None:
        return f"{_NAD_API}/{NAD_PLURAL}"
    return f"{_NAD_API}/namespaces/{namespace}/{NAD_PLURAL}"


def nad_path(namespace: str, name: str) -> str:
    return f"{nads_path(namespace)}/{name}"


def nad_status_path(namespace: str, name: str) -> str:
    return f"{nad_path(namespace, name)}/status"


def webhook_configuration_path(name: str | None = None) -> str:
    """One ValidatingWebhookConfiguration, or (None) the collection to create one in."""
    return _WEBHOOK_CONFIGURATIONS if name is None else f"{_WEBHOOK_CONFIGURATIONS}/{name}"
