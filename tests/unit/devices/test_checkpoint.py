"""The kubelet's device checkpoint file, as kubelets before and after 1.20 write it."""

from __future__ import annotations

import json
from pathlib import Path

from multus.kubelet.checkpoint import checkpoint_devices


def test_a_pods_devices_by_resource_from_both_forms(tmp_path: Path) -> None:
    checkpoint = tmp_path / "kubelet_internal_checkpoint"
    entries = [
        {"PodUID": "u1", "ContainerName": "c", "ResourceName": "r", "DeviceIDs": {"1": ["b"], "0": ["a"]}},
        {"PodUID": "u1", "ContainerName": "d", "ResourceName": "r", "DeviceIDs": ["c"]},  # before 1.20
        {"PodUID": "u1", "ContainerName": "d", "ResourceName": "s", "DeviceIDs": {"0": ["x"]}},
        {"PodUID": "u2", "ContainerName": "c", "ResourceName": "r", "DeviceIDs": {"0": ["z"]}},
    ]
    checkpoint.write_text(json.dumps({"Data": {"PodDeviceEntries": entries}, "Checksum": 1}))

    found = checkpoint_devices(checkpoint, "u1")

    assert {resource: sorted(ids) for resource, ids in found.items()} == {"r": ["a", "b", "c"], "s": ["x"]}
    assert checkpoint_devices(checkpoint, "u3") == {}


def test_an_absent_or_damaged_checkpoint_gives_no_devices(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    assert checkpoint_devices(tmp_path / "absent", "u1") == {}
    for text in ("{", "[]", '{"Data": []}', '{"Data": {"PodDeviceEntries": {"u1": 1}}}'):
        damaged.write_text(text)
        assert checkpoint_devices(damaged, "u1") == {}, text
