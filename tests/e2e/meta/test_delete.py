"""DEL from the attachment cache when the pod, the NAD, the API server or the netns is gone; DEL twice;
DEL with the cache lost or damaged (recovered from libcni's result cache); DEL with libcni's cache lost
too (rebuilt from the pod), or with nothing to rebuild from; network-status cleared when the pod
outlives its sandbox, and only then."""

from __future__ import annotations

import json

import pytest
from pyroute2 import netns

from multus.cni.cache import CachedAttachment, ResultCache
from tests.e2e.meta.both_modes import del_rebuilds_when_record_and_cache_are_lost, second_del_runs_no_delegate
from tests.e2e.meta.runtime import NETWORK_STATUS, NETWORKS, RESULTS_DIR, Runtime, Sandbox, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def add_pod_with_blue(rt: Runtime, *, own_netns: bool = False) -> Sandbox:
    """A pod on the cluster network and one extra network, added."""
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue", own_netns=own_netns)
    rt.add(box)
    assert sorted(rt.links(box)) == ["eth0", "net1"]
    assert len(rt.ipam_allocations(box)) == 2
    return box


def test_del_after_the_pod_was_deleted(rt: Runtime) -> None:
    add_pod_with_blue(rt)
    rt.delete_pod_object()

    rt.delete()

    assert rt.leftovers() == []


def test_del_of_a_sandbox_the_pod_outlives_clears_its_network_status(rt: Runtime) -> None:
    """A sandbox that failed, or whose ADD result the runtime refused: the pod stays for the next one,
    and must not list the interfaces that went with this one."""
    add_pod_with_blue(rt)
    assert rt.network_status() is not None

    rt.delete()

    annotations = rt.read_pod().metadata.annotations  # type: ignore[union-attr]
    assert NETWORK_STATUS not in annotations
    assert annotations[NETWORKS] == "blue"  # only ours goes
    cleared = rt.resource_version()
    rt.delete()  # the runtime's second DEL: nothing to clear, so nothing written
    assert rt.resource_version() == cleared
    assert rt.leftovers() == []


def test_del_of_a_terminating_pod_leaves_its_network_status(rt: Runtime) -> None:
    add_pod_with_blue(rt)
    rt.delete_pod_held()
    terminating = rt.resource_version()
    status = rt.network_status()

    rt.delete()

    assert (rt.resource_version(), rt.network_status()) == (terminating, status)
    assert rt.leftovers() == []


def test_del_for_a_pod_recreated_under_the_same_name_leaves_the_new_pods_status(rt: Runtime) -> None:
    box = add_pod_with_blue(rt)
    rt.delete_pod_object(box)
    rt.create_pod_object(box.pod_namespace, box.pod_name, {NETWORK_STATUS: '[{"name": "the new pod\'s"}]'})
    recreated = rt.resource_version()

    rt.delete(box)  # the old sandbox, with the old UID in K8S_POD_UID

    assert (rt.resource_version(), rt.network_status()) == (recreated, [{"name": "the new pod's"}])
    assert rt.leftovers() == []


def test_del_after_the_nad_was_deleted(rt: Runtime) -> None:
    add_pod_with_blue(rt)
    rt.delete_nad("blue")

    rt.delete()

    assert rt.leftovers() == []


def test_del_with_the_api_server_unreachable(rt: Runtime) -> None:
    add_pod_with_blue(rt)

    rt.delete(config=rt.multus_config(kubeconfig=str(rt.dead_kubeconfig())))

    assert rt.leftovers() == []


def test_del_twice_succeeds_both_times(rt: Runtime) -> None:
    add_pod_with_blue(rt)

    rt.delete()
    rt.delete()  # containerd's stop, then remove

    assert rt.leftovers() == []


def test_del_after_the_netns_was_removed_still_releases_addresses(rt: Runtime) -> None:
    box = add_pod_with_blue(rt, own_netns=True)
    netns.remove(box.netns_name)

    rt.delete(box)

    assert rt.leftovers(box) == []


@pytest.mark.parametrize("damage", ["removed", "truncated", "emptied"])
def test_del_recovers_from_the_result_cache_when_the_record_is_lost(rt: Runtime, damage: str) -> None:
    add_pod_with_blue(rt)
    record = rt.cache_file()
    if damage == "removed":
        record.unlink()
    elif damage == "truncated":
        record.write_bytes(record.read_bytes()[: record.stat().st_size // 2])
    else:
        record.write_bytes(b"")

    rt.delete()

    assert rt.leftovers() == []


def test_del_recovering_from_the_result_cache_skips_the_runtimes_own_entry(rt: Runtime) -> None:
    """The runtime's libcni caches its call of multus in the same folder, under multus's network name:
    that entry is not one of the pod's attachments (taken for one, DEL would run multus as a delegate)."""
    add_pod_with_blue(rt)
    rt.cache_file().unlink()
    config = rt.multus_config()
    runtime_entry = CachedAttachment(
        network_name=config["name"],
        container_id=rt.sandbox.container_id,
        ifname="eth0",
        config=json.dumps(config).encode(),
        netns=rt.sandbox.netns,
    )
    runtime_cache = ResultCache(RESULTS_DIR.parent)
    runtime_cache.write(runtime_entry)
    try:
        rt.delete()
        assert runtime_cache.entries(container_id=rt.sandbox.container_id) == [runtime_entry]
    finally:
        runtime_cache.delete(runtime_entry.network_name, runtime_entry.container_id, runtime_entry.ifname)
    assert rt.leftovers() == []


def test_second_del_runs_no_delegate(rt: Runtime) -> None:
    second_del_runs_no_delegate(rt)


def test_del_rebuilds_the_attachments_when_record_and_cache_are_lost(rt: Runtime) -> None:
    del_rebuilds_when_record_and_cache_are_lost(rt)


@pytest.mark.parametrize("gone", ["pod", "nad"])
def test_del_rebuilds_what_it_can_and_warns_of_the_rest(rt: Runtime, gone: str) -> None:
    """Record and cache lost, and the pod or its NAD gone too: like upstream, the cluster network is still
    rebuilt and deleted; `net1` cannot be, the DEL succeeds all the same and the pod hears of it."""
    box = add_pod_with_blue(rt)
    rt.cache_file().unlink()
    for path in rt.result_cache_files():
        path.unlink()
    if gone == "pod":
        rt.delete_pod_object()
    else:
        rt.delete_nad("blue")

    rt.delete()

    assert sorted(rt.links()) == ["net1"]
    assert [path.parent.name for path in rt.ipam_allocations()] == ["blue"]  # eth0's address is free
    warnings = [event for event in rt.events() if event[0] == "Warning"]
    assert len(warnings) == 1
    _, reason, message = warnings[0]
    assert reason == "AttachmentsMayHaveLeaked"
    assert box.container_id in message
    assert "still holds eth0, net1; rebuilt mpy-cluster (eth0) from the pod to delete them" in message
    why = f"pod {rt.namespace}/{box.pod_name} not found" if gone == "pod" else f"network {rt.namespace}/blue"
    assert f"nothing to rebuild net1 from ({why}" in message
    assert message.endswith("IP allocations may have leaked")
    rt.delete()  # the runtime's second DEL: net1 is still there, still nothing to rebuild it from


def test_del_without_cni_netns_uses_the_recorded_netns(rt: Runtime) -> None:
    add_pod_with_blue(rt)

    rt.delete(env={"CNI_NETNS": None})  # containerd may pass none once the sandbox is gone

    assert rt.leftovers() == []


def test_del_after_the_plugin_was_killed_mid_add_removes_what_it_started(rt: Runtime) -> None:
    paused, started, release = rt.paused_net("paused")
    rt.nad("paused", paused.config)
    rt.pod("paused")
    adding = rt.start("ADD")
    wait_for(started.exists)  # eth0 is up, net1's bridge ran, its list is still running

    adding.kill()
    adding.communicate()
    release.touch()

    record = json.loads(rt.cache_file().read_text())  # written before the first delegate ran
    assert [entry["ifname"] for entry in record["attachments"]] == ["eth0", "net1"]
    # eth0's result went to libcni's cache, where DEL takes prevResult from; net1's list never finished
    assert sorted(path.name.rsplit("-", 1)[1] for path in rt.result_cache_files()) == ["eth0"]
    assert sorted(rt.links()) == ["eth0", "net1"]
    rt.delete()
    assert rt.leftovers() == []


def test_del_reports_a_failing_delegate_and_keeps_only_its_attachment(rt: Runtime) -> None:
    failing = rt.bridge_net(
        "del-fails", default_route=False, after=[{"type": "fake-fail", "failOn": ["DEL"]}]
    )
    rt.nad("del-fails", failing.config)
    rt.pod("del-fails")
    rt.add()

    error = rt.run("DEL").error(111)  # the delegate's own code, not a success that hides the leak

    assert f"{rt.namespace}/del-fails (net1)" in error["details"]
    assert "failed on purpose" in error["msg"]
    assert sorted(rt.links()) == ["net1"]  # eth0 was deleted all the same
    record = json.loads(rt.cache_file().read_text())
    assert [entry["ifname"] for entry in record["attachments"]] == ["net1"]
    rt.run("DEL").error(111)  # the runtime's retry meets the same failure


def test_del_reports_a_record_entry_that_no_longer_reads_and_deletes_the_others(rt: Runtime) -> None:
    add_pod_with_blue(rt)
    record = json.loads(rt.cache_file().read_text())
    blue = next(entry for entry in record["attachments"] if entry["ifname"] == "net1")
    blue["config"] = {"name": "blue", "plugins": "not a list"}  # damaged by hand
    rt.cache_file().write_text(json.dumps(record))

    error = rt.run("DEL").error(None)

    assert f"{rt.namespace}/blue (net1)" in error["details"]
    assert sorted(rt.links()) == ["net1"]  # eth0 was deleted all the same
    left = json.loads(rt.cache_file().read_text())
    assert [entry["ifname"] for entry in left["attachments"]] == ["net1"]


@pytest.mark.parametrize("kubeconfig", ["missing", "garbage"])
def test_del_with_an_unusable_kubeconfig_works_from_the_cache(rt: Runtime, kubeconfig: str) -> None:
    add_pod_with_blue(rt)
    path = rt.root / "unusable-kubeconfig"
    if kubeconfig == "garbage":
        path.write_text("{not: [yaml")

    rt.delete(config=rt.multus_config(kubeconfig=str(path)))

    assert rt.leftovers() == []
