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
    """Free devices per (pod UID, resource). Built from a mapping, or from the checkpoint file, which is
    then read on the first `take`: most pods use no device, and their ADD should not read it."""

    def __init__(
        self, allocations: dict[tuple[str, str], list[str]] | None = None, source: Path | None = None
    ) -> None:
        self._free = None if allocations is None else {key: list(ids) for key, ids in allocations.items()}
        self._source = source

    @classmethod
    def from_checkpoint(cls, path: Path = DEFAULT_CHECKPOINT) -> DeviceAllocations:
        return cls(source=path)

    def take(self, pod_uid: str, resource: str) -> str | None:
        if self._free is None:
            self._free = _read_checkpoint(self._source or DEFAULT_CHECKPOINT)
        free = self._free.get((pod_uid, resource))
        return free.pop(0) if free else None


def _read_checkpoint(path: Path) -> dict[tuple[str, str], list[str]]:
    """The pod → resource → devices map of the checkpoint; an absent or unreadable file means none."""
    try:
        data = json.loads(path.read_bytes()).get("Data") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    allocations: dict[tuple[str, str], list[str]] = {}
    for entry in data.get("PodDeviceEntries") or []:
        if not isinstance(entry, dict):
            continue
        key = (str(entry.get("PodUID", "")), str(entry.get("ResourceName", "")))
        allocations.setdefault(key, []).extend(_device_ids(entry.get("DeviceIDs")))
    return allocations


def _device_ids(value: Any) -> list[str]:
    # Kubelets before 1.20 wrote a plain list; later ones group the IDs by NUMA node.
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for node in sorted(value) for v in (value[node] or [])]
    return []
