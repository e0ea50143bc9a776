"""Which pods use which NAD, read from the pods' `k8s.v1.cni.cncf.io/network-status` annotation.

The meta-plugin writes that annotation once every attachment of a pod succeeded, naming each NAD
network `namespace/name` (the cluster network too, when it is a NAD). A pod counts as a user of a NAD
while it exists and has not finished: a Succeeded or Failed pod has had its sandbox torn down.

Choices where the specs are silent: a malformed annotation counts as no use (the controller cannot know
better than the node that wrote it), and a pod attached twice to one NAD counts once.

Only each entry's `name` is read, not the whole entry with `multus.k8s.status.parse_network_status`: that
parser refuses the annotation for any odd field another tool wrote, and an attachment missed here
would let deletion protection release a NAD a pod still uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from multus.cni.jsontext import MalformedJSON, decode_json
from multus.k8s.constants import NETWORK_STATUS_ANNOTATION
from multus.k8s.names import is_dns1123_label

FINISHED_PHASES = frozenset({"Succeeded", "Failed"})

# A NAD as `(namespace, name)`, and a pod as `namespace/name`.
NetworkKey = tuple[str, str]
PodReference = str


@dataclass(frozen=True)
class Usage:
    """How many pods use a NAD, and the first few of them by name."""

    count: int = 0
    pods: tuple[PodReference, ...] = ()


def networks_in_use(pod: Mapping[str, object]) -> dict[NetworkKey, PodReference]:
    """The NADs a pod is attached to, each mapped to the pod: one entry of the usage index."""
    metadata = pod.get("metadata")
    status = pod.get("status")
    if not isinstance(metadata, Mapping):
        return {}
    phase = status.get("phase") if isinstance(status, Mapping) else None
    if isinstance(phase, str) and phase in FINISHED_PHASES:
        return {}
    annotations = metadata.get("annotations")
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not isinstance(annotations, Mapping) or not isinstance(namespace, str) or not isinstance(name, str):
        return {}
    reference = f"{namespace}/{name}"
    return {key: reference for key in attached_networks(annotations.get(NETWORK_STATUS_ANNOTATION))}


def attached_networks(network_status: object) -> list[NetworkKey]:
    """The NADs named in a network-status annotation, in order, without repeats."""
    if not isinstance(network_status, str):
        return []
    try:
        entries = decode_json(network_status)
    except MalformedJSON:
        return []
    if not isinstance(entries, list):
        return []
    keys: list[NetworkKey] = []
    for entry in entries:
        key = _network_key(entry.get("name") if isinstance(entry, dict) else None)
        if key is not None and key not in keys:
            keys.append(key)
    return keys


def summarise(pods: Iterable[PodReference], listed: int) -> Usage:
    """The count of distinct pods and the first `listed` of them in name order."""
    distinct = sorted(set(pods))
    return Usage(count=len(distinct), pods=tuple(distinct[:listed]))


def _network_key(name: object) -> NetworkKey | None:
    # A cluster network that is not a NAD is named by its CNI config name, which has no '/'.
    if not isinstance(name, str):
        return None
    namespace, slash, network = name.partition("/")
    if not slash or not is_dns1123_label(namespace) or not is_dns1123_label(network):
        return None
    return namespace, network
