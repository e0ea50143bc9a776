"""Namespace rules: which NADs a pod may use, and which pods get only the cluster network.

Upstream behaviour kept: without `globalNamespaces`, `default` is the one global namespace; setting
`globalNamespaces` replaces that list (name `default` in it to keep it global). The system-namespace
test compares the pod's namespace, where upstream compares the pod's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from multus.cni.errors import NetworkForbidden

DEFAULT_GLOBAL_NAMESPACES = frozenset({"default"})
DEFAULT_SYSTEM_NAMESPACES = frozenset({"kube-system"})


@dataclass(frozen=True)
class NamespacePolicy:
    """The multus config keys `namespaceIsolation`, `globalNamespaces` and `systemNamespaces`."""

    isolation: bool = False
    global_namespaces: frozenset[str] = DEFAULT_GLOBAL_NAMESPACES
    system_namespaces: frozenset[str] = DEFAULT_SYSTEM_NAMESPACES


def parse_global_namespaces(value: str | None) -> frozenset[str]:
    """`globalNamespaces` as upstream writes it, a comma list (`"default, shared"`); unset or blank keeps
    the default."""
    if value is None or not value.strip():
        return DEFAULT_GLOBAL_NAMESPACES
    return frozenset(item.strip() for item in value.split(",") if item.strip())


def may_use_network(
    pod_namespace: str, network_namespace: str, policy: NamespacePolicy, *, also: str | None = None
) -> bool:
    """Under isolation a pod may use NADs of its own namespace and of the global namespaces only, plus
    `also` where the caller allows one more."""
    return (
        not policy.isolation
        or network_namespace in (pod_namespace, also)
        or network_namespace in policy.global_namespaces
    )


def check_network_access(
    pod_namespace: str,
    network_namespace: str,
    network_name: str,
    policy: NamespacePolicy,
    *,
    also: str | None = None,
) -> None:
    """Every network a pod names passes here. The default-network override passes `multusNamespace` as
    `also`: its bare names are looked up there, among the cluster networks the administrator offers."""
    if not may_use_network(pod_namespace, network_namespace, policy, also=also):
        allowed = ", ".join(sorted({pod_namespace, *policy.global_namespaces, *([also] if also else [])}))
        raise NetworkForbidden(
            f"namespace isolation: a pod in namespace {pod_namespace!r} may not use network "
            f"{network_namespace}/{network_name}; allowed namespaces: {allowed}"
        )


def gets_only_cluster_network(pod_namespace: str, policy: NamespacePolicy) -> bool:
    """Pods in a system namespace get the cluster network and nothing else (no annotation, no defaults)."""
    return pod_namespace in policy.system_namespaces
