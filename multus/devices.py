"""Which devices the kubelet's device plugins allocated to a pod, for NADs with a `resourceName`.

Read from the kubelet's device-manager checkpoint, a JSON file the kubelet keeps on every node. Each
attachment of a resource takes the next device allocated to the pod for it, so two attachments of one
SR-IOV resource get two different virtual functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_CHECKPOINT = Path("/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint")


class DeviceAllocations:
    def __init__(self, allocations: dict[tuple[str, str], list[str]]) -> None:
        self._free = {key: list(ids) for key, ids in allocations.items()}

    @classmethod
    def from_checkpoint(cls, path: Path = DEFAULT_CHECKPOINT) -> DeviceAllocations:
        """The pod → resource → devices map of the checkpoint; an absent or unreadable file means none."""
        try:
            data = json.loads(path.read_bytes()).get("Data") or {}
        except (OSError, ValueError, AttributeError):
            return cls({})
        allocations: dict[tuple[str, str], list[str]] = {}
        for entry in data.get("PodDeviceEntries") or []:
            if not isinstance(entry, dict):
                continue
            key = (str(entry.get("PodUID", "")), str(entry.get("ResourceName", "")))
            allocations.setdefault(key, []).extend(_device_ids(entry.get("DeviceIDs")))
        return cls(allocations)

    def take(self, pod_uid: str, resource: str) -> str | None:
        free = self._free.get((pod_uid, resource))
        return free.pop(0) if free else None


def _device_ids(value: Any) -> list[str]:
    # Kubelets before 1.20 wrote a plain list; later ones group the IDs by NUMA node.
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for node in sorted(value) for v in (value[node] or [])]
    return []
