"""The daemon's watch caches: a steady-state ADD reads nothing from the API server, a pod the cache has
not seen is read live, and 20 pods at once all work and leave nothing behind."""

from __future__ import annotations

import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.daemon.support import DaemonProcess, ShimRuntime, apiserver_requests, metric, wait_for
from tests.e2e.meta.runtime import Reply
from tests.testenv import TestEnv

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

# What the comparison looks at: the daemon's business. Other resources change on their own (the API
# server renews its leases every few seconds), and /metrics itself is not a resource request.
WATCHED = ("pods", "network-attachment-definitions", "events")


def requests_on(env: TestEnv) -> dict[tuple[str, str, str], float]:
    return {key: value for key, value in apiserver_requests(env).items() if key[1] in WATCHED}


def difference(
    before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float]
) -> dict[tuple[str, str, str], float]:
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}


def cached(daemon: DaemonProcess, kind: str) -> float:
    return metric(daemon.metrics(), "multus_cache_objects", kind=kind)


def test_a_steady_state_add_reads_nothing_and_writes_only_the_status(
    start_daemon: StartDaemon, runtime_for: RuntimeFor, apiserver: TestEnv
) -> None:
    """Counted with the API server's own `apiserver_request_total`, by verb and resource, before and
    after the ADD. What counts: every request on pods, NADs and events. Expected: no GET or LIST of
    anything, one PATCH of `pods/status` (network-status), one POST to `events` per interface
    (AddedInterface). Watches are left out: a watch is counted when it ends, and the daemon's stay open."""
    daemon = start_daemon()  # of its own: the node's pods are this test's only
    rt = runtime_for(daemon)
    blue = rt.bridge_net("blue", default_route=False)
    nads = cached(daemon, "network-attachment-definitions")
    rt.nad("blue", blue.config)
    wait_for("the NAD in the cache", lambda: cached(daemon, "network-attachment-definitions") == nads + 1)
    # Steady state: the daemon has served a pod before (the first ADD looked the cluster network's name
    # up as a NAD, found none, and remembers that).
    warm_up = rt.pod("blue")
    rt.add(warm_up)
    box = rt.pod("blue")
    wait_for("both pods in the cache", lambda: cached(daemon, "pods") == 2)
    before = requests_on(apiserver)

    rt.add(box)

    expected = {("PATCH", "pods", "status"): 1.0, ("POST", "events", ""): 2.0}
    wait_for(
        "the status write and the events", lambda: difference(before, requests_on(apiserver)) == expected
    )
    time.sleep(0.5)  # and nothing more comes afterwards
    assert difference(before, requests_on(apiserver)) == expected
    assert sorted(rt.links(box)) == ["eth0", "net1"]
    for sandbox in (box, warm_up):
        rt.delete(sandbox)
        assert rt.leftovers(sandbox) == []


def test_a_pod_created_a_moment_ago_is_served(rt: ShimRuntime) -> None:
    """Created and ADDed at once, as a kubelet does: the watch event may or may not be there yet."""
    box = rt.pod()

    rt.add(box)

    assert sorted(rt.links(box)) == ["eth0"]
    assert rt.network_status(box) is not None
    rt.delete(box)
    assert rt.leftovers(box) == []


def test_a_pod_missing_from_the_cache_is_read_live(rt: ShimRuntime, apiserver: TestEnv) -> None:
    """A pod of another node is never in this daemon's cache: for the cache it is exactly a pod whose
    watch event has not arrived yet. The ADD reads it with one live GET and works."""
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod_node = "a-node-nobody-watches"
    box = rt.pod("blue")
    before = requests_on(apiserver)

    rt.add(box)

    reads = difference(before, requests_on(apiserver))
    assert reads.get(("GET", "pods", "")) == 1.0, reads
    assert sorted(rt.links(box)) == ["eth0", "net1"]
    status = rt.network_status(box)
    assert status is not None
    assert [entry["interface"] for entry in status] == ["eth0", "net1"]
    rt.delete(box)
    assert rt.leftovers(box) == []


def test_twenty_pods_added_and_deleted_at_once(rt: ShimRuntime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    boxes = [rt.pod("blue", own_netns=True) for _ in range(20)]

    def run_all(command: str) -> list[Reply]:
        with ThreadPoolExecutor(max_workers=len(boxes)) as pool:
            return list(pool.map(lambda box: rt.run(command, sandbox=box), boxes))

    added = run_all("ADD")

    results = [reply.ok() for reply in added]
    eth0 = [ipaddress.ip_interface(result["ips"][0]["address"]) for result in results]
    assert all(address in ipaddress.ip_network(rt.cluster.subnet) for address in eth0)
    assert len(set(eth0)) == 20
    net1 = set()
    for box in boxes:
        links = rt.links(box)
        assert sorted(links) == ["eth0", "net1"]
        net1.add(links["net1"].addresses[0])
        status = rt.network_status(box)
        assert status is not None
        assert [entry["interface"] for entry in status] == ["eth0", "net1"]
    assert len(net1) == 20

    deleted = run_all("DEL")

    assert [reply.ok() for reply in deleted] == [None] * 20
    assert {box.container_id: rt.leftovers(box) for box in boxes} == {box.container_id: [] for box in boxes}
    assert rt.bridge_ports() == []
    assert not [path for path in rt.ipam_dir.rglob("*") if path.is_file() and _is_lease(path)]


def _is_lease(path: Path) -> bool:
    """host-local names each lease file after the address."""
    try:
        ipaddress.ip_address(path.name)
    except ValueError:
        return False
    return True
