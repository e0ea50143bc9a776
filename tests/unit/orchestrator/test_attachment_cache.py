"""The on-disk attachment cache: lossless, atomic, and honest about a file it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multus.attachment_cache import (
    AttachmentCache,
    AttachmentRecord,
    ContainerRecord,
    SpareFiles,
)
from multus.cni.errors import IOFailure


def sample() -> ContainerRecord:
    return ContainerRecord.validate(
        {
            "containerId": "c1",
            "netns": "/var/run/netns/x",
            "podNamespace": "ns",
            "podName": "p",
            "podUID": "u",
            "cniVersion": "1.1.0",
            "attachments": [
                {
                    "network": "ns/a",
                    "ifname": "net1",
                    "config": {
                        "cniVersion": "1.0.0",
                        "name": "a",
                        "plugins": [{"type": "bridge", "vendor.x": [1]}],
                    },
                    "capabilityArgs": {
                        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
                    },
                    "cniArgs": [("IgnoreUnknown", "1"), ("IP", "10.1.1.5/24")],
                    "result": {"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/24"}]},
                    "future_field": {"kept": True},
                }
            ],
        }
    )


# A record file as earlier releases wrote it: every field under its JSON key, defaults included, in the
# declared order, unknown keys kept after them, compact UTF-8. Files on nodes being upgraded look so.
STORED = (
    '{"kind":"multusAttachmentsV1","containerId":"c1","netns":"/var/run/netns/x","podNamespace":"ns",'
    '"podName":"p","podUID":"u","cniVersion":"1.1.0","attachments":[{"network":"ns/a","ifname":"net1",'
    '"config":{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge","vendor.x":[1]}]},'
    '"capabilityArgs":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]},'
    '"cniArgs":[["IgnoreUnknown","1"],["IP","10.1.1.5/24"]],"isDefault":false,'
    '"result":{"cniVersion":"1.0.0","ips":[{"address":"10.1.1.5/24"}]},"deviceInfo":null,'
    '"future_field":{"kept":true}},{"network":"ns/b","ifname":"eth0","config":{"name":"réseau"},'
    '"capabilityArgs":{},"cniArgs":[],"isDefault":true,"result":null,"deviceInfo":{"type":"pci",'
    '"version":"1.1.0","pci":{"pci-address":"0000:00:1f.6"}}}],"runtimeNote":"kept"}'
)


def test_a_stored_record_reads_back_and_is_written_again_byte_for_byte(tmp_path: Path) -> None:
    cache = AttachmentCache(tmp_path)
    cache.path("c1").write_bytes(STORED.encode())
    loaded = cache.load("c1")
    assert loaded is not None
    default = loaded.attachments[1]
    assert (default.network, default.is_default, default.cni_args, default.result) == ("ns/b", True, [], None)
    assert default.device_info == {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:00:1f.6"}}
    assert loaded.attachments[0].cni_args == [("IgnoreUnknown", "1"), ("IP", "10.1.1.5/24")]
    assert loaded.extra == {"runtimeNote": "kept"}
    cache.path("c1").unlink()
    cache.save(loaded)
    assert cache.path("c1").read_bytes() == STORED.encode()


def test_a_record_made_in_code_is_stored_whole(tmp_path: Path) -> None:
    """Fields left to their defaults are written too, so the file does not depend on how it was made."""
    cache = AttachmentCache(tmp_path)
    entry = AttachmentRecord.make(network="ns/a", ifname="net1", config={"name": "a"})
    cache.save(ContainerRecord.make(container_id="c9", netns="", cni_version="1.0.0", attachments=[entry]))
    assert json.loads(cache.path("c9").read_bytes()) == {
        "kind": "multusAttachmentsV1",
        "containerId": "c9",
        "netns": "",
        "podNamespace": "",
        "podName": "",
        "podUID": "",
        "cniVersion": "1.0.0",
        "attachments": [
            {
                "network": "ns/a",
                "ifname": "net1",
                "config": {"name": "a"},
                "capabilityArgs": {},
                "cniArgs": [],
                "isDefault": False,
                "result": None,
                "deviceInfo": None,
            }
        ],
    }


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    cache = AttachmentCache(tmp_path / "multus")
    record = sample()
    cache.save(record)
    loaded = cache.load("c1")
    assert loaded == record
    assert loaded is not None
    assert loaded.attachments[0].extra == {"future_field": {"kept": True}}
    assert cache.container_ids() == ["c1"]
    assert [p.name for p in (tmp_path / "multus").iterdir()] == ["c1"]  # no temporary file left


def test_unreadable_records_read_as_missing(tmp_path: Path) -> None:
    cache = AttachmentCache(tmp_path)
    cache.save(sample())
    full = cache.path("c1").read_bytes()
    cache.path("c1").write_bytes(full[: len(full) // 2])
    assert cache.load("c1") is None
    cache.path("c1").write_text('{"kind": "somethingElse"}')
    assert cache.load("c1") is None
    for damaged in (
        STORED.replace('"kind":"multusAttachmentsV1"', '"kind":"somethingElse"'),
        STORED.replace('"cniArgs":[]', '"cniArgs":[["IP"]]'),
        STORED.replace('"attachments":[', '"attachments":[7,'),
        STORED.replace('"runtimeNote"', '"netns"'),
    ):
        cache.path("c1").write_text(damaged)
        assert cache.load("c1") is None, damaged
    assert cache.load("never-written") is None


def test_remove_is_idempotent(tmp_path: Path) -> None:
    cache = AttachmentCache(tmp_path)
    cache.save(sample())
    cache.remove("c1")
    cache.remove("c1")
    assert not cache.exists("c1")
    assert cache.container_ids() == []


def test_sync_waits_for_a_saved_record_and_names_a_missing_one(tmp_path: Path) -> None:
    cache = AttachmentCache(tmp_path)
    cache.save(sample(), durable=False)
    cache.sync("c1")
    assert cache.load("c1") == sample()
    with pytest.raises(IOFailure, match="cannot sync the attachment cache"):
        cache.sync("never-written")


def test_saves_fill_spare_files_made_ahead(tmp_path: Path) -> None:
    folder = tmp_path / "multus"
    folder.mkdir()
    stray = folder / f"{SpareFiles.PREFIX}0badc0de-left-by-an-earlier-daemon"
    stray.touch()
    spares = SpareFiles(per_folder=2)
    cache = AttachmentCache(folder, spares)

    cache.save(sample())  # the first save of a folder makes its own file: none was asked for yet
    spares.refill()
    made = sorted(path.name for path in folder.iterdir() if path.name.startswith(SpareFiles.PREFIX))
    assert len(made) == 2
    assert stray.name not in made  # an earlier process's spare is removed
    assert not spares.short()

    second = sample().replace(container_id="c2")
    cache.save(second)
    assert cache.load("c2") == second
    left = sorted(path.name for path in folder.iterdir() if path.name.startswith(SpareFiles.PREFIX))
    assert len(left) == 1
    assert set(left) < set(made)  # one of them became c2's record
    assert spares.short()

    spares.discard()
    assert sorted(path.name for path in folder.iterdir()) == ["c1", "c2"]
    cache.save(sample())  # none ready: back to a file of its own
    assert cache.load("c1") == sample()


def test_spares_for_a_folder_that_cannot_be_written_leave_saves_to_report_it(tmp_path: Path) -> None:
    spares = SpareFiles()
    missing = tmp_path / "no" / "such"
    assert spares.take(missing) is None
    spares.refill()  # no folder: nothing made, nothing raised
    assert not missing.exists()
    blocked = AttachmentCache(tmp_path / "file-in-the-way" / "multus", spares)
    (tmp_path / "file-in-the-way").write_text("")
    with pytest.raises(IOFailure):
        blocked.save(sample())


def test_a_spare_that_vanished_leaves_the_save_to_a_file_of_its_own(tmp_path: Path) -> None:
    spares = SpareFiles(per_folder=1)
    cache = AttachmentCache(tmp_path, spares)
    cache.save(sample())
    spares.refill()
    [spare] = tmp_path.glob(f"{SpareFiles.PREFIX}*")
    spare.unlink()  # swept by another process, say

    second = sample().replace(container_id="c2")
    cache.save(second)

    assert cache.load("c2") == second
    assert sorted(path.name for path in tmp_path.iterdir()) == ["c1", "c2"]


def test_no_spare_is_made_once_discarded(tmp_path: Path) -> None:
    spares = SpareFiles()
    AttachmentCache(tmp_path, spares).save(sample())
    spares.discard()
    assert not spares.short()
    spares.refill()  # a request's bookkeeping still running after the host stopped
    assert list(tmp_path.glob(f"{SpareFiles.PREFIX}*")) == []
