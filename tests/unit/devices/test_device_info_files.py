"""The device-info files device plugins write (NPWG device-info spec), read for an allocated device;
without one, network-status falls back to what the ID tells (tests/unit/devices/test_add.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multus.k8s.device_info import DeviceInfo, PciDevice, VdpaDevice, VhostUserDevice
from multus.kubelet.device_info_files import device_info_path, read_device_info

VF = "example.com/vf"


def test_the_files_name_follows_the_spec(tmp_path: Path) -> None:
    assert (
        device_info_path(VF, "0000:03:00.2", tmp_path) == tmp_path / "example.com-vf-0000:03:00.2-device.json"
    )
    assert device_info_path("a.io/b", "vdpa/x", tmp_path).name == "a.io-b-vdpa-x-device.json"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (
            {
                "type": "pci",
                "version": "1.1.0",
                "pci": {"pci-address": "0000:03:00.2", "pf-pci-address": "0000:03:00.0"},
            },
            DeviceInfo(
                type="pci",
                version="1.1.0",
                pci=PciDevice(pci_address="0000:03:00.2", pf_pci_address="0000:03:00.0"),
            ),
        ),
        (
            {
                "type": "vdpa",
                "version": "1.1.0",
                "vdpa": {
                    "parent-device": "vdpa:0000:65:00.3",
                    "driver": "vhost",
                    "path": "/dev/vhost-vdpa-1",
                },
            },
            DeviceInfo(
                type="vdpa",
                version="1.1.0",
                vdpa=VdpaDevice(parent_device="vdpa:0000:65:00.3", driver="vhost", path="/dev/vhost-vdpa-1"),
            ),
        ),
        (
            {
                "type": "vhost-user",
                "version": "1.0.0",
                "vhost-user": {"mode": "server", "path": "/var/run/vu.sock"},
            },
            DeviceInfo(
                type="vhost-user",
                version="1.0.0",
                vhost_user=VhostUserDevice(mode="server", path="/var/run/vu.sock"),
            ),
        ),
    ],
)
def test_the_device_plugins_file_is_what_the_device_is(
    tmp_path: Path, written: dict[str, object], expected: DeviceInfo
) -> None:
    device_info_path(VF, "0000:03:00.2", tmp_path).write_text(json.dumps(written))
    assert read_device_info(VF, "0000:03:00.2", tmp_path) == expected


def test_no_file_of_the_resource_and_device_is_none(tmp_path: Path) -> None:
    vdpa = {"type": "vdpa", "vdpa": {"path": "/dev/vhost-vdpa-1"}}
    device_info_path("example.com/other", "0000:03:00.2", tmp_path).write_text(json.dumps(vdpa))
    device_info_path(VF, "0000:03:00.3", tmp_path).write_text(json.dumps(vdpa))

    assert read_device_info(VF, "0000:03:00.2", tmp_path) is None
    assert read_device_info(VF, "0000:03:00.3", tmp_path) == DeviceInfo(
        type="vdpa", version=None, vdpa=VdpaDevice(path="/dev/vhost-vdpa-1")
    )


def test_a_damaged_file_is_ignored_with_a_warning(tmp_path: Path, log_file: Path) -> None:
    path = device_info_path(VF, "0000:03:00.2", tmp_path)
    path.write_text('{"type": "pci", "pci": {"pci-address": 5}}')

    assert read_device_info(VF, "0000:03:00.2", tmp_path) is None
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(line["level"], line["msg"], line["file"]) for line in lines] == [
        ("warning", "a device plugin's device-info file is ignored", str(path))
    ]
