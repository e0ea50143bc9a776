"""An ADD whose NAD names a device resource, with a pod-resources server of the test's own: the delegate
gets the allocated device, network-status says what it is, DEL leaves nothing. A pod without devices
asks nothing of the kubelet, and its ADD does not depend on it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.devices.device_node import delegate_stdin, device_node
from tests.unit.devices.pod_resources_server import Lister, pod_resources, serving, short_folder

VF = "example.com/vf"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def socket() -> Iterator[Path]:
    with short_folder() as folder:
        yield folder / "kubelet.sock"


def test_the_delegate_gets_the_device_the_kubelet_allocated(tmp_path: Path, socket: Path) -> None:
    node = device_node(tmp_path, socket, resource=VF)
    pods = [pod_resources("shop", "web", {"app": {VF: ["0000:03:00.4", "0000:03:00.3"]}})]

    with serving(socket, Lister(pods)) as lister:
        assert node.run("ADD") is not None
    added = delegate_stdin(node, "ADD", "net1")
    assert (added["runtimeConfig"], added["deviceID"], added["pciBusID"]) == (
        {"deviceID": "0000:03:00.3"},
        "0000:03:00.3",
        "0000:03:00.3",
    )
    status = json.loads(node.view.network_status("shop", "web") or "[]")
    assert status[1]["device-info"] == {
        "type": "pci",
        "version": "1.1.0",
        "pci": {"pci-address": "0000:03:00.3"},
    }
    assert lister.calls == ["Get"]

    assert node.run("DEL") is None  # from the record: the kubelet is not asked again
    assert delegate_stdin(node, "DEL", "net1")["runtimeConfig"] == {"deviceID": "0000:03:00.3"}
    assert node.files_left() == []


def test_a_pod_without_devices_asks_the_kubelet_nothing(tmp_path: Path, socket: Path) -> None:
    node = device_node(tmp_path, socket, resource=None)
    with serving(socket, Lister([])) as lister:
        assert node.run("ADD") is not None
    assert lister.calls == []
    assert "deviceID" not in delegate_stdin(node, "ADD", "net1")
    assert node.run("DEL") is None
    assert node.files_left() == []


def test_an_unreachable_kubelet_fails_no_add_of_a_pod_without_devices(tmp_path: Path, socket: Path) -> None:
    """In a process of its own, to see what it imports: the ADD succeeds with a socket path that refuses
    every connection, and grpc is never imported."""
    socket.write_text("")
    program = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from tests.unit.devices.device_node import device_node\n"
        "node = device_node(Path(sys.argv[1]), Path(sys.argv[2]), resource=None)\n"
        "reply = node.run('ADD')\n"
        "print(json.dumps({'reply': reply, 'calls': node.plugin_calls(), 'grpc': 'grpc' in sys.modules}))\n"
        "node.run('DEL')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path), str(socket)], capture_output=True, check=True, cwd=REPO
    )
    outcome = json.loads(done.stdout)
    assert [ip["address"] for ip in outcome["reply"]["ips"]] == ["10.0.0.5/24"]
    assert outcome["calls"] == [["ADD", "eth0"], ["ADD", "net1"]]
    assert outcome["grpc"] is False


def test_a_pod_with_devices_and_an_unreachable_kubelet_gets_the_checkpoints(
    tmp_path: Path, socket: Path
) -> None:
    node = device_node(tmp_path, socket, resource=VF)
    socket.write_text("")
    entry = {
        "PodUID": "uid-web",
        "ContainerName": "app",
        "ResourceName": VF,
        "DeviceIDs": {"0": ["0000:81:00.1"]},
    }
    (tmp_path / "checkpoint").write_text(json.dumps({"Data": {"PodDeviceEntries": [entry]}, "Checksum": 0}))

    assert node.run("ADD") is not None
    assert delegate_stdin(node, "ADD", "net1")["runtimeConfig"] == {"deviceID": "0000:81:00.1"}
    assert node.run("DEL") is None
    assert node.files_left() == []
