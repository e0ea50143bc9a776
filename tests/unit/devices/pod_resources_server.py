"""A pod-resources server (`v1.PodResourcesLister`) on a unix socket, built from the same generated
bindings as the client, for tests without a kubelet. It answers with the pods it is given and records
which methods were called.

`get` says how it answers `Get`: "served" (kubelets from 1.34, or with the KubeletPodResourcesGet gate
on), "unimplemented" (kubelets before 1.27, which have no such method), "disabled" (what
kubelets 1.27 to 1.33 answer with the gate off: a plain error, UNKNOWN) or "denied" (any other failure).
`list_fails` makes `List` fail.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from multus.kubelet.apis.podresources.v1 import api_pb2
from tests.kubelet_grpc import service_handler


def pod_resources(namespace: str, name: str, containers: Mapping[str, Mapping[str, list[str]]]) -> Any:
    """A pod's `PodResources`: for each container, its devices by resource name."""
    return api_pb2.PodResources(
        name=name,
        namespace=namespace,
        containers=[
            api_pb2.ContainerResources(
                name=container,
                devices=[
                    api_pb2.ContainerDevices(resource_name=resource, device_ids=ids)
                    for resource, ids in devices.items()
                ],
            )
            for container, devices in containers.items()
        ],
    )


@dataclass
class Lister:
    pods: list[Any]
    get: str = "served"
    list_fails: bool = False
    calls: list[str] = field(default_factory=list)

    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.append("List")
        if self.list_fails:
            context.abort(grpc.StatusCode.INTERNAL, "listing failed")
        return api_pb2.ListPodResourcesResponse(pod_resources=self.pods)

    def Get(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls.append("Get")
        if self.get == "unimplemented":  # gRPC's own answer for a method the server lacks
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found: v1.PodResourcesLister/Get")
        if self.get == "disabled":
            context.abort(grpc.StatusCode.UNKNOWN, "PodResources API Get method disabled")
        if self.get == "denied":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "not for you")
        for pod in self.pods:
            if (pod.namespace, pod.name) == (request.pod_namespace, request.pod_name):
                return api_pb2.GetPodResourcesResponse(pod_resources=pod)
        # As the kubelet answers for a pod it does not know: a plain error.
        context.abort(
            grpc.StatusCode.UNKNOWN, f"pod {request.pod_name} in namespace {request.pod_namespace} not found"
        )
        raise AssertionError("abort raises")


@contextlib.contextmanager
def short_folder() -> Iterator[Path]:
    """A folder whose sockets' paths fit a unix socket address (108 bytes), unlike pytest's tmp_path."""
    folder = Path(tempfile.mkdtemp(prefix="mpy-pr-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@contextlib.contextmanager
def serving(socket: Path, lister: Lister) -> Iterator[Lister]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    methods = {"List": lister.List, "Get": lister.Get}
    server.add_generic_rpc_handlers([service_handler(api_pb2, "PodResourcesLister", methods)])
    server.add_insecure_port(f"unix://{socket}")
    server.start()
    try:
        yield lister
    finally:
        server.stop(grace=None).wait()
        socket.unlink(missing_ok=True)
