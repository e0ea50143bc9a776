"""multus.cni against the real plugins (containernetworking/plugins v1.10.0) in throwaway netns.

Every setup runs at every spec version: ADD, CHECK (0.4.0+; refused before), STATUS, DEL, and a second
DEL. After DEL the netns holds nothing but `lo`, the host holds no leftover veth end or port-mapping
rule, host-local's data folder holds no allocation, and the result cache holds no entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from multus.cni import (
    SUPPORTED_VERSIONS,
    Attachment,
    CNIError,
    ConfigListRunner,
    DelegateExecutor,
    IncompatibleVersion,
    NetworkConfigList,
    Result,
    ResultCache,
    VersionInfo,
    at_least,
    parse_network_config,
)
from tests.conftest import netns_path, unique_name

pytestmark = pytest.mark.netns

IFNAME = "net1"
PLUGINS_USED = ("bridge", "host-local", "ptp", "macvlan", "static", "tuning", "portmap")


@pytest.fixture
def runner(cni_bin: Path, tmp_path: Path) -> Iterator[ConfigListRunner]:
    runner = ConfigListRunner(DelegateExecutor([cni_bin], timeout=60), ResultCache(tmp_path / "cache"))
    yield runner
    # A test that stops halfway must not leave port mappings or leases behind: DEL what is still cached.
    for entry in runner.cache.entries():
        stale = Attachment(
            entry.container_id, entry.ifname, entry.netns, entry.cni_args, entry.capability_args
        )
        with contextlib.suppress(CNIError):
            asyncio.run(runner.delete(parse_network_config(entry.config), stale))


@pytest.fixture
def bridge_name() -> Iterator[str]:
    name = unique_name("mcb")
    yield name
    with IPRoute() as ipr, contextlib.suppress(NetlinkError):
        ipr.link("del", ifname=name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "ipam"


def _subnet(second_octet: int, version: str) -> str:
    """A /24 of its own for each test and version, inside 10.234.0.0/15 .. 10.238.0.0/16."""
    return f"10.{second_octet}.{SUPPORTED_VERSIONS.index(version) + 1}.0/24"


def _attachment(netns_name: str, **capability_args: Any) -> Attachment:
    return Attachment(
        container_id=f"mcni-{uuid.uuid4().hex[:12]}",
        ifname=IFNAME,
        netns=netns_path(netns_name),
        cni_args=(("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", "test"), ("K8S_POD_NAME", "pod")),
        capability_args=capability_args,
    )


def _sandbox(netns_name: str) -> dict[str, Any]:
    """Links (name → mtu, index of the veth peer on the host) and addresses, `lo` and link-local aside."""
    with IPRoute(netns=netns_name, flags=0) as ipr:
        loopback = ipr.link_lookup(ifname="lo")[0]
        links = {
            link.get("IFLA_IFNAME"): {"mtu": link.get("IFLA_MTU"), "peer": link.get("IFLA_LINK")}
            for link in ipr.get_links()
            if link["index"] != loopback
        }
        addresses = [
            f"{address.get('IFA_ADDRESS')}/{address['prefixlen']}"
            for address in ipr.get_addr()
            if address["index"] != loopback and not address.get("IFA_ADDRESS", "").startswith("fe80")
        ]
    return {"links": links, "addresses": addresses}


def _host_link_name(index: int) -> str | None:
    with IPRoute() as ipr:
        try:
            (link,) = ipr.get_links(index)
        except NetlinkError:
            return None
    return str(link.get("IFLA_IFNAME"))


def _allocations(data_dir: Path, network: str) -> list[str]:
    folder = data_dir / network
    return sorted(p.name for p in folder.iterdir() if p.name[0].isdigit()) if folder.exists() else []


def _nat_rules_mentioning(text: str) -> list[str]:
    saved = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    return [line for line in saved.splitlines() if text in line]


def _lifecycle(
    runner: ConfigListRunner, conflist: NetworkConfigList, attachment: Attachment, netns_name: str
) -> tuple[Result, dict[str, Any]]:
    """ADD, CHECK (or its refusal), STATUS; returns the result and what the netns holds after ADD."""
    result = asyncio.run(runner.add(conflist, attachment))
    assert result.cni_version == conflist.version
    inside = _sandbox(netns_name)
    assert IFNAME in inside["links"]
    cached = runner.cache.read(conflist.name, attachment.container_id, attachment.ifname)
    assert cached is not None
    assert cached.result == result
    if at_least(conflist.version, "0.4.0"):
        asyncio.run(runner.check(conflist, attachment))
    else:
        with pytest.raises(IncompatibleVersion):
            asyncio.run(runner.check(conflist, attachment))
    asyncio.run(runner.status(conflist))
    return result, inside


def _delete_leaves_nothing(
    runner: ConfigListRunner, conflist: NetworkConfigList, attachment: Attachment, netns_name: str
) -> None:
    asyncio.run(runner.delete(conflist, attachment))
    assert _sandbox(netns_name) == {"links": {}, "addresses": []}
    assert runner.cache.read(conflist.name, attachment.container_id, attachment.ifname) is None
    asyncio.run(runner.delete(conflist, attachment))  # as the runtime repeats it: still fine


def _only_address(result: Result, subnet: str) -> str:
    (ip,) = result.ips
    assert ip.address in ipaddress.ip_network(subnet) or ip.address.ip in ipaddress.ip_network(subnet)
    return str(ip.address)


def test_every_plugin_used_speaks_every_version(cni_bin: Path) -> None:
    executor = DelegateExecutor([cni_bin])
    for plugin in PLUGINS_USED:
        info = asyncio.run(executor.version_info(plugin))
        assert info == VersionInfo("1.1.0", SUPPORTED_VERSIONS), plugin


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_bridge_with_host_local(
    runner: ConfigListRunner, netns_name: str, bridge_name: str, data_dir: Path, version: str
) -> None:
    subnet = _subnet(234, version)
    conflist = parse_network_config(
        {
            "cniVersion": version,
            "name": "mcni-bridge",
            "type": "bridge",
            "bridge": bridge_name,
            "isGateway": True,
            "ipam": {"type": "host-local", "subnet": subnet, "dataDir": str(data_dir)},
        }
    )
    attachment = _attachment(netns_name)
    result, inside = _lifecycle(runner, conflist, attachment, netns_name)
    address = _only_address(result, subnet)
    assert inside["addresses"] == [address]
    assert _allocations(data_dir, "mcni-bridge") == [address.split("/")[0]]
    host_end = _host_link_name(inside["links"][IFNAME]["peer"])
    assert host_end is not None

    _delete_leaves_nothing(runner, conflist, attachment, netns_name)
    assert _allocations(data_dir, "mcni-bridge") == []
    assert _host_link_name(inside["links"][IFNAME]["peer"]) != host_end


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_ptp_with_host_local(runner: ConfigListRunner, netns_name: str, data_dir: Path, version: str) -> None:
    subnet = _subnet(235, version)
    conflist = parse_network_config(
        {
            "cniVersion": version,
            "name": "mcni-ptp",
            "type": "ptp",
            "ipam": {"type": "host-local", "subnet": subnet, "dataDir": str(data_dir)},
        }
    )
    attachment = _attachment(netns_name)
    result, inside = _lifecycle(runner, conflist, attachment, netns_name)
    assert inside["addresses"] == [_only_address(result, subnet)]
    host_end = _host_link_name(inside["links"][IFNAME]["peer"])
    assert host_end is not None

    _delete_leaves_nothing(runner, conflist, attachment, netns_name)
    assert _allocations(data_dir, "mcni-ptp") == []
    assert _host_link_name(inside["links"][IFNAME]["peer"]) != host_end


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_macvlan_with_static_ipam(
    runner: ConfigListRunner, netns_name: str, veth_master: str, version: str
) -> None:
    subnet = ipaddress.ip_network(_subnet(236, version))
    address = f"{subnet[5]}/24"
    conflist = parse_network_config(
        {
            "cniVersion": version,
            "name": "mcni-macvlan",
            "type": "macvlan",
            "master": veth_master,
            "mode": "bridge",
            "ipam": {"type": "static", "addresses": [{"address": address, "gateway": str(subnet[1])}]},
        }
    )
    attachment = _attachment(netns_name)
    result, inside = _lifecycle(runner, conflist, attachment, netns_name)
    assert _only_address(result, str(subnet)) == address
    assert inside["addresses"] == [address]

    _delete_leaves_nothing(runner, conflist, attachment, netns_name)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_bridge_tuning_portmap_list(
    runner: ConfigListRunner, netns_name: str, bridge_name: str, data_dir: Path, version: str
) -> None:
    subnet = _subnet(237, version)
    conflist = parse_network_config(
        {
            "cniVersion": version,
            "name": "mcni-chain",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": bridge_name,
                    "ipam": {"type": "host-local", "subnet": subnet, "dataDir": str(data_dir)},
                },
                {"type": "tuning", "mtu": 1400, "sysctl": {"net.core.somaxconn": "512"}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
    )
    host_port = 20000 + SUPPORTED_VERSIONS.index(version)
    mapping = {"hostPort": host_port, "containerPort": 80, "protocol": "tcp"}
    attachment = _attachment(netns_name, portMappings=[mapping], bandwidth={"ingressRate": 1})
    result, inside = _lifecycle(runner, conflist, attachment, netns_name)
    assert inside["addresses"] == [_only_address(result, subnet)]
    assert inside["links"][IFNAME]["mtu"] == 1400
    somaxconn = subprocess.run(
        ["ip", "netns", "exec", netns_name, "sysctl", "-n", "net.core.somaxconn"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert somaxconn.stdout.strip() == "512"
    (rule,) = _nat_rules_mentioning(attachment.container_id)
    assert f"--dports {host_port}" in rule

    _delete_leaves_nothing(runner, conflist, attachment, netns_name)
    assert _allocations(data_dir, "mcni-chain") == []
    assert _nat_rules_mentioning(attachment.container_id) == []


def test_add_onto_a_taken_interface_fails_with_the_plugins_error(
    runner: ConfigListRunner, netns_name: str, bridge_name: str, data_dir: Path
) -> None:
    conflist = parse_network_config(
        {
            "cniVersion": "1.1.0",
            "name": "mcni-taken",
            "type": "bridge",
            "bridge": bridge_name,
            "ipam": {"type": "host-local", "subnet": "10.238.1.0/24", "dataDir": str(data_dir)},
        }
    )
    first = _attachment(netns_name)
    asyncio.run(runner.add(conflist, first))
    second = Attachment(container_id="mcni-second", ifname=IFNAME, netns=first.netns)
    with pytest.raises(CNIError) as caught:
        asyncio.run(runner.add(conflist, second))
    assert caught.value.msg.startswith("plugin 1/1 type=\"bridge\" of network 'mcni-taken' failed (ADD): ")
    assert IFNAME in str(caught.value)
    asyncio.run(runner.delete(conflist, second))  # the runtime's DEL after the failed ADD
    _delete_leaves_nothing(runner, conflist, first, netns_name)
    assert _allocations(data_dir, "mcni-taken") == []


def test_gc_deletes_what_is_no_longer_valid(
    runner: ConfigListRunner, netns_name: str, bridge_name: str, data_dir: Path
) -> None:
    conflist = parse_network_config(
        {
            "cniVersion": "1.1.0",
            "name": "mcni-gc",
            "type": "bridge",
            "bridge": bridge_name,
            "ipam": {"type": "host-local", "subnet": "10.238.2.0/24", "dataDir": str(data_dir)},
        }
    )
    keep, stale = _attachment(netns_name), _attachment(netns_name)
    stale = Attachment(stale.container_id, "net2", stale.netns, stale.cni_args)
    kept = asyncio.run(runner.add(conflist, keep))
    asyncio.run(runner.add(conflist, stale))
    assert len(_allocations(data_dir, "mcni-gc")) == 2

    asyncio.run(runner.gc(conflist, [(keep.container_id, keep.ifname)]))
    assert _allocations(data_dir, "mcni-gc") == [str(kept.ips[0].address.ip)]
    assert set(_sandbox(netns_name)["links"]) == {IFNAME}
    assert [entry.container_id for entry in runner.cache.entries("mcni-gc")] == [keep.container_id]

    _delete_leaves_nothing(runner, conflist, keep, netns_name)
    assert _allocations(data_dir, "mcni-gc") == []
