"""What the orchestrator may ask of the cluster, and nothing more.

The orchestrator never talks to Kubernetes itself: it asks a `ClusterView` for the pod, for a
NetworkAttachmentDefinition, to write the pod's network-status and to record an Event. Implementations:
`FileView` (YAML files in a folder, no cluster), `ApiView` (the real API server, direct calls); the node
daemon adds a watch cache in front of `ApiView`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# Re-exported (`as`): the orchestrator imports it from here.
from multus.k8s.constants import MIRROR_ANNOTATION as MIRROR_ANNOTATION  # noqa: PLC0414

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Pod:
    """The parts of a pod the meta-plugin reads."""

    namespace: str
    name: str
    uid: str
    annotations: dict[str, str] = field(default_factory=dict)
    node_name: str = ""
    terminating: bool = False  # it has a deletionTimestamp

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Pod:
        meta = obj.get("metadata") or {}
        return cls(
            namespace=meta.get("namespace") or "default",
            name=meta.get("name") or "",
            uid=meta.get("uid") or "",
            annotations=dict(meta.get("annotations") or {}),
            node_name=(obj.get("spec") or {}).get("nodeName") or "",
            terminating=bool(meta.get("deletionTimestamp")),
        )


class ClusterView(Protocol):
    """Reads return None for an object that does not exist; an unreachable cluster raises
    `ClusterUnavailable`. NADs are returned as the API's JSON object (a dict)."""

    async def get_pod(self, namespace: str, name: str, *, fresh: bool = False) -> Pod | None:
        """The pod; with `fresh`, as the cluster has it now (a view with a cache asks past it)."""

    async def get_network(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def write_network_status(self, pod: Pod, status: str | None) -> None:
        """Store `status` (the annotation's JSON text) on the pod, or remove the annotation (None),
        unless the pod's UID changed."""

    async def record_event(self, pod: Pod, kind: EventType, reason: str, message: str) -> None: ...

    async def close(self) -> None:
        """Release connections; call before the event loop ends."""
