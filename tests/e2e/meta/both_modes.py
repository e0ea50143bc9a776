"""Scenarios run in both modes, in-process (tests/e2e/meta) and through shim and daemon (tests/e2e/daemon):
`ips` and `mac` reaching plugins through CNI_ARGS without declared capabilities, and checked on what the
ADD gave; DEL rebuilding the attachments when the record and libcni's cache are both lost, and the
runtime's second DEL running no delegate. Each takes the mode's runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.meta.runtime import CLUSTER_NETWORK, Runtime, Sandbox, address_in, next_subnet


def static_ips_and_mac_without_capabilities(rt: Runtime, veth_master: str) -> None:
    """An upstream static-IP NAD declares no capabilities: the requests reach static IPAM, macvlan and
    host-local through CNI_ARGS, as upstream hands them over."""
    static, mac = f"{next_subnet().network_address + 7}/24", "02:42:0a:de:00:07"
    rt.nad(
        "static",
        {"cniVersion": "1.1.0", "type": "macvlan", "master": veth_master, "ipam": {"type": "static"}},
    )
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    wanted = f"{blue.subnet.network_address + 20}/{blue.subnet.prefixlen}"  # host-local: inside its range
    rt.pod([{"name": "static", "ips": [static], "mac": mac}, {"name": "blue", "ips": [wanted]}])

    rt.add()

    links = rt.links()
    assert (links["net1"].mac, links["net1"].addresses) == (mac, [static])
    assert address_in(links["net2"], blue) == wanted
    status = rt.network_status()
    assert status is not None
    assert [(entry["interface"], entry["ips"], entry.get("mac")) for entry in status[1:]] == [
        ("net1", [static.split("/", maxsplit=1)[0]], mac),
        ("net2", [wanted.split("/", maxsplit=1)[0]], links["net2"].mac),
    ]
    rt.delete()
    assert rt.leftovers() == []


def ptp_net(rt: Runtime, name: str, *after: dict[str, Any]) -> dict[str, Any]:
    """ptp + host-local (ptp gives its veth a MAC of its own, whatever CNI_ARGS says), then `after`."""
    ipam = {"type": "host-local", "dataDir": str(rt.ipam_dir), "ranges": [[{"subnet": str(next_subnet())}]]}
    return {"cniVersion": "1.1.0", "name": name, "plugins": [{"type": "ptp", "ipam": ipam}, *after]}


def tuning_mac_without_capabilities(rt: Runtime) -> None:
    """tuning reads `MAC` from CNI_ARGS: chained after ptp, it sets the requested MAC."""
    mac = "02:42:0a:de:00:09"
    rt.nad("tuned", ptp_net(rt, "tuned", {"type": "tuning"}))
    rt.pod([{"name": "tuned", "mac": mac}])

    rt.add()

    assert rt.links()["net1"].mac == mac
    status = rt.network_status()
    assert status is not None
    assert status[1]["mac"] == mac
    rt.delete()
    assert rt.leftovers() == []


def ignored_request_fails_cleanly(rt: Runtime, asked: str) -> None:
    """A network whose plugins ignore the request: an L2-only bridge gives no address, ptp keeps its own
    MAC. The ADD fails naming the network, what was asked and what was given, and leaves nothing."""
    if asked == "ips":
        bridge = rt.bridge_net("ignores", default_route=False).bridge
        rt.nad("ignores", {"cniVersion": "1.1.0", "name": "ignores", "type": "bridge", "bridge": bridge})
        element: dict[str, Any] = {"name": "ignores", "ips": ["10.253.0.5/24"]}
        fragments = ['"ips" asks for 10.253.0.5/24 and the result has no address']
    else:
        rt.nad("ignores", ptp_net(rt, "ignores"))
        element = {"name": "ignores", "mac": "02:42:0a:de:00:0b"}
        fragments = ['"mac" asks for 02:42:0a:de:00:0b and net1 has ']
    rt.pod([element])

    error = rt.run("ADD").error(2)

    assert error["msg"].startswith(f"network {rt.namespace}/ignores (net1): the delegates did not honour")
    for fragment in fragments:
        assert fragment in error["msg"], error
    assert rt.network_status() is None
    assert ("Warning", "FailedAddingInterfaces", error["msg"]) in rt.events()
    assert rt.leftovers() == []  # eth0 too: the whole ADD was undone
    rt.delete()  # the runtime's DEL after a failed ADD
    assert rt.leftovers() == []


def recorded_dels(record: Path) -> list[str]:
    """CNI_IFNAME of each DEL that `fake-record` saw, in order."""
    lines = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return [line["env"]["CNI_IFNAME"] for line in lines if line["command"] == "DEL"]


def add_recorded_pod(rt: Runtime) -> tuple[Sandbox, Path]:
    """A pod on the cluster network and `blue`, both ending in fake-record, added: the sandbox, and the
    file where the delegates' runs are recorded."""
    record = rt.root / "record.jsonl"
    recorder = {"type": "fake-record", "recordFile": str(record)}
    rt.cluster.config["plugins"].append(recorder)
    rt.write_conf("10-cluster.conflist", rt.cluster.config)
    rt.nad("blue", rt.bridge_net("blue", default_route=False, after=[recorder]).config)
    box = rt.pod("blue")
    rt.add(box)
    assert sorted(rt.links(box)) == ["eth0", "net1"]
    assert len(rt.ipam_allocations(box)) == 2
    return box, record


def second_del_runs_no_delegate(rt: Runtime) -> None:
    box, record = add_recorded_pod(rt)

    rt.delete(box)
    assert recorded_dels(record) == ["net1", "eth0"]
    rt.delete(box)  # containerd's stop, then remove: nothing is left, so nothing runs

    assert recorded_dels(record) == ["net1", "eth0"]
    assert [event for event in rt.events(box) if event[0] == "Warning"] == []
    assert rt.leftovers(box) == []


def del_rebuilds_when_record_and_cache_are_lost(rt: Runtime) -> None:
    """Neither the record nor libcni's cache: the namespace still holds interfaces, so the attachments
    are rebuilt from the pod as ADD makes them and deleted, and the pod is told; the second DEL, with
    nothing left, runs nothing."""
    box, record = add_recorded_pod(rt)
    rt.cache_file(box).unlink()
    cached = rt.result_cache_files(box)
    assert len(cached) == 2
    for path in cached:
        path.unlink()

    rt.delete(box)

    assert rt.leftovers(box) == []  # links, host ports and host-local's leases
    assert recorded_dels(record) == ["net1", "eth0"]
    warnings = [event for event in rt.events(box) if event[0] == "Warning"]
    assert [reason for _, reason, _ in warnings] == ["AttachmentsRebuilt"]
    message = warnings[0][2]
    assert box.container_id in message
    assert "still holds eth0, net1" in message
    assert f"rebuilt {CLUSTER_NETWORK} (eth0), {rt.namespace}/blue (net1) from the pod" in message
    rt.delete(box)
    assert recorded_dels(record) == ["net1", "eth0"]
    assert rt.leftovers(box) == []
