"""The kubelet's device-manager checkpoint: a JSON file beside the device plugins' sockets that names, per
pod UID, container and resource, the devices allocated. Every kubelet writes it; the pod-resources API
(`pod_resources.py`) is asked first, this file is the fallback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFAULT_CHECKPOINT = Path("/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint")


def checkpoint_devices(path: Path, pod_uid: str) -> dict[str, list[str]]:
    """The devices allocated to the pod's containers, by resource; an absent or unreadable file means
    none."""
    try:
        data = json.loads(path.read_bytes()).get("Data") or {}
        entries = data.get("PodDeviceEntries") or []
    except (OSError, ValueError, AttributeError):
        return {}
    devices: dict[str, list[str]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("PodUID", "")) == pod_uid:
            resource = str(entry.get("ResourceName", ""))
            devices.setdefault(resource, []).extend(_device_ids(entry.get("DeviceIDs")))
    return devices


def _device_ids(value: Any) -> list[str]:
    # Kubelets before 1.20 wrote a plain list; later ones group the IDs by NUMA node.
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for ids in value.values() for v in (ids or [])]
    return []
