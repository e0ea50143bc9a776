"""The checks of NetworkAttachmentDefinitions and of the pods that name them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from multus.cni.errors import CNIError, UnsupportedField
from multus.cni.jsontext import MalformedJSON, decode_json
from multus.config import MultusConfig
from multus.k8s.annotations import parse_default_network_annotation, parse_networks_annotation
from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.k8s.delegate_inputs import (
    check_capabilities,
    declared_capabilities,
    missing_capabilities,
    requested_capabilities,
)
from multus.k8s.nad import InlineConfig, NetworkAttachmentDefinition, parse_nad
from multus.k8s.namespaces import gets_only_cluster_network
from multus.preflight.finding import Finding, Severity

# A finished pod has no sandbox left: nothing is added or deleted for it any more.
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
NetworkKey = tuple[str, str]


def network_findings(
    networks: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]], multus: MultusConfig
) -> list[Finding]:
    """NADs refused here, pods whose networks fail or are dropped here, and what each NAD's pods may
    request of it."""
    nads: dict[NetworkKey, NetworkAttachmentDefinition] = {}
    refused: dict[NetworkKey, tuple[str, Mapping[str, Any]]] = {}
    for obj in networks:
        metadata = obj.get("metadata") or {}
        key = (str(metadata.get("namespace")), str(metadata.get("name")))
        try:
            nad = parse_nad(obj)
            if isinstance(nad.config, InlineConfig):
                declared_capabilities(nad.config.config)  # malformed capabilities fail every ADD
        except CNIError as error:
            refused[key] = (error.msg.removeprefix(f"NetworkAttachmentDefinition {key[0]}/{key[1]}: "), obj)
        else:
            nads[key] = nad
    users: dict[NetworkKey, list[str]] = defaultdict(list)
    found = [finding for pod in pods for finding in _pod_findings(pod, nads, users, multus)]
    for (namespace, name), (why, obj) in refused.items():
        named_by = users.get((namespace, name))
        change = f"multus-py refuses it: {why}"
        if named_by:
            change += f"; the pods naming it cannot start: {', '.join(named_by)}"
        found.append(
            Finding(Severity.ERROR, f"NetworkAttachmentDefinition {namespace}/{name}", change, _fix_for(obj))
        )
    for (namespace, name), nad in nads.items():
        if isinstance(nad.config, InlineConfig):
            declared = ", ".join(sorted(declared_capabilities(nad.config.config))) or "no capability"
            found.append(
                Finding(
                    Severity.NOTE,
                    f"NetworkAttachmentDefinition {namespace}/{name}",
                    f"its plugins declare {declared}: a pod requesting any other capability but ips and "
                    "mac (which also go through CNI_ARGS) on it cannot start here; upstream dropped such "
                    "requests",
                )
            )
    return found


def _fix_for(nad: Mapping[str, Any]) -> str:
    try:
        config = decode_json(str((nad.get("spec") or {}).get("config")))
    except MalformedJSON:
        config = None
    if isinstance(config, dict) and "type" in config and "plugins" in config:
        return "keep 'type' and drop 'plugins' to run what upstream ran (it ignored the list), or the reverse"
    return "fix spec.config"


def _pod_findings(
    pod: Mapping[str, Any],
    nads: Mapping[NetworkKey, NetworkAttachmentDefinition],
    users: dict[NetworkKey, list[str]],
    multus: MultusConfig,
) -> list[Finding]:
    """What changes for one pod; the NADs it names are added to `users`."""
    metadata, spec, status = (pod.get(part) or {} for part in ("metadata", "spec", "status"))
    if spec.get("hostNetwork") or status.get("phase") in FINISHED_PHASES:
        return []  # no CNI ADD is made for it
    namespace, annotations = str(metadata.get("namespace")), metadata.get("annotations") or {}
    networks, default = annotations.get(NETWORKS_ANNOTATION), annotations.get(DEFAULT_NETWORK_ANNOTATION)
    if not (networks or default):
        return []
    subject = f"Pod {namespace}/{metadata.get('name')}"
    if gets_only_cluster_network(namespace, multus.namespace_policy):
        return [
            Finding(
                Severity.ERROR,
                subject,
                f"namespace {namespace} is in systemNamespaces: here the pod gets only the cluster network, "
                "not the networks its annotations name (upstream compares systemNamespaces with the pod's "
                "name, so it attached them)",
                f"take {namespace} out of systemNamespaces in the daemon config, or move the pod",
            )
        ]
    try:
        selections = parse_networks_annotation(networks, namespace)
        parse_default_network_annotation(default, multus.multus_namespace)
    except CNIError as error:
        change = f"multus-py refuses its annotation, so the pod cannot start: {error.msg}"
        return [Finding(Severity.ERROR, subject, change, "fix the annotation")]
    found = []
    for selection in selections:
        key = (selection.namespace, selection.name)
        users[key].append(f"{namespace}/{metadata.get('name')}")
        nad = nads.get(key)
        if nad is None or not isinstance(nad.config, InlineConfig):
            continue  # missing (it fails upstream too) or on the node's disk: nothing to compare here
        config = nad.config.config
        try:
            check_capabilities(selection, config)
        except UnsupportedField as error:
            found.append(
                Finding(
                    Severity.ERROR,
                    subject,
                    f"its ADD fails here, where upstream dropped the request: {error.msg}",
                    f"add a plugin declaring the capability to {selection.reference} (portmap: "
                    "portMappings, bandwidth: bandwidth), or remove the request",
                )
            )
        through_args = (
            requested_capabilities(selection)
            - declared_capabilities(config)
            - missing_capabilities(selection, config)
        )
        if through_args:
            found.append(
                Finding(
                    Severity.NOTE,
                    subject,
                    f"network {selection.reference}: {' and '.join(sorted(through_args))} reach its plugins "
                    "as IP=/MAC= in CNI_ARGS only, as upstream passes them; here the ADD fails if the pod "
                    "does not get them (upstream started it with what the plugins gave)",
                    "none if its plugins read them (static IPAM, host-local and tuning do)",
                )
            )
    return found
