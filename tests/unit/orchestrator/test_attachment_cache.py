"""The on-disk attachment cache: lossless, atomic, and honest about a file it cannot read."""

from __future__ import annotations

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
    return ContainerRecord(
        containerId="c1",
        netns="/var/run/netns/x",
        podNamespace="ns",
        podName="p",
        podUID="u",
        cniVersion="1.1.0",
        attachments=[
            AttachmentRecord(
                network="ns/a",
                ifname="net1",
                config={"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "bridge", "vendor.x": [1]}]},
                capabilityArgs={"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
                cniArgs=[("IgnoreUnknown", "1"), ("IP", "10.1.1.5/24")],
                result={"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/24"}]},
                future_field={"kept": True},
            )
        ],
    )


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    cache = AttachmentCache(tmp_path / "multus")
    record = sample()
    cache.save(record)
    loaded = cache.load("c1")
    assert loaded == record
    assert loaded is not None
    assert loaded.attachments[0].model_extra == {"future_field": {"kept": True}}
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

    second = sample().model_copy(update={"container_id": "c2"})
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

    second = sample().model_copy(update={"container_id": "c2"})
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
