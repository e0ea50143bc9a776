"""Device info (NPWG device-info spec 1.1.0) for a device ID, and read from a device plugin's file."""

from __future__ import annotations

from typing import Any

import pytest

from multus.cni.errors import DecodeFailure
from multus.k8s.device_info import (
    DEVICE_INFO_VERSION,
    DeviceInfo,
    MemifDevice,
    PciDevice,
    VdpaDevice,
    VhostUserDevice,
    device_info_for,
    is_pci_address,
    parse_device_info,
)


@pytest.mark.parametrize("address", ["0000:00:1f.6", "0000:3B:00.2", "10000:e0:00.0", "ffff:ff:1f.7"])
def test_pci_addresses(address: str) -> None:
    assert is_pci_address(address)


@pytest.mark.parametrize(
    "device_id", ["", "00:1f.6", "0000:00:1f", "0000:00:1f.8", "0000:000:1f.6", "vdpa0", "0000:00:1f.6\n"]
)
def test_not_pci_addresses(device_id: str) -> None:
    assert not is_pci_address(device_id)


def test_device_info_for_a_pci_device_id() -> None:
    info = device_info_for("0000:3B:00.2")
    assert info == DeviceInfo(
        type="pci", version=DEVICE_INFO_VERSION, pci=PciDevice(pci_address="0000:3b:00.2")
    )
    assert info is not None
    assert info.to_json() == {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:3b:00.2"}}


def test_device_info_for_an_unknown_kind_of_device_id_is_none() -> None:
    assert device_info_for("mlx5_core.sf.4") is None


def test_every_device_kind_serialises_in_kebab_case_without_empty_fields() -> None:
    info = DeviceInfo(
        type="vdpa",
        pci=PciDevice("0000:00:01.0", "/dev/vhost-net", "mlx5_0", "0000:00:00.0", "eth3"),
        vdpa=VdpaDevice("vdpa:0000:00:01.0", "vhost", "/dev/vhost-vdpa-0", "0000:00:01.0", None, ""),
        vhost_user=VhostUserDevice("client", "/run/vhost.sock"),
        memif=MemifDevice("master", "/run/memif.sock", "ethernet"),
    )
    assert info.to_json() == {
        "type": "vdpa",
        "version": "1.1.0",
        "pci": {
            "pci-address": "0000:00:01.0",
            "vhost-net": "/dev/vhost-net",
            "rdma-device": "mlx5_0",
            "pf-pci-address": "0000:00:00.0",
            "representor-device": "eth3",
        },
        "vdpa": {
            "parent-device": "vdpa:0000:00:01.0",
            "driver": "vhost",
            "path": "/dev/vhost-vdpa-0",
            "pci-address": "0000:00:01.0",
        },
        "vhost-user": {"mode": "client", "path": "/run/vhost.sock"},
        "memif": {"role": "master", "path": "/run/memif.sock", "mode": "ethernet"},
    }


def test_parse_reads_back_what_to_json_writes() -> None:
    info = DeviceInfo(type="memif", memif=MemifDevice("slave", "/run/m.sock", "ip"))
    assert parse_device_info(info.to_json()) == info


def test_parse_tolerates_unknown_keys_and_missing_fields() -> None:
    document = {"type": "pci", "pci": {"pci-address": "0000:00:01.0", "future": 1}, "future": {}}
    assert parse_device_info(document) == DeviceInfo(type="pci", version=None, pci=PciDevice("0000:00:01.0"))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "device-info must be a JSON object"),
        ({"type": 1}, 'device-info: "type" must be a string'),
        ({"vdpa": "x"}, 'device-info: "vdpa" must be an object'),
        ({"vhost-user": {"path": 5}}, 'device-info: "vhost-user.path" must be a string'),
    ],
)
def test_parse_refuses_malformed_documents(document: Any, problem: str) -> None:
    with pytest.raises(DecodeFailure, match=problem):
        parse_device_info(document)
