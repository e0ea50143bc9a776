"""NFV devices end to end on the real kubelet (v1.34.4): a device plugin of the tests' own registers a
resource of four PCI-like devices, a pod asks for them, and its networks annotation names a NAD whose
`resourceName` is that resource. The daemon asks the kubelet's pod-resources API which devices the pod
got: the NAD's recording delegate (bridge, then `fake-record`) must get each as runtimeConfig `deviceID`,
and network-status must carry the device-info file the plugin wrote. After the pod's deletion the node
holds nothing of it.

The node is the kubelet tests' (`tests/runtimes/node.py`), with two changes made before any pod: the
daemon's config names the kubelet's pod-resources socket (under the kubelet's root dir), and containerd
is restarted to find `fake-record` in its CNI bin dirs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multus.k8s.constants import RESOURCE_NAME_ANNOTATION
from multus.kubelet.device_info_files import DEVICE_PLUGIN_INFO_DIR
from multus.kubelet.pod_resources import pod_devices
from multus.netns import interfaces
from tests.conftest import unique_name
from tests.e2e.daemon.support import wait_for
from tests.e2e.meta.test_selection import recorder, records
from tests.runtimes import test_kubelet
from tests.runtimes.deviceplugin.plugin import DevicePlugin, device_info
from tests.runtimes.deviceplugin.plugin import running as plugin_running
from tests.runtimes.node import Node, PodSandbox, running
from tests.runtimes.test_kubelet import delete_pods, network_status
from tests.testenv import TestEnv

pytestmark = [pytest.mark.runtime, pytest.mark.e2e, pytest.mark.netns]

namespace = test_kubelet.namespace  # the test's namespace, its pods deleted afterwards

FAKE_RECORD = Path(__file__).resolve().parents[1] / "fakeplugins" / "fake-record"
DEVICES = ["0000:03:00.5", "0000:03:00.2", "0000:03:00.4", "0000:03:00.3"]


def pod_resources_socket(node: Node) -> Path:
    """The kubelet serves pod-resources in its root dir, which the harness gives it under its folder."""
    return node.kubelet.root / "root" / "pod-resources" / "kubelet.sock"


def device_plugins_folder(node: Node) -> Path:
    """The kubelet's /var/lib/kubelet/device-plugins, in the private /var/lib the harness gives it."""
    return node.kubelet.root / "var-lib" / "kubelet" / "device-plugins"


@pytest.fixture(scope="module")
def node(apiserver: TestEnv, native_shim: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running(tmp_path_factory.mktemp("kubelet-devices"), apiserver, native_shim) as started:
        assert started.daemon.stop() == 0
        started.daemon.config["podResourcesSocket"] = str(pod_resources_socket(started))
        started.daemon.start()
        (started.root / "bin" / "fake-record").symlink_to(FAKE_RECORD)
        started.containerd.restart()  # links its CNI bin dirs' plugins, and loads 00-multus.conf, anew
        started.cri.ensure_up()
        started.kubelet.wait_ready()
        yield started


@pytest.fixture(scope="module")
def plugin(node: Node) -> Iterator[DevicePlugin]:
    """The device plugin, registered, its devices allocatable on the node; stopped, with its socket and
    device-info files, at the end."""
    resource = f"example.com/{unique_name('vf-')}"
    folder, endpoint = device_plugins_folder(node), f"{unique_name('mpy-dp-')}.sock"
    with plugin_running(resource, DEVICES, folder, endpoint) as started:

        def allocatable() -> bool:
            status = (node.kubelet.node() or {}).get("status", {})
            return bool(status.get("allocatable", {}).get(resource) == str(len(DEVICES)))

        wait_for(f"{resource} allocatable on {node.name}", allocatable, 60, 0.5)
        yield started
    assert not (folder / endpoint).exists()
    assert not DEVICE_PLUGIN_INFO_DIR.exists() or not list(
        DEVICE_PLUGIN_INFO_DIR.glob(f"{resource.replace('/', '-')}-*")
    )


def vf_nad(node: Node, name: str, namespace: str, resource: str, record: Path) -> dict[str, Any]:
    """The node's bridge NAD for `name`, followed by a recording plugin declaring deviceID, whose
    `resourceName` is `resource`."""
    nad, _ = node.bridge_nad(name, namespace)
    bridge = json.loads(nad["spec"]["config"])
    plugins = [
        {key: value for key, value in bridge.items() if key not in ("cniVersion", "name")},
        recorder(record, capabilities={"deviceID": True}),
    ]
    nad["spec"]["config"] = json.dumps({"cniVersion": bridge["cniVersion"], "name": name, "plugins": plugins})
    nad["metadata"]["annotations"] = {RESOURCE_NAME_ANNOTATION: resource}
    return nad


def devices_pod(
    node: Node, name: str, namespace: str, networks: str, devices: dict[str, int]
) -> dict[str, Any]:
    """The node's pod for `networks`, asking for `devices`: a count by resource."""
    pod = node.pod(name, namespace, networks=networks)
    pod["spec"]["containers"][0]["resources"] = {
        "limits": {resource: str(count) for resource, count in devices.items()}
    }
    return pod


def run_pod(
    node: Node, namespace: str, plugin: DevicePlugin, pod: str, networks: list[str]
) -> tuple[PodSandbox, Path]:
    """NAD `vf` of the plugin's resource and a pod asking for one device per element of `networks`;
    once Running, its sandbox (checked to hold exactly eth0 and `networks`' interfaces) and the record."""
    record = node.root / f"record-{namespace}.jsonl"
    node.apply(
        vf_nad(node, "vf", namespace, plugin.resource, record),
        devices_pod(node, pod, namespace, ",".join(networks), {plugin.resource: len(networks)}),
    )
    node.wait_running(namespace, [pod], time.monotonic())
    box = node.sandbox(namespace, pod)
    expected = ["eth0", "lo", *(f"net{index}" for index in range(1, len(networks) + 1))]
    assert sorted(interfaces(box.netns)) == expected
    return box, record


def test_the_delegate_gets_the_device_the_kubelet_allocated(
    node: Node, namespace: str, plugin: DevicePlugin
) -> None:
    box, record = run_pod(node, namespace, plugin, "web", ["vf"])

    allocated = pod_devices(pod_resources_socket(node), namespace, "web")
    assert list(allocated) == [plugin.resource]
    [device] = allocated[plugin.resource]
    assert [device] in plugin.allocated
    added = [run["stdin"] for run in records(record, "ADD")]
    assert [(stdin["runtimeConfig"], stdin["deviceID"], stdin["pciBusID"]) for stdin in added] == [
        ({"deviceID": device}, device, device)
    ]
    status = network_status(node, namespace, "web")
    assert [(entry["interface"], entry.get("device-info")) for entry in status[1:]] == [
        ("net1", device_info(device))
    ]
    # From the API, not the checkpoint fallback (this host has no /var/lib/kubelet of its own).
    assert [line for line in node.daemon.log_lines() if "pod-resources" in line.get("msg", "")] == []

    delete_pods(node, namespace, "web")
    assert node.wait_clean([box]) == []
    assert [run["stdin"]["runtimeConfig"] for run in records(record, "DEL")] == [{"deviceID": device}]


def test_two_attachments_of_the_resource_get_the_pods_two_devices_in_order(
    node: Node, namespace: str, plugin: DevicePlugin
) -> None:
    box, record = run_pod(node, namespace, plugin, "pair", ["vf", "vf"])

    devices = sorted(pod_devices(pod_resources_socket(node), namespace, "pair")[plugin.resource])
    assert len(devices) == 2
    assert [(run["env"]["CNI_IFNAME"], run["stdin"]["runtimeConfig"]) for run in records(record, "ADD")] == [
        ("net1", {"deviceID": devices[0]}),
        ("net2", {"deviceID": devices[1]}),
    ]
    status = network_status(node, namespace, "pair")
    assert [entry["device-info"] for entry in status[1:]] == [device_info(device) for device in devices]

    delete_pods(node, namespace, "pair")
    assert node.wait_clean([box]) == []
