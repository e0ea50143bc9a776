"""Whether a new pod's network requests can work: the decision behind the optional pod webhook.

A pod passes when its `k8s.v1.cni.cncf.io/networks` and `v1.multus-cni.io/default-network` annotations
parse (with the node's parser), every NAD they name exists and is valid, what the pod requests of a NAD
fits its config (a plugin declares each requested capability; `cni-args` can be merged), namespace
isolation allows each reference, and the interface names come out distinct. These are the checks the
meta-plugin makes at ADD time, with its own functions; failing them here keeps the pod from sitting in
ContainerCreating.

Choices made here:
- A pod in a system namespace gets only the cluster network on the node, so its annotations are not
  checked; the pod is admitted with a warning that they will be ignored.
- Unknown keys in a JSON selection are admitted with a warning (the node ignores them too).
- The cluster network's interface is `eth0`, the name every CRI runtime passes as `CNI_IFNAME`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.usage import NetworkKey
from controller.validation import judge_nad
from multus.cni.errors import CNIError, NetworkForbidden
from multus.k8s.annotations import parse_default_network_annotation, parse_networks_annotation
from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.k8s.delegate_inputs import check_capabilities, with_cni_args
from multus.k8s.interfaces import InterfaceRequest, assign_interface_names
from multus.k8s.nad import InlineConfig, parse_nad
from multus.k8s.namespaces import NamespacePolicy, check_network_access, gets_only_cluster_network
from multus.k8s.selection import NetworkSelection

CLUSTER_IFNAME = "eth0"

logger = logging.getLogger(__name__)

# Reads one NAD from the cluster: the API object, or None when it does not exist.
NetworkFetcher = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class PodPolicy:
    """The node's namespace rules and where its cluster-default NADs live (`multusNamespace`)."""

    namespaces: NamespacePolicy = field(default_factory=NamespacePolicy)
    multus_namespace: str = "kube-system"


@dataclass(frozen=True)
class PodNetworks:
    """What a pod's annotations ask for."""

    selections: tuple[NetworkSelection, ...] = ()
    default_network: NetworkSelection | None = None

    @property
    def references(self) -> list[NetworkKey]:
        """Every NAD named, in order, without repeats."""
        named = [*self.selections, *([self.default_network] if self.default_network else [])]
        return list(dict.fromkeys((selection.namespace, selection.name) for selection in named))


@dataclass(frozen=True)
class PodVerdict:
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.problems


def read_pod_networks(
    annotations: Mapping[str, object], pod_namespace: str, policy: PodPolicy
) -> PodNetworks:
    """Parse the pod's network annotations; raises `InvalidAnnotation` naming the problem."""
    return PodNetworks(
        selections=tuple(parse_networks_annotation(_text(annotations, NETWORKS_ANNOTATION), pod_namespace)),
        default_network=parse_default_network_annotation(
            _text(annotations, DEFAULT_NETWORK_ANNOTATION), policy.multus_namespace
        ),
    )


def networks_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether an update changes what the pod asks of its networks (a CREATE always does): other
    updates of a pod admitted before are not judged again."""
    if old is None:
        return True
    before, after = _annotations(old), _annotations(new)
    return any(before.get(key) != after.get(key) for key in (NETWORKS_ANNOTATION, DEFAULT_NETWORK_ANNOTATION))


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, object]:
    return _mapping(_mapping(pod.get("metadata")).get("annotations"))


def judge_pod_networks(
    pod_namespace: str,
    request: PodNetworks,
    networks: Mapping[NetworkKey, Mapping[str, Any] | None],
    policy: PodPolicy,
) -> PodVerdict:
    """Judge a parsed request against the NADs it names (`networks`: each reference's object or None)."""
    problems: list[str] = []
    warnings: list[str] = []
    for index, selection in enumerate(request.selections):
        where = f"{NETWORKS_ANNOTATION}: element {index} ({selection.reference})"
        network = networks.get((selection.namespace, selection.name))
        problems += _network_problems(where, network) or _request_problems(where, selection, network)
        try:
            check_network_access(pod_namespace, selection.namespace, selection.name, policy.namespaces)
        except NetworkForbidden as error:
            problems.append(f"{where}: {error}")
        if selection.unknown_keys:
            keys = ", ".join(repr(key) for key in selection.unknown_keys)
            warnings.append(f"{where}: unknown keys {keys} are ignored")
    if request.default_network is not None:
        default = request.default_network
        where = f"{DEFAULT_NETWORK_ANNOTATION} ({default.reference})"
        problems += _network_problems(where, networks.get((default.namespace, default.name)))
        try:
            check_network_access(
                pod_namespace,
                default.namespace,
                default.name,
                policy.namespaces,
                also=policy.multus_namespace,
            )
        except NetworkForbidden as error:
            problems.append(f"{where}: {error}")
    try:
        assign_interface_names(
            [
                InterfaceRequest(network="cluster network"),
                *(
                    InterfaceRequest(selection.reference, selection.interface)
                    for selection in request.selections
                ),
            ],
            CLUSTER_IFNAME,
        )
    except CNIError as error:
        problems.append(f"{NETWORKS_ANNOTATION}: {error}")
    return PodVerdict(tuple(problems), tuple(warnings))


async def review_pod(pod: Mapping[str, Any], fetch: NetworkFetcher, policy: PodPolicy) -> PodVerdict:
    """Parse, fetch the NADs named, judge. A failed fetch raises `ClusterUnavailable`."""
    metadata = _mapping(pod.get("metadata"))
    annotations = _mapping(metadata.get("annotations"))
    namespace = metadata.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        return PodVerdict(problems=("the pod has no namespace",))
    if not any(key in annotations for key in (NETWORKS_ANNOTATION, DEFAULT_NETWORK_ANNOTATION)):
        return PodVerdict()
    if gets_only_cluster_network(namespace, policy.namespaces):
        return PodVerdict(
            warnings=(
                f"namespace {namespace!r} is a system namespace: its pods get only the cluster network, "
                "so the network annotations are ignored",
            )
        )
    try:
        request = read_pod_networks(annotations, namespace, policy)
    except CNIError as error:
        return PodVerdict(problems=(str(error),))
    keys = request.references
    found = await asyncio.gather(*(fetch(key_namespace, name) for key_namespace, name in keys))
    return judge_pod_networks(namespace, request, dict(zip(keys, found, strict=True)), policy)


async def review_pod_under_failure_policy(
    pod: Mapping[str, Any], fetch: NetworkFetcher, policy: PodPolicy, *, fail_open: bool
) -> PodVerdict:
    """`review_pod`, with the failure policy deciding when the review itself cannot finish."""
    try:
        return await review_pod(pod, fetch, policy)
    except Exception as error:  # any failure, even a bug of ours, goes to the failure policy
        reason = f"the pod's networks could not be checked: {error}"
        logger.warning(reason)
        if fail_open:
            return PodVerdict(warnings=(f"admitted unchecked: {reason}",))
        return PodVerdict(problems=(reason,))


def _network_problems(where: str, network: Mapping[str, Any] | None) -> list[str]:
    if network is None:
        return [f"{where}: no such NetworkAttachmentDefinition"]
    verdict = judge_nad(network)
    return [f"{where}: the NetworkAttachmentDefinition is invalid: {problem}" for problem in verdict.problems]


def _request_problems(
    where: str, selection: NetworkSelection, network: Mapping[str, Any] | None
) -> list[str]:
    """What the node refuses when it merges the pod's requests into a valid NAD's inline config."""
    if network is None:
        return []
    try:
        nad = parse_nad(network)
        if isinstance(nad.config, InlineConfig):
            check_capabilities(selection, with_cni_args(nad.config.config, selection.cni_args))
    except CNIError as error:
        return [f"{where}: {error}"]
    return []


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(annotations: Mapping[str, object], key: str) -> str | None:
    value = annotations.get(key)
    return value if isinstance(value, str) else None
