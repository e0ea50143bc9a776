"""The kubelet's pod-resources API (v1, `v1.PodResourcesLister` on a unix socket): which devices its
device plugins allocated to a pod's containers.

`Get` asks about one pod. Kubelets that do not serve it (before 1.27, or with the KubeletPodResourcesGet
feature gate off, the default before 1.34) answer UNIMPLEMENTED or UNKNOWN, and `List`, every pod of the
node, is asked instead: upstream Multus always asks `List`. The kubelet answers a `Get` for a pod it does
not know with UNKNOWN too, and `List` then finds nothing for it.

grpc is imported on the first call, not with this module: importing it takes longer than an ADD's own
work, and only pods whose networks name a device resource need it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multus.kubelet.apis.podresources.v1.api_pb2 import PodResources

SERVICE = "PodResourcesLister"
DEFAULT_SOCKET = Path("/var/lib/kubelet/pod-resources/kubelet.sock")
TIMEOUT_SECONDS = 10.0  # for Get and List together; upstream gives each call 10 s
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # upstream's bound on an answer: List holds every pod of the node


class PodResourcesError(Exception):
    """The API did not answer; the message says which socket and why."""


def pod_devices(
    socket: Path, namespace: str, name: str, timeout: float = TIMEOUT_SECONDS
) -> dict[str, list[str]]:
    """The devices allocated to the pod's containers, by resource name, in the kubelet's order."""
    import grpc  # noqa: PLC0415 - see the module's docstring

    from multus.kubelet.apis.podresources.v1 import api_pb2  # noqa: PLC0415
    from multus.kubelet.grpc_calls import unary_call  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    options = [("grpc.max_receive_message_length", MAX_ANSWER_BYTES)]
    try:
        with grpc.insecure_channel(f"unix://{socket}", options=options) as channel:
            get, list_all = (unary_call(channel, api_pb2, SERVICE, method) for method in ("Get", "List"))
            request = api_pb2.GetPodResourcesRequest(pod_name=name, pod_namespace=namespace)
            try:
                answer: api_pb2.GetPodResourcesResponse = get(request, timeout=timeout)
                return _devices([answer.pod_resources])
            except grpc.RpcError as error:
                if error.code() not in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNKNOWN):
                    raise
            remaining = max(deadline - time.monotonic(), 0.0)
            listed: api_pb2.ListPodResourcesResponse = list_all(
                api_pb2.ListPodResourcesRequest(), timeout=remaining
            )
            return _devices(
                pod for pod in listed.pod_resources if (pod.namespace, pod.name) == (namespace, name)
            )
    except grpc.RpcError as error:
        raise PodResourcesError(f"{socket}: {error.code().name}: {error.details()}") from None


def _devices(pods: Iterable[PodResources]) -> dict[str, list[str]]:
    devices: dict[str, list[str]] = {}
    for pod in pods:
        for container in pod.containers:
            for allocated in container.devices:
                devices.setdefault(allocated.resource_name, []).extend(allocated.device_ids)
    return devices
