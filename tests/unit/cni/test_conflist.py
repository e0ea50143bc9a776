"""Config lists through fake plugins that record what they get: order, prevResult, runtimeConfig,
cache use, and the rules of CHECK, STATUS and GC."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from multus.cni import (
    Attachment,
    CachedAttachment,
    CNIError,
    ConfigListRunner,
    DelegateExecutor,
    IncompatibleVersion,
    InvalidConfig,
    InvalidEnvironment,
    NetworkConfigList,
    Result,
    ResultCache,
    UnknownContainer,
    parse_network_config,
    parse_result,
    parse_valid_attachments,
)
from tests.unit.cni.fakes import FAKE_PLUGINS, records

RESULT = {
    "cniVersion": "1.1.0",
    "interfaces": [{"name": "net1", "sandbox": "/var/run/netns/none", "mtu": 1400}],
    "ips": [{"address": "10.233.0.5/24", "gateway": "10.233.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.233.0.1", "table": 7}],
    "dns": {},
}
PORTS = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]


@pytest.fixture
def runner(tmp_path: Path) -> ConfigListRunner:
    return ConfigListRunner(DelegateExecutor([FAKE_PLUGINS], timeout=20), ResultCache(tmp_path / "cache"))


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "record"


def _attachment(**changes: Any) -> Attachment:
    fields: dict[str, Any] = {
        "container_id": "ctr1",
        "ifname": "net1",
        "netns": "/var/run/netns/none",
        "cni_args": (("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web-0")),
        "capability_args": {"portMappings": PORTS, "bandwidth": {"ingressRate": 1000}},
    }
    fields.update(changes)
    return Attachment(**fields)


def _conflist(
    record: Path, *plugins: dict[str, Any], version: str = "1.1.0", **top: Any
) -> NetworkConfigList:
    listed = [{"recordFile": str(record), **plugin} for plugin in plugins]
    return parse_network_config({"cniVersion": version, "name": "fakenet", **top, "plugins": listed})


def _three(record: Path, version: str = "1.1.0", **top: Any) -> NetworkConfigList:
    return _conflist(
        record,
        {"type": "fake-record", "result": RESULT, "runtimeConfig": {"static": True}},
        {"type": "fake-record", "capabilities": {"portMappings": True, "mac": True}},
        {"type": "fake-record", "capabilities": {"bandwidth": True, "portMappings": False}},
        version=version,
        **top,
    )


def test_add_runs_in_order_passing_results_and_declared_capabilities_only(
    runner: ConfigListRunner, record: Path
) -> None:
    result = asyncio.run(runner.add(_three(record), _attachment()))
    assert result == parse_result(RESULT)
    first, second, third = records(record)
    assert [seen["command"] for seen in (first, second, third)] == ["ADD"] * 3
    for seen in (first, second, third):
        assert (seen["stdin"]["name"], seen["stdin"]["cniVersion"]) == ("fakenet", "1.1.0")
        assert seen["env"]["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web-0"
    assert "prevResult" not in first["stdin"]
    assert second["stdin"]["prevResult"] == RESULT
    assert third["stdin"]["prevResult"] == RESULT
    assert first["stdin"]["runtimeConfig"] == {"static": True}  # declares nothing: its own key stays
    assert second["stdin"]["runtimeConfig"] == {"portMappings": PORTS}
    assert third["stdin"]["runtimeConfig"] == {"bandwidth": {"ingressRate": 1000}}


def test_add_caches_like_libcni(runner: ConfigListRunner, record: Path) -> None:
    conflist = _three(record)
    asyncio.run(runner.add(conflist, _attachment()))
    assert runner.cache.read("fakenet", "ctr1", "net1") == CachedAttachment(
        network_name="fakenet",
        container_id="ctr1",
        ifname="net1",
        config=conflist.to_bytes(),
        netns="/var/run/netns/none",
        cni_args=(("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web-0")),
        capability_args={"portMappings": PORTS, "bandwidth": {"ingressRate": 1000}},
        result=parse_result(RESULT),
    )


@pytest.mark.parametrize("version", ["0.2.0", "0.4.0", "1.0.0"])
def test_results_are_converted_to_the_list_version(
    runner: ConfigListRunner, record: Path, version: str
) -> None:
    result = asyncio.run(runner.add(_three(record, version), _attachment()))
    expected = parse_result(RESULT).convert_to(version)
    assert result == expected
    assert [seen["stdin"].get("prevResult") for seen in records(record)] == [None, *[expected.to_dict()] * 2]


def test_failure_in_the_second_of_three_stops_the_add_and_names_the_plugin(
    runner: ConfigListRunner, record: Path
) -> None:
    conflist = _conflist(
        record,
        {"type": "fake-record", "result": RESULT},
        {"type": "fake-fail", "failOn": ["ADD"], "code": 42},
        {"type": "fake-record"},
    )
    with pytest.raises(CNIError) as caught:
        asyncio.run(runner.add(conflist, _attachment()))
    assert caught.value.code == 42
    assert caught.value.msg == (
        "plugin 2/3 type=\"fake-fail\" of network 'fakenet' failed (ADD): failed on purpose"
    )
    assert caught.value.details == "ADD of net1"
    assert [seen["command"] for seen in records(record)] == ["ADD"]
    assert runner.cache.read("fakenet", "ctr1", "net1") is None

    # The runtime's DEL after a failed ADD reaches every plugin, in reverse, without a prevResult.
    asyncio.run(runner.delete(conflist, _attachment()))
    dels = records(record)[1:]
    assert [seen["command"] for seen in dels] == ["DEL", "DEL"]
    assert all("prevResult" not in seen["stdin"] for seen in dels)


def _networks(record: Path, *plugins: dict[str, Any]) -> list[tuple[NetworkConfigList, Attachment]]:
    """One single-plugin list per plugin, on net1, net2...: what a pod's attachments look like."""
    return [
        (
            _conflist(record, {"result": RESULT, **plugin}, name=f"fakenet{index}"),
            _attachment(ifname=f"net{index}"),
        )
        for index, plugin in enumerate(plugins, start=1)
    ]


def test_add_in_turn_runs_the_lists_one_after_the_other(runner: ConfigListRunner, record: Path) -> None:
    networks = _networks(record, *[{"type": "fake-record"}] * 3)
    pending: list[Callable[[], None]] = []

    outcomes = asyncio.run(runner.add_in_turn(networks, later=pending.append))

    assert outcomes == [parse_result(RESULT)] * 3
    assert [seen["env"]["CNI_IFNAME"] for seen in records(record)] == ["net1", "net2", "net3"]
    assert runner.cache.entries() == []  # the results are cached when the caller runs what it was handed
    for work in pending:
        work()
    assert sorted(entry.ifname for entry in runner.cache.entries(container_id="ctr1")) == [
        "net1",
        "net2",
        "net3",
    ]


def test_add_in_turn_stops_at_the_first_failure(runner: ConfigListRunner, record: Path) -> None:
    networks = _networks(
        record, {"type": "fake-record"}, {"type": "fake-fail", "failOn": ["ADD"]}, {"type": "fake-record"}
    )

    first, failed, never = asyncio.run(runner.add_in_turn(networks))

    assert first == parse_result(RESULT)
    assert isinstance(failed, CNIError)
    assert "fake-fail" in failed.msg
    assert never is None
    assert [seen["env"]["CNI_IFNAME"] for seen in records(record)] == ["net1"]


def test_add_in_turn_finds_an_invalid_result_once_the_next_list_started(
    runner: ConfigListRunner, record: Path
) -> None:
    # The garbage plugin exits 0: the next list starts while its output is read. It ran, so the caller
    # must undo it too; the one after it never starts.
    networks = _networks(record, {"type": "fake-garbage"}, {"type": "fake-record"}, {"type": "fake-record"})

    garbage, started, never = asyncio.run(runner.add_in_turn(networks))

    assert isinstance(garbage, CNIError)
    assert "printed an invalid result" in garbage.msg
    assert started == parse_result(RESULT)
    assert never is None
    assert [seen["env"]["CNI_IFNAME"] for seen in records(record)] == ["net2"]


def test_add_in_turn_refuses_a_list_whose_result_cannot_be_cached_before_any_list_runs(
    runner: ConfigListRunner, record: Path
) -> None:
    # Found once the plugins ran, the cache failure would stay behind with them; here nothing ran.
    networks = _networks(record, *[{"type": "fake-record"}] * 3)
    long_name = _conflist(record, {"type": "fake-record", "result": RESULT}, name="n" * 250)
    networks[2] = (long_name, networks[2][1])

    outcomes = asyncio.run(runner.add_in_turn(networks))

    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], InvalidConfig)
    assert "network name 'nnn" in outcomes[2].msg
    assert records(record) == []
    with pytest.raises(InvalidConfig, match="result cache file name"):
        asyncio.run(runner.add(long_name, _attachment()))
    assert records(record) == []


def test_delete_of_an_attachment_that_cannot_have_a_cached_result_runs_its_plugins(
    runner: ConfigListRunner, record: Path
) -> None:
    # Such an attachment was refused before anything ran (or made before the bound): a DEL of it, the
    # undo's or the runtime's, must succeed, and builds no cache path.
    long_name = _conflist(record, {"type": "fake-record", "result": RESULT}, name="n" * 250)

    asyncio.run(runner.delete(long_name, _attachment()))

    assert [seen["command"] for seen in records(record)] == ["DEL"]
    assert not runner.cache.results_dir.exists()


def test_delete_in_turn_goes_on_past_a_failure_in_the_order_given(
    runner: ConfigListRunner, record: Path
) -> None:
    networks = _networks(
        record, {"type": "fake-record"}, {"type": "fake-fail", "failOn": ["DEL"]}, {"type": "fake-record"}
    )
    asyncio.run(runner.add(*networks[0]))
    kept = parse_result(RESULT).to_dict()

    outcomes = asyncio.run(
        runner.delete_in_turn([(conflist, attachment, kept) for conflist, attachment in reversed(networks)])
    )

    assert outcomes[0] is None
    assert isinstance(outcomes[1], CNIError)
    assert "fake-fail" in outcomes[1].msg
    assert outcomes[2] is None
    deleted = [seen for seen in records(record) if seen["command"] == "DEL"]
    assert [seen["env"]["CNI_IFNAME"] for seen in deleted] == ["net3", "net1"]
    assert all(seen["stdin"]["prevResult"] == kept for seen in deleted)
    assert runner.cache.entries(container_id="ctr1") == []  # net1's, cached at ADD, went with its DEL


def test_delete_takes_the_kept_result_over_the_cache(runner: ConfigListRunner, record: Path) -> None:
    conflist = _conflist(record, {"type": "fake-record", "result": RESULT})
    asyncio.run(runner.add(conflist, _attachment()))
    runner.cache.path("fakenet", "ctr1", "net1").unlink()  # the kept result needs no cache
    kept = parse_result(RESULT).to_dict()

    asyncio.run(runner.delete(conflist, _attachment(), kept_result=kept))

    deleted = records(record)[-1]
    assert (deleted["command"], deleted["stdin"]["prevResult"]) == ("DEL", kept)


def test_delete_runs_in_reverse_with_the_cached_result_then_drops_it(
    runner: ConfigListRunner, tmp_path: Path
) -> None:
    add_record, del_record = tmp_path / "add", tmp_path / "del"
    asyncio.run(runner.add(_conflist(add_record, {"type": "fake-record", "result": RESULT}), _attachment()))
    conflist = _conflist(
        del_record, {"type": "fake-record", "order": 1}, {"type": "fake-record", "order": 2}, version="1.1.0"
    )
    asyncio.run(runner.delete(conflist, _attachment(netns="")))
    seen = records(del_record)
    assert [(entry["command"], entry["stdin"]["order"]) for entry in seen] == [("DEL", 2), ("DEL", 1)]
    assert all(entry["stdin"]["prevResult"] == RESULT for entry in seen)
    assert "CNI_NETNS" not in seen[0]["env"]
    assert runner.cache.read("fakenet", "ctr1", "net1") is None
    asyncio.run(runner.delete(conflist, _attachment()))  # again: nothing cached, still fine
    assert "prevResult" not in records(del_record)[-1]["stdin"]


def test_delete_falls_back_to_cached_capability_args(runner: ConfigListRunner, record: Path) -> None:
    conflist = _three(record)
    asyncio.run(runner.add(conflist, _attachment()))
    asyncio.run(runner.delete(conflist, _attachment(capability_args={})))
    dels = [seen for seen in records(record) if seen["command"] == "DEL"]
    assert [seen["stdin"].get("runtimeConfig") for seen in dels] == [
        {"bandwidth": {"ingressRate": 1000}},
        {"portMappings": PORTS},
        {"static": True},
    ]


def test_delete_before_04_sends_no_prev_result(runner: ConfigListRunner, record: Path) -> None:
    conflist = _three(record, "0.3.1")
    asyncio.run(runner.add(conflist, _attachment()))
    asyncio.run(runner.delete(conflist, _attachment()))
    assert all("prevResult" not in seen["stdin"] for seen in records(record) if seen["command"] == "DEL")
    assert runner.cache.read("fakenet", "ctr1", "net1") is None


def test_delete_survives_a_damaged_cache(runner: ConfigListRunner, record: Path) -> None:
    conflist = _three(record)
    asyncio.run(runner.add(conflist, _attachment()))
    runner.cache.path("fakenet", "ctr1", "net1").write_text("{damaged")
    asyncio.run(runner.delete(conflist, _attachment()))
    assert [seen["command"] for seen in records(record)].count("DEL") == 3
    assert not runner.cache.path("fakenet", "ctr1", "net1").exists()


def test_failed_delete_keeps_the_cache_for_the_retry(runner: ConfigListRunner, record: Path) -> None:
    conflist = _conflist(
        record, {"type": "fake-record", "result": RESULT}, {"type": "fake-fail", "failOn": ["DEL"]}
    )
    asyncio.run(runner.add(conflist, _attachment()))
    with pytest.raises(CNIError, match=r"plugin 2/2 type=\"fake-fail\" of network 'fakenet' failed \(DEL\)"):
        asyncio.run(runner.delete(conflist, _attachment()))
    assert runner.cache.read("fakenet", "ctr1", "net1") is not None
    assert [seen["command"] for seen in records(record)] == ["ADD"]


def test_check_uses_the_cached_result(runner: ConfigListRunner, record: Path) -> None:
    conflist = _three(record)
    asyncio.run(runner.add(conflist, _attachment()))
    asyncio.run(runner.check(conflist, _attachment()))
    checks = [seen for seen in records(record) if seen["command"] == "CHECK"]
    assert len(checks) == 3
    assert all(seen["stdin"]["prevResult"] == RESULT for seen in checks)


def test_check_rules(runner: ConfigListRunner, record: Path) -> None:
    with pytest.raises(IncompatibleVersion, match=r"CHECK needs 0.4.0 or later"):
        asyncio.run(runner.check(_three(record, "0.3.1"), _attachment()))
    asyncio.run(runner.check(_three(record, disableCheck=True), _attachment()))
    with pytest.raises(UnknownContainer, match="no cached result for container ctr1 interface net1"):
        asyncio.run(runner.check(_three(record), _attachment()))
    with pytest.raises(InvalidEnvironment, match="CNI_NETNS is required for CHECK"):
        asyncio.run(runner.check(_three(record), _attachment(netns="")))
    assert records(record) == []


def test_status(runner: ConfigListRunner, record: Path) -> None:
    asyncio.run(runner.status(_three(record, "1.0.0")))  # no STATUS before 1.1.0: nothing to ask
    assert records(record) == []
    asyncio.run(runner.status(_three(record)))
    assert [seen["env"]["CNI_COMMAND"] for seen in records(record)] == ["STATUS"] * 3
    assert all(set(seen["env"]) == {"CNI_COMMAND", "CNI_PATH", "PATH"} for seen in records(record))
    not_ready = _conflist(record, {"type": "fake-record"}, {"type": "fake-fail", "code": 50})
    with pytest.raises(CNIError) as caught:
        asyncio.run(runner.status(not_ready))
    assert caught.value.code == 50


def _cache_attachment(runner: ConfigListRunner, container_id: str, ifname: str) -> None:
    result = Result("1.1.0")
    runner.cache.write(CachedAttachment("fakenet", container_id, ifname, b"{}", result=result))


def test_gc_deletes_stale_attachments_and_sends_the_valid_ones(
    runner: ConfigListRunner, record: Path
) -> None:
    for container, ifname in [("keep", "net1"), ("stale", "net1"), ("keep", "net2")]:
        _cache_attachment(runner, container, ifname)
    runner.cache.write(CachedAttachment("othernet", "stale", "net1", b"{}"))
    asyncio.run(runner.gc(_three(record), [("keep", "net1"), ("keep", "net2"), ("elsewhere", "eth0")]))
    seen = records(record)
    assert [(entry["command"], entry["env"].get("CNI_CONTAINERID")) for entry in seen] == [
        ("DEL", "stale"),
        ("DEL", "stale"),
        ("DEL", "stale"),
        ("GC", None),
        ("GC", None),
        ("GC", None),
    ]
    valid = [
        {"containerID": "elsewhere", "ifname": "eth0"},
        {"containerID": "keep", "ifname": "net1"},
        {"containerID": "keep", "ifname": "net2"},
    ]
    for entry in seen[3:]:
        assert entry["stdin"]["cni.dev/valid-attachments"] == valid
        assert entry["stdin"]["cni.dev/attachments"] == valid
    assert {(e.container_id, e.ifname) for e in runner.cache.entries("fakenet")} == {
        ("keep", "net1"),
        ("keep", "net2"),
    }
    assert [e.network_name for e in runner.cache.entries(container_id="stale")] == ["othernet"]


def test_gc_before_11_only_deletes_stale_attachments(runner: ConfigListRunner, record: Path) -> None:
    _cache_attachment(runner, "stale", "net1")
    asyncio.run(runner.gc(_three(record, "1.0.0"), []))
    assert [entry["command"] for entry in records(record)] == ["DEL"] * 3


def test_gc_disabled(runner: ConfigListRunner, record: Path) -> None:
    _cache_attachment(runner, "stale", "net1")
    asyncio.run(runner.gc(_three(record, disableGC=True), []))
    assert records(record) == []
    assert len(runner.cache.entries()) == 1


def test_gc_reports_every_failure(runner: ConfigListRunner, record: Path) -> None:
    _cache_attachment(runner, "stale", "net1")
    conflist = _conflist(record, {"type": "fake-fail", "failOn": ["DEL", "GC"], "code": 60})
    with pytest.raises(CNIError) as caught:
        asyncio.run(runner.gc(conflist, []))
    assert caught.value.code == 60
    assert caught.value.msg.startswith("GC of network 'fakenet': 2 failure(s), first: plugin")
    assert "(DEL)" in caught.value.details
    assert "(GC)" in caught.value.details


def test_attachment_is_validated() -> None:
    with pytest.raises(InvalidEnvironment, match=r"CNI_CONTAINERID .*; CNI_IFNAME"):
        Attachment(container_id="-x", ifname="a b")
    with pytest.raises(InvalidEnvironment, match="CNI_ARGS"):
        Attachment(container_id="x", ifname="eth0", cni_args=(("A", "1;2"),))
    with pytest.raises(InvalidEnvironment, match="CNI_NETNS must not contain NUL"):
        Attachment(container_id="x", ifname="eth0", netns="/var/run/netns/a\0b")
    with pytest.raises(InvalidConfig, match="capability arguments are not JSON"):
        Attachment(container_id="x", ifname="eth0", capability_args={"portMappings": {1, 2}})
    with pytest.raises(InvalidEnvironment, match="CNI_NETNS is required for ADD"):
        asyncio.run(
            ConfigListRunner(DelegateExecutor([]), ResultCache("/nonexistent")).add(
                parse_network_config(json.dumps({"name": "n", "cniVersion": "1.0.0", "type": "x"})),
                Attachment(container_id="x", ifname="eth0"),
            )
        )


VALID_ID = "c0ffee"


@pytest.mark.parametrize(
    ("stdin_config", "expected"),
    [
        ({"cni.dev/valid-attachments": []}, frozenset()),
        (
            {"cni.dev/valid-attachments": [{"containerID": VALID_ID, "ifname": "eth0"}]},
            {(VALID_ID, "eth0")},
        ),
        ({"cni.dev/attachments": [{"containerID": VALID_ID, "ifname": "net1"}]}, {(VALID_ID, "net1")}),
        (  # the spec's name wins over the draft's
            {
                "cni.dev/valid-attachments": [{"containerID": VALID_ID, "ifname": "eth0"}],
                "cni.dev/attachments": [{"containerID": "other", "ifname": "eth0"}],
            },
            {(VALID_ID, "eth0")},
        ),
    ],
)
def test_a_valid_list_gives_its_pairs(stdin_config: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert parse_valid_attachments(stdin_config) == expected


@pytest.mark.parametrize(
    ("listed", "named"),
    [
        ("not a list", "must be a list"),
        ([VALID_ID], "[0] must be an object"),
        ([1], "[0] must be an object"),
        (
            [{"containerID": VALID_ID, "ifname": "eth0"}, {"containerID": 5, "ifname": "eth0"}],
            "[1].containerID",
        ),
        ([{"containerID": "../x", "ifname": "eth0"}], "[0].containerID"),
        # Found by Hypothesis: a first element without a string containerID raised UnboundLocalError.
        ([{}], "[0].containerID must be a string, not None"),
        ([{"containerID": 5, "ifname": "eth0"}], "[0].containerID must be a string, not 5"),
        ([{"containerID": VALID_ID}], "[0].ifname"),
        ([{"containerID": VALID_ID, "ifname": "a/b"}], "[0].ifname"),
    ],
)
def test_a_malformed_valid_list_is_refused_with_the_element_named(listed: Any, named: str) -> None:
    with pytest.raises(CNIError) as raised:
        parse_valid_attachments({"cni.dev/valid-attachments": listed})
    assert raised.value.code == 4
    assert named in raised.value.msg


def test_a_gc_without_a_valid_list_is_refused() -> None:
    with pytest.raises(CNIError, match="must be a list") as raised:
        parse_valid_attachments({"cniVersion": "1.1.0", "name": "n"})
    assert raised.value.code == 4
