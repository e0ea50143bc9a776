"""The node side's manifests (deploy/node/), upstream Multus v4.3's thick install as test data, and helpers
to read both and to ask the API server's authorizer about the daemon's ServiceAccount.

Upstream's objects below are written from what upstream documents about its install
(`deployments/multus-daemonset-thick.yml`): the names, labels, selector, ClusterRole rules, ConfigMap
key and values, and the DaemonSet's containers, mounts and volumes that these tests compare with ours.
The CRD of that file is left out (the test API server serves ours, from crds/).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.testenv import REPO

DEPLOY = REPO / "deploy"
NODE = DEPLOY / "node"
SERVICE_ACCOUNT = ("kube-system", "multus")

Permission = tuple[str, str, str]  # API group, resource (with /subresource), verb; "*" as RBAC means it


def documents(folder: Path = DEPLOY) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def one(kind: str, folder: Path = NODE) -> dict[str, Any]:
    matching = [doc for _, doc in documents(folder) if doc["kind"] == kind]
    assert len(matching) == 1, f"{len(matching)} {kind} objects in {folder}"
    return matching[0]


def granted(role: dict[str, Any]) -> set[Permission]:
    permissions: set[Permission] = set()
    for rule in role["rules"]:
        assert "resourceNames" not in rule, rule
        assert "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    permissions.add((group, resource, verb))
    return permissions


def allowed(api: client.ApiClient, permission: Permission, namespace: str | None = None) -> bool:
    """Whether the daemon's ServiceAccount may, as the API server's authorizer answers a
    SubjectAccessReview (what `kubectl auth can-i --as` asks, wildcards included); `namespace=None`
    asks across all namespaces."""
    group, resource, verb = permission
    name, _, subresource = resource.partition("/")
    account_namespace, account = SERVICE_ACCOUNT
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{account_namespace}:{account}",
            groups=[
                "system:serviceaccounts",
                f"system:serviceaccounts:{account_namespace}",
                "system:authenticated",
            ],
            resource_attributes=client.V1ResourceAttributes(
                group=group, resource=name, subresource=subresource, verb=verb, namespace=namespace or ""
            ),
        )
    )
    answer = client.AuthorizationV1Api(api).create_subject_access_review(review)
    assert answer.status is not None
    return bool(answer.status.allowed)


def host_path(pod: dict[str, Any], container: dict[str, Any], path: str) -> str | None:
    """The host path a container path of `container` reaches through the pod's hostPath volumes (the
    deepest mount holding it), None when no hostPath volume holds it."""
    hosts = {v["name"]: v["hostPath"]["path"].rstrip("/") or "/" for v in pod["volumes"] if "hostPath" in v}
    path = path.rstrip("/") or "/"
    best: tuple[str, str] | None = None
    for mount in container["volumeMounts"]:
        where = mount["mountPath"].rstrip("/") or "/"
        inside = path == where or path.startswith(where.rstrip("/") + "/")
        if inside and mount["name"] in hosts and (best is None or len(where) > len(best[0])):
            best = (where, hosts[mount["name"]])
    if best is None:
        return None
    where, host = best
    rest = path[len(where) :].lstrip("/")
    return f"{host.rstrip('/')}/{rest}" if rest else host


def config_file(pod: dict[str, Any], container: dict[str, Any], configmap: str) -> str:
    """Where the container sees the ConfigMap's daemon-config.json."""
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name") == configmap)
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    return f"{mount['mountPath'].rstrip('/')}/daemon-config.json"


# Upstream Multus v4.3's thick install -------------------------------------------------------------------

UPSTREAM_LABELS = {"tier": "node", "app": "multus", "name": "multus"}
UPSTREAM_SELECTOR = {"name": "multus"}
UPSTREAM_IMAGE = "ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick"
UPSTREAM_DAEMON_CONFIG: dict[str, Any] = {
    "chrootDir": "/hostroot",
    "cniVersion": "0.3.1",
    "logLevel": "verbose",
    "logToStderr": True,
    "cniConfigDir": "/host/etc/cni/net.d",
    "multusAutoconfigDir": "/host/etc/cni/net.d",
    "multusConfigFile": "auto",
    "socketDir": "/host/run/multus/",
}
UPSTREAM_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["*"], "verbs": ["*"]},
    {"apiGroups": [""], "resources": ["pods", "pods/status"], "verbs": ["get", "list", "update", "watch"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
]
# Upstream's daemon container: host folders (volume, host path, mount path, propagation).
_UPSTREAM_DAEMON_MOUNTS = [
    ("cni", "/etc/cni/net.d", "/host/etc/cni/net.d", None),
    ("cnibin", "/opt/cni/bin", "/opt/cni/bin", None),
    ("host-run", "/run", "/host/run", None),
    ("host-var-lib-cni-multus", "/var/lib/cni/multus", "/var/lib/cni/multus", None),
    ("host-var-lib-kubelet", "/var/lib/kubelet", "/var/lib/kubelet", "HostToContainer"),
    ("host-run-k8s-cni-cncf-io", "/run/k8s.cni.cncf.io", "/run/k8s.cni.cncf.io", None),
    ("host-run-netns", "/run/netns/", "/run/netns", "HostToContainer"),
    ("hostroot", "/", "/hostroot", "HostToContainer"),
    ("multus-conf-dir", "/etc/cni/multus/net.d", "/etc/cni/multus/net.d", None),
]


def _mount(name: str, path: str, propagation: str | None) -> dict[str, Any]:
    mount = {"name": name, "mountPath": path}
    return mount | ({"mountPropagation": propagation} if propagation else {})


def upstream_daemonset() -> dict[str, Any]:
    mounts = [_mount(name, path, propagation) for name, _, path, propagation in _UPSTREAM_DAEMON_MOUNTS]
    mounts.append({"name": "multus-daemon-config", "mountPath": "/etc/cni/net.d/multus.d", "readOnly": True})
    volumes: list[dict[str, Any]] = [
        {"name": name, "hostPath": {"path": host}} for name, host, _, _ in _UPSTREAM_DAEMON_MOUNTS
    ]
    volumes.append(
        {
            "name": "multus-daemon-config",
            "configMap": {
                "name": "multus-daemon-config",
                "items": [{"key": "daemon-config.json", "path": "daemon-config.json"}],
            },
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-multus-ds", "namespace": "kube-system", "labels": UPSTREAM_LABELS},
        "spec": {
            "selector": {"matchLabels": UPSTREAM_SELECTOR},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": UPSTREAM_LABELS},
                "spec": {
                    "hostNetwork": True,
                    "hostPID": True,
                    "tolerations": [
                        {"operator": "Exists", "effect": "NoSchedule"},
                        {"operator": "Exists", "effect": "NoExecute"},
                    ],
                    "serviceAccountName": "multus",
                    "terminationGracePeriodSeconds": 10,
                    "initContainers": [
                        {
                            "name": "install-multus-binary",
                            "image": UPSTREAM_IMAGE,
                            "command": [
                                "/usr/src/multus-cni/bin/install_multus",
                                "-d",
                                "/host/opt/cni/bin",
                                "-t",
                                "thick",
                            ],
                            "securityContext": {"privileged": True},
                            "volumeMounts": [
                                {
                                    "name": "cnibin",
                                    "mountPath": "/host/opt/cni/bin",
                                    "mountPropagation": "Bidirectional",
                                }
                            ],
                        }
                    ],
                    "containers": [
                        {
                            "name": "kube-multus",
                            "image": UPSTREAM_IMAGE,
                            "command": ["/usr/src/multus-cni/bin/multus-daemon"],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "50Mi"},
                                "limits": {"cpu": "100m", "memory": "50Mi"},
                            },
                            "securityContext": {"privileged": True},
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "env": [
                                {
                                    "name": "MULTUS_NODE_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                }
                            ],
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }


def upstream_objects() -> list[dict[str, Any]]:
    """Upstream's ServiceAccount, ClusterRole, ClusterRoleBinding, ConfigMap and DaemonSet."""
    namespace, name = SERVICE_ACCOUNT
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": UPSTREAM_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "multus-daemon-config",
                "namespace": namespace,
                "labels": {"tier": "node", "app": "multus"},
            },
            "data": {"daemon-config.json": json.dumps(UPSTREAM_DAEMON_CONFIG, indent=4)},
        },
        upstream_daemonset(),
    ]
