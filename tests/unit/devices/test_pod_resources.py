"""Devices from the kubelet's pod-resources API, against a real gRPC server on a unix socket: `Get` where
it is served, `List` where it is not, and the device checkpoint when the API is absent or fails."""

from __future__ import annotations

import asyncio
import json
import socket as sockets
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus.devices import DeviceAllocations
from multus.k8s.view import Pod
from multus.kubelet.pod_resources import PodResourcesError, pod_devices
from tests.unit.devices.pod_resources_server import Lister, pod_resources, serving, short_folder

VF = "example.com/vf"
WEB = Pod(namespace="shop", name="web", uid="uid-web")
# The pod's devices in two containers, and another pod's, in the kubelet's (unsorted) order.
PODS = [
    pod_resources("shop", "other", {"app": {VF: ["0000:03:00.9"]}}),
    pod_resources(
        "shop",
        "web",
        {
            "app": {VF: ["0000:03:00.5", "0000:03:00.3"], "example.com/gpu": ["gpu-1"]},
            "side": {VF: ["0000:03:00.4"]},
        },
    ),
]
WEB_DEVICES = {VF: ["0000:03:00.5", "0000:03:00.3", "0000:03:00.4"], "example.com/gpu": ["gpu-1"]}


@pytest.fixture
def folder() -> Iterator[Path]:
    with short_folder() as found:
        yield found


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A device checkpoint that gives the pod a device no pod-resources server here names."""
    path = tmp_path / "kubelet_internal_checkpoint"
    entry = {
        "PodUID": WEB.uid,
        "ContainerName": "app",
        "ResourceName": VF,
        "DeviceIDs": {"0": ["0000:81:00.1"]},
    }
    path.write_text(json.dumps({"Data": {"PodDeviceEntries": [entry]}, "Checksum": 0}))
    return path


def take_all(devices: DeviceAllocations, resource: str = VF, count: int = 4) -> list[str | None]:
    async def takes() -> list[str | None]:
        return [await devices.take(WEB, resource) for _ in range(count)]

    return asyncio.run(takes())


@pytest.mark.parametrize(
    ("get", "calls"), [("served", ["Get"]), ("unimplemented", ["Get", "List"]), ("disabled", ["Get", "List"])]
)
def test_get_where_the_kubelet_serves_it_else_list(folder: Path, get: str, calls: list[str]) -> None:
    with serving(folder / "kubelet.sock", Lister(PODS, get=get)) as lister:
        found = pod_devices(folder / "kubelet.sock", "shop", "web")
    assert found == WEB_DEVICES
    assert lister.calls == calls


def test_a_pod_the_kubelet_does_not_know_has_no_devices(folder: Path) -> None:
    with serving(folder / "kubelet.sock", Lister(PODS)) as lister:
        assert pod_devices(folder / "kubelet.sock", "shop", "gone") == {}
    assert lister.calls == ["Get", "List"]  # Get's UNKNOWN may be a disabled Get: List is asked too


def test_other_failures_of_get_are_not_retried_with_list(folder: Path) -> None:
    with (
        serving(folder / "kubelet.sock", Lister(PODS, get="denied")) as lister,
        pytest.raises(PodResourcesError, match="PERMISSION_DENIED: not for you"),
    ):
        pod_devices(folder / "kubelet.sock", "shop", "web")
    assert lister.calls == ["Get"]


def test_each_attachment_takes_the_next_device_in_sorted_order_from_one_call(
    folder: Path, checkpoint: Path
) -> None:
    devices = DeviceAllocations.from_kubelet(folder / "kubelet.sock", checkpoint)
    with serving(folder / "kubelet.sock", Lister(PODS)) as lister:
        assert take_all(devices) == ["0000:03:00.3", "0000:03:00.4", "0000:03:00.5", None]
        assert take_all(devices, "example.com/gpu", 2) == ["gpu-1", None]
        assert take_all(devices, "example.com/none", 1) == [None]
    assert lister.calls == ["Get"]


def test_what_the_api_answers_wins_over_the_checkpoint(folder: Path, checkpoint: Path) -> None:
    """A pod the API gives no device of the resource gets none, whatever the checkpoint says."""
    empty = [pod_resources("shop", "web", {"app": {}})]
    with serving(folder / "kubelet.sock", Lister(empty)) as lister:
        assert take_all(DeviceAllocations.from_kubelet(folder / "kubelet.sock", checkpoint), count=1) == [
            None
        ]
    assert lister.calls == ["Get"]


def test_no_socket_reads_the_checkpoint(folder: Path, checkpoint: Path) -> None:
    devices = DeviceAllocations.from_kubelet(folder / "absent.sock", checkpoint)
    assert take_all(devices, count=2) == ["0000:81:00.1", None]


def test_a_socket_nobody_serves_falls_back_to_the_checkpoint(
    folder: Path, checkpoint: Path, log_file: Path
) -> None:
    stale = folder / "kubelet.sock"  # what a stopped kubelet leaves
    with sockets.socket(sockets.AF_UNIX) as unbound:
        unbound.bind(str(stale))
    assert stale.exists()

    assert take_all(DeviceAllocations.from_kubelet(stale, checkpoint), count=2) == ["0000:81:00.1", None]
    warnings = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(entry["msg"], entry["pod"]) for entry in warnings] == [
        ("the kubelet's pod-resources API failed: reading its device checkpoint instead", "shop/web")
    ]
    assert "UNAVAILABLE" in warnings[0]["error"]


def test_a_failing_list_falls_back_to_the_checkpoint(folder: Path, checkpoint: Path) -> None:
    with serving(folder / "kubelet.sock", Lister(PODS, get="unimplemented", list_fails=True)) as lister:
        assert take_all(DeviceAllocations.from_kubelet(folder / "kubelet.sock", checkpoint), count=2) == [
            "0000:81:00.1",
            None,
        ]
    assert lister.calls == ["Get", "List"]


def test_nothing_is_asked_until_a_device_is_taken(folder: Path, checkpoint: Path) -> None:
    with serving(folder / "kubelet.sock", Lister(PODS)) as lister:
        DeviceAllocations.from_kubelet(folder / "kubelet.sock", checkpoint)
    assert lister.calls == []
