"""A device plugin (the kubelet's device plugin API v1beta1) advertising a few made-up devices of one
resource, as an SR-IOV device plugin advertises virtual functions: IDs that look like PCI addresses.

It serves `DevicePlugin` on a unix socket in the kubelet's device-plugins folder and registers there
with the kubelet. `Allocate` records what the kubelet allocated and writes a device-info file for each
device (NPWG device-info spec) where device plugins write theirs. `stop()` ends its server, removes its
socket and the files it wrote, and the folders it made for them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from multus.kubelet.device_info_files import DEVICE_PLUGIN_INFO_DIR, device_info_path
from multus.kubelet.grpc_calls import unary_call
from tests.kubelet_grpc import service_handler
from tests.runtimes.deviceplugin.v1beta1 import api_pb2

API_VERSION = "v1beta1"
KUBELET_SOCKET = "kubelet.sock"  # the kubelet's registration socket, in its device-plugins folder


def device_info(device_id: str) -> dict[str, Any]:
    """What the plugin writes for a device: more than its ID tells, so a reader of the file is seen."""
    return {
        "type": "pci",
        "version": "1.1.0",
        "pci": {"pci-address": device_id, "pf-pci-address": "0000:03:00.0"},
    }


@dataclass
class DevicePlugin:
    resource: str
    device_ids: list[str]
    folder: Path  # the kubelet's device-plugins folder, as this host sees it
    endpoint: str  # the plugin's socket, a file name in `folder`
    info_dir: Path = DEVICE_PLUGIN_INFO_DIR
    allocated: list[list[str]] = field(default_factory=list)  # per container, in the kubelet's calls
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: grpc.Server | None = None
    _written: list[Path] = field(default_factory=list)
    _made: list[Path] = field(default_factory=list)

    def GetDevicePluginOptions(self, request: Any, context: Any) -> Any:
        return api_pb2.DevicePluginOptions()

    def ListAndWatch(self, request: Any, context: Any) -> Iterator[Any]:
        yield api_pb2.ListAndWatchResponse(
            devices=[api_pb2.Device(ID=device, health="Healthy") for device in self.device_ids]
        )
        # The kubelet keeps the stream open: the devices stay as they are until either side ends it.
        while context.is_active() and not self._stopping.wait(0.5):
            pass

    def Allocate(self, request: Any, context: Any) -> Any:
        responses = []
        for container in request.container_requests:
            ids = list(container.devices_ids)
            self.allocated.append(ids)
            for device in ids:
                self._write_device_info(device)
            responses.append(api_pb2.ContainerAllocateResponse(envs={"EXAMPLE_DEVICES": ",".join(ids)}))
        return api_pb2.AllocateResponse(container_responses=responses)

    def _write_device_info(self, device: str) -> None:
        missing = [folder for folder in (self.info_dir, *self.info_dir.parents) if not folder.exists()]
        self.info_dir.mkdir(parents=True, exist_ok=True)
        self._made.extend(missing)  # deepest first: the order to remove them in
        path = device_info_path(self.resource, device, self.info_dir)
        path.write_text(json.dumps(device_info(device)))
        self._written.append(path)

    def start(self) -> DevicePlugin:
        """Serve, then register with the kubelet, which then asks for the devices."""
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4))
        # What the kubelet calls with the default options: no preferred allocation, no pre-start hook.
        methods = {
            "GetDevicePluginOptions": self.GetDevicePluginOptions,
            "ListAndWatch": self.ListAndWatch,
            "Allocate": self.Allocate,
        }
        self._server.add_generic_rpc_handlers([service_handler(api_pb2, "DevicePlugin", methods)])
        # Bound in a short folder, then moved: a socket's path is at most 107 bytes when bound, and the
        # kubelet's folder of a test run may be longer; connecting to the moved socket works all the same.
        with tempfile.TemporaryDirectory(prefix="mpy-dp-") as short:
            self._server.add_insecure_port(f"unix://{short}/plugin.sock")
            os.rename(f"{short}/plugin.sock", self.folder / self.endpoint)
        self._server.start()
        try:
            with grpc.insecure_channel(f"unix://{self.folder / KUBELET_SOCKET}") as channel:
                request = api_pb2.RegisterRequest(
                    version=API_VERSION,
                    endpoint=self.endpoint,
                    resource_name=self.resource,
                    options=api_pb2.DevicePluginOptions(),
                )
                register = unary_call(channel, api_pb2, "Registration", "Register")
                register(request, timeout=30, wait_for_ready=True)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None
        (self.folder / self.endpoint).unlink(missing_ok=True)
        for path in self._written:
            path.unlink(missing_ok=True)
        for folder in self._made:
            with contextlib.suppress(OSError):  # another writer's files are in it: it stays
                folder.rmdir()


@contextlib.contextmanager
def running(resource: str, device_ids: list[str], folder: Path, endpoint: str) -> Iterator[DevicePlugin]:
    plugin = DevicePlugin(resource, device_ids, folder, endpoint).start()
    try:
        yield plugin
    finally:
        plugin.stop()
