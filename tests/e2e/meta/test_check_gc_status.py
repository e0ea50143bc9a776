"""CHECK against the delegates and the real netns, GC with and without the runtime's valid list, STATUS
with the cluster network's delegate and the readiness file, VERSION, ADD's readiness wait, logging."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyroute2 import IPRoute

from tests.e2e.meta.runtime import Runtime, Sandbox, answers_in_version

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

# What containerd sets for GC and STATUS: no container, netns, interface or pod.
NO_CONTAINER = {"CNI_CONTAINERID": None, "CNI_NETNS": None, "CNI_IFNAME": None, "CNI_ARGS": None}


def add_pod_with_blue(rt: Runtime) -> Sandbox:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue")
    rt.add(box)
    return box


def test_check_passes_after_add(rt: Runtime) -> None:
    add_pod_with_blue(rt)

    rt.check()

    rt.delete()
    assert rt.leftovers() == []


def test_check_of_a_network_older_than_check_looks_at_the_namespace_only(rt: Runtime) -> None:
    """Plugins before 0.4.0 have no CHECK: the pod's CHECK must not fail for that, and must still see a
    missing interface."""
    old = rt.bridge_net("old", default_route=False)
    old.config["cniVersion"] = "0.3.1"
    rt.nad("old", old.config)
    box = rt.pod("old")
    rt.add(box)

    rt.check()
    with IPRoute(netns=box.netns_name, flags=0) as ipr:
        ipr.link("del", ifname="net1")
    assert "net1" in rt.run("CHECK").error(None)["msg"]

    rt.delete()
    assert rt.leftovers() == []


def test_check_fails_when_an_interface_is_gone(rt: Runtime) -> None:
    box = add_pod_with_blue(rt)
    with IPRoute(netns=box.netns_name, flags=0) as ipr:
        ipr.link("del", ifname="net1")

    error = rt.run("CHECK").error(None)

    assert "net1" in error["msg"]
    rt.delete()
    assert rt.leftovers() == []


def test_check_fails_when_an_address_is_gone(rt: Runtime) -> None:
    box = add_pod_with_blue(rt)
    address, prefix = rt.links()["net1"].addresses[0].split("/")
    with IPRoute(netns=box.netns_name, flags=0) as ipr:
        ipr.addr("del", index=ipr.link_lookup(ifname="net1")[0], address=address, prefixlen=int(prefix))

    error = rt.run("CHECK").error(None)

    assert address in error["msg"] + error.get("details", "")
    rt.delete()
    assert rt.leftovers() == []


def test_check_of_a_container_never_added_fails_with_unknown_container(rt: Runtime) -> None:
    rt.pod()

    error = rt.run("CHECK").error(3)

    assert rt.sandbox.container_id in error["msg"]


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_gc_removes_containers_outside_the_valid_list_and_keeps_the_rest(rt: Runtime, key: str) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    kept, stale = rt.pod("blue"), rt.pod("blue")
    rt.add(kept)
    rt.add(stale)
    valid = [{"containerID": kept.container_id, "ifname": ifname} for ifname in ("eth0", "net1")]

    assert rt.run("GC", config=rt.multus_config(**{key: valid}), env=NO_CONTAINER).ok() is None

    assert rt.leftovers(stale) == []
    assert sorted(rt.links(kept)) == ["eth0", "net1"]
    assert rt.cache_file(kept).exists()
    assert len(rt.result_cache_files(kept)) == 2
    assert len(rt.ipam_allocations(kept)) == 2
    rt.delete(kept)
    assert rt.leftovers(kept) == []


def test_gc_recovers_a_stale_container_whose_record_is_damaged(rt: Runtime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    kept, stale = rt.pod("blue"), rt.pod("blue")
    rt.add(kept)
    rt.add(stale)
    rt.cache_file(stale).write_text('{"kind": "multusAttachmentsV1", "contai')
    valid = [{"containerID": kept.container_id, "ifname": "eth0"}]

    rt.run("GC", config=rt.multus_config(**{"cni.dev/valid-attachments": valid}), env=NO_CONTAINER).ok()

    assert rt.leftovers(stale) == []
    assert sorted(rt.links(kept)) == ["eth0", "net1"]
    rt.delete(kept)
    assert rt.leftovers(kept) == []


def test_gc_without_a_valid_list_fails_and_removes_nothing(rt: Runtime) -> None:
    box = add_pod_with_blue(rt)

    error = rt.run("GC", env=NO_CONTAINER).error(4)

    assert "cni.dev/valid-attachments" in error["msg"]
    assert sorted(rt.links(box)) == ["eth0", "net1"]
    assert rt.cache_file(box).exists()
    assert len(rt.result_cache_files(box)) == 2
    assert len(rt.ipam_allocations(box)) == 2
    rt.delete()
    assert rt.leftovers() == []


@pytest.mark.parametrize(
    "element",
    [lambda box: box.container_id, lambda box: 1, lambda box: {"containerID": 5, "ifname": "eth0"}],
    ids=["bare-id", "number", "numeric-id"],
)
def test_gc_with_a_malformed_valid_list_fails_and_removes_nothing(
    rt: Runtime, element: Callable[[Sandbox], object]
) -> None:
    box = add_pod_with_blue(rt)
    stale = rt.pod("blue")
    rt.add(stale)
    valid = [{"containerID": box.container_id, "ifname": "eth0"}, element(stale)]

    error = rt.run("GC", config=rt.multus_config(**{"cni.dev/valid-attachments": valid}), env=NO_CONTAINER)

    assert "cni.dev/valid-attachments[1]" in error.error(4)["msg"]
    for sandbox in (box, stale):
        assert sorted(rt.links(sandbox)) == ["eth0", "net1"]
        assert rt.cache_file(sandbox).exists()
        rt.delete(sandbox)
        assert rt.leftovers(sandbox) == []


def test_status_asks_the_cluster_network_delegates(rt: Runtime) -> None:
    rt.pod()

    assert rt.run("STATUS", env=NO_CONTAINER).ok() is None

    not_ready = {"type": "fake-fail", "failOn": ["STATUS"], "code": 50}
    rt.write_conf("10-cluster.conflist", {**rt.cluster.config, "plugins": [not_ready]})
    error = rt.run("STATUS", env=NO_CONTAINER).error(50)
    assert "mpy-cluster" in error["msg"]


def test_status_of_a_cluster_network_given_as_a_nad(rt: Runtime) -> None:
    multus_namespace = rt.make_namespace()
    rt.nad("from-nad", rt.bridge_net("from-nad").config, namespace=multus_namespace)
    rt.pod()
    config = rt.multus_config(multusNamespace=multus_namespace, clusterNetwork="from-nad")

    assert rt.run("STATUS", config=config, env=NO_CONTAINER).ok() is None


def test_status_honours_the_readiness_indicator_file(rt: Runtime) -> None:
    rt.pod()
    indicator = rt.root / "cluster-network-ready"
    config = rt.multus_config(readinessindicatorfile=str(indicator))

    error = rt.run("STATUS", config=config, env=NO_CONTAINER).error(50)
    assert str(indicator) in error["msg"]

    indicator.touch()
    assert rt.run("STATUS", config=config, env=NO_CONTAINER).ok() is None


def test_version_lists_every_supported_version(rt: Runtime) -> None:
    rt.pod()

    reply = rt.run("VERSION", stdin=b'{"cniVersion": "1.0.0"}', env=NO_CONTAINER).ok()

    assert reply["cniVersion"] == "1.0.0"
    assert reply["supportedVersions"] == ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def test_add_waits_for_the_readiness_indicator_file(rt: Runtime) -> None:
    rt.pod()
    indicator = rt.root / "cluster-network-ready"
    config = rt.multus_config(readinessindicatorfile=str(indicator), readinessTimeoutSeconds=60)

    with ThreadPoolExecutor(1) as pool:
        adding = pool.submit(rt.run, "ADD", config=config)
        time.sleep(1)
        assert not adding.done()
        assert rt.links() == {}
        indicator.touch()
        adding.result().ok()

    assert sorted(rt.links()) == ["eth0"]
    rt.delete(config=config)
    assert rt.leftovers() == []


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_every_answer_is_in_the_version_of_the_multus_config(rt: Runtime, version: str) -> None:
    answers_in_version(rt, version)


def test_log_file_gets_structured_lines_and_stderr_stays_quiet(rt: Runtime) -> None:
    box = rt.pod()
    log_file = rt.root / "logs" / "multus.log"
    config = rt.multus_config(logLevel="verbose", logFile=str(log_file), logToStderr=False)

    reply = rt.run("ADD", config=config)
    reply.ok()
    rt.delete(config=config)

    assert reply.stderr == ""
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {
        "level": "info",
        "msg": "attachment added",
        "container": box.container_id,
        "ifname": "eth0",
    }.items() <= (next(line for line in lines if line["msg"] == "attachment added").items())
    assert any(line["msg"] == "attachment deleted" for line in lines)
    assert rt.leftovers() == []


def test_a_failed_request_is_logged_as_an_error(rt: Runtime) -> None:
    ok, failing = rt.pod(), rt.pod("no-such-network", own_netns=True)
    log_file = rt.root / "multus.log"
    config = rt.multus_config(logLevel="verbose", logFile=str(log_file), logToStderr=False)

    rt.add(ok, config=config)
    error = rt.run("ADD", sandbox=failing, config=config).error(103)

    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(line["level"], line["container"]) for line in lines if line["level"] != "info"] == [
        ("error", failing.container_id)
    ]
    assert next(line for line in lines if line["level"] == "error") | {"time": None} == {
        "time": None,
        "level": "error",
        "msg": "request failed",
        "command": "ADD",
        "container": failing.container_id,
        "error": error["msg"],
    }
    for box in (ok, failing):
        rt.delete(box, config=config)
        assert rt.leftovers(box) == []
