"""The result cache: libcni's file name and format, atomic writes, tolerant listing."""

from __future__ import annotations

import base64
import ipaddress
import json
from pathlib import Path

import pytest

from multus.cni import (
    CachedAttachment,
    DecodeFailure,
    InvalidConfig,
    InvalidEnvironment,
    IOFailure,
    IPConfig,
    Result,
    ResultCache,
)

CONFIG = b'{"cniVersion":"1.0.0","name":"dbnet","plugins":[{"type":"bridge"}]}'
RESULT = Result("1.0.0", ips=(IPConfig(ipaddress.ip_interface("10.231.0.5/24")),))


def _entry(**changes: object) -> CachedAttachment:
    fields: dict[str, object] = {
        "network_name": "dbnet",
        "container_id": "ctr1",
        "ifname": "net1",
        "config": CONFIG,
        "netns": "/var/run/netns/cni-1",
        "cni_args": (("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web-0")),
        "capability_args": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
        "result": RESULT,
    }
    fields.update(changes)
    return CachedAttachment(**fields)  # type: ignore[arg-type]


def test_file_name_and_format_match_libcni(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    cache.write(_entry())
    path = tmp_path / "results" / "dbnet-ctr1-net1"
    assert json.loads(path.read_text()) == {
        "kind": "cniCacheV1",
        "containerId": "ctr1",
        "config": base64.b64encode(CONFIG).decode(),
        "ifName": "net1",
        "networkName": "dbnet",
        "netns": "/var/run/netns/cni-1",
        "cniArgs": [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web-0"]],
        "capabilityArgs": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
        "result": {"cniVersion": "1.0.0", "ips": [{"address": "10.231.0.5/24"}], "dns": {}},
    }
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "results").stat().st_mode & 0o777 == 0o700
    assert [file.name for file in (tmp_path / "results").iterdir()] == ["dbnet-ctr1-net1"]


def test_write_read_delete(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    assert cache.read("dbnet", "ctr1", "net1") is None
    cache.write(_entry())
    assert cache.read("dbnet", "ctr1", "net1") == _entry()
    cache.write(_entry(result=None, netns="", cni_args=(), capability_args={}))
    assert cache.read("dbnet", "ctr1", "net1") == _entry(
        result=None, netns="", cni_args=(), capability_args={}
    )
    cache.delete("dbnet", "ctr1", "net1")
    cache.delete("dbnet", "ctr1", "net1")
    assert cache.read("dbnet", "ctr1", "net1") is None


def test_reads_what_libcni_wrote(tmp_path: Path) -> None:
    # As libcni's cacheAdd marshals it: no netns, cniArgs or capabilityArgs when empty, a 0.4.0 result.
    written = {
        "kind": "cniCacheV1",
        "containerId": "abc",
        "config": base64.b64encode(CONFIG).decode(),
        "ifName": "eth0",
        "networkName": "dbnet",
        "result": {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.231.1.5/24"}], "dns": {}},
    }
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "dbnet-abc-eth0").write_text(json.dumps(written))
    entry = ResultCache(tmp_path).read("dbnet", "abc", "eth0")
    assert entry is not None
    assert entry.config == CONFIG
    assert entry.result is not None
    assert entry.result.convert_to("1.0.0").to_dict()["ips"] == [{"address": "10.231.1.5/24"}]


@pytest.mark.parametrize(
    "content",
    [
        "{half",
        '{"kind": "cniCacheV2", "containerId": "c", "config": "", "ifName": "e", "networkName": "n"}',
        '{"kind": "cniCacheV1", "containerId": "c", "config": "%%%", "ifName": "e", "networkName": "n"}',
        '{"kind": "cniCacheV1", "containerId": "c", "config": "", "ifName": "e", "networkName": "n",'
        ' "result": []}',
        '{"kind": "cniCacheV1", "containerId": "c", "config": "", "ifName": "e", "networkName": "n",'
        ' "result": {"cniVersion": "1.0.0", "ips": [{"address": "bad"}]}}',
    ],
)
def test_damaged_file_is_a_decode_failure_and_skipped_when_listing(tmp_path: Path, content: str) -> None:
    cache = ResultCache(tmp_path)
    cache.write(_entry(container_id="good"))
    (tmp_path / "results" / "dbnet-ctr1-net1").write_text(content)
    with pytest.raises(DecodeFailure, match=r"dbnet-ctr1-net1 is (damaged|not valid JSON)"):
        cache.read("dbnet", "ctr1", "net1")
    assert [entry.container_id for entry in cache.entries()] == ["good"]


def test_damage_is_described_field_by_field(tmp_path: Path) -> None:
    damaged = {
        "kind": "cniCacheV1",
        "containerId": "c",
        "config": "",
        "ifName": "e",
        "networkName": "n",
        "netns": 5,
        "cniArgs": [["a", "b", "c"], ["d"]],
    }
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "n-c-e").write_text(json.dumps(damaged))
    with pytest.raises(DecodeFailure) as refused:
        ResultCache(tmp_path).read("n", "c", "e")
    assert refused.value.msg == (
        f"cached result {tmp_path}/results/n-c-e is damaged: netns: Input should be a valid string; "
        "cniArgs[0]: Tuple should have at most 2 items after validation, not 3; cniArgs[1][1]: Field required"
    )


def test_entries_filter_by_network_and_container(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    assert cache.entries() == []
    for network, container, ifname in [("a", "c1", "net1"), ("a", "c2", "net1"), ("b", "c1", "net2")]:
        cache.write(_entry(network_name=network, container_id=container, ifname=ifname))
    (tmp_path / "results" / ".a-c3-net1.tmp").write_text("{")  # someone's write in progress
    assert {(e.network_name, e.container_id) for e in cache.entries("a")} == {("a", "c1"), ("a", "c2")}
    assert {(e.network_name, e.ifname) for e in cache.entries(container_id="c1")} == {
        ("a", "net1"),
        ("b", "net2"),
    }


@pytest.mark.parametrize(
    ("names", "error"),
    [
        (("../x", "ctr1", "net1"), InvalidConfig),
        (("dbnet", "../../etc", "net1"), InvalidEnvironment),
        (("dbnet", "ctr1", ".."), InvalidEnvironment),
        (("dbnet", "ctr1", "a/b"), InvalidEnvironment),
    ],
)
def test_names_cannot_leave_the_results_folder(names: tuple[str, str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        ResultCache("/nonexistent").path(*names)


def test_write_failure_is_an_io_failure(tmp_path: Path) -> None:
    (tmp_path / "results").write_text("a file where the folder should be")
    with pytest.raises(IOFailure, match="cannot write cached result"):
        ResultCache(tmp_path).write(_entry())


def test_names_too_long_together_for_a_file_name_are_refused_naming_the_parts() -> None:
    cache = ResultCache("/nonexistent")
    # 245 bytes: the longest name whose temporary file (`.<name>.` and 8 characters) fits in 255.
    assert cache.path("n" * (245 - len("-ctr1-net1")), "ctr1", "net1").name.startswith("nnn")
    with pytest.raises(InvalidConfig) as refused:
        cache.path("n" * 250, "c" * 64, "net1")
    for part in ("network name", "250 characters", "CNI_CONTAINERID", "64 characters", "CNI_IFNAME net1"):
        assert part in refused.value.msg
    assert len(refused.value.msg) < 300


@pytest.mark.parametrize(
    "names", [("n" * 250, "ctr1", "net1"), ("dbnet", "../../etc", "net1"), ("dbnet", "c" * 129, "net1")]
)
def test_no_file_is_read_or_deleted_for_names_that_cannot_have_one(
    tmp_path: Path, names: tuple[str, str, str]
) -> None:
    cache = ResultCache(tmp_path)
    assert cache.read(*names) is None
    cache.delete(*names)
    assert not (tmp_path / "results").exists()
