"""Which devices the kubelet's device plugins allocated to a pod, for NADs with a `resourceName`.

Asked of the kubelet's pod-resources API (`multus/kubelet/pod_resources.py`); when its socket is absent
or the call fails, read from the device manager's checkpoint file (`multus/kubelet/checkpoint.py`). A
pod's devices of one resource are sorted, as upstream Multus sorts them, and each attachment of the
resource takes the next one, so two attachments of one SR-IOV resource get two different virtual
functions.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Collection
from pathlib import Path

from multus.k8s.view import Pod
from multus.kubelet.checkpoint import DEFAULT_CHECKPOINT, checkpoint_devices
from multus.kubelet.pod_resources import DEFAULT_SOCKET, PodResourcesError, pod_devices
from multus.logs import fields, get_logger

log = get_logger("devices")

# A pod's devices by resource name; called in a worker thread, as it may wait for the kubelet.
DeviceLookup = Callable[[Pod], dict[str, list[str]]]


class DeviceAllocations:
    """The free devices of the pods of one request. A pod's are looked up on its first `take`: most
    pods use no device, and their ADD should not ask the kubelet."""

    def __init__(self, lookup: DeviceLookup) -> None:
        self._lookup = lookup
        self._free: dict[tuple[str, str, str], dict[str, list[str]]] = {}

    @classmethod
    def from_kubelet(
        cls, socket: Path = DEFAULT_SOCKET, checkpoint: Path = DEFAULT_CHECKPOINT
    ) -> DeviceAllocations:
        return cls(functools.partial(kubelet_devices, socket, checkpoint))

    def excluding(self, taken: Collection[str]) -> DeviceAllocations:
        """The same pods' devices but `taken` (held by attachments made before)."""
        lookup = self._lookup

        def rest(pod: Pod) -> dict[str, list[str]]:
            return {name: [i for i in ids if i not in taken] for name, ids in lookup(pod).items()}

        return DeviceAllocations(rest)

    async def take(self, pod: Pod, resource: str) -> str | None:
        """The next free device of `resource` allocated to `pod`; None when none is left."""
        key = (pod.namespace, pod.name, pod.uid)
        if key not in self._free:
            found = await asyncio.to_thread(self._lookup, pod)
            self._free[key] = {name: sorted(ids) for name, ids in found.items()}
        free = self._free[key].get(resource)
        return free.pop(0) if free else None


def kubelet_devices(socket: Path, checkpoint: Path, pod: Pod) -> dict[str, list[str]]:
    """The pod's devices from the pod-resources API at `socket`, else from the checkpoint file."""
    if socket.exists():
        try:
            return pod_devices(socket, pod.namespace, pod.name)
        except PodResourcesError as error:
            log.warning(
                "the kubelet's pod-resources API failed: reading its device checkpoint instead",
                extra=fields(pod=f"{pod.namespace}/{pod.name}", error=str(error), checkpoint=str(checkpoint)),
            )
    return checkpoint_devices(checkpoint, pod.uid)
