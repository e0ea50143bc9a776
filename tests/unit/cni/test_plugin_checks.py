"""The main plugins' own keys (MTU, modes, VLAN IDs): each refusal names the field, and the real plugin's
ADD, run in throwaway namespaces, fails exactly when the validator refuses.

The plugin runs inside a namespace standing for the node, whose master is a veth at the largest MTU a
master can have: what is left to refuse is what every node refuses. DEL follows every ADD, as a runtime
does, and neither namespace keeps anything the plugin made.

On a kernel without a link type (ipvlan, 8021q), the plugin's ADD gets as far as asking for the link: a
config it accepts fails there and nowhere earlier, which is then what is compared; the rows only the
kernel decides (KERNEL_DECIDED) are compared on kernels that have the type."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from multus.cni.ipam import plugin_config_problem
from tests.conftest import netns_path, throwaway_netns

pytestmark = pytest.mark.netns

VERSION = "1.0.0"
MASTER, IFNAME, BRIDGE = "master0", "net1", "br-probe"
MASTER_MTU = 65535  # ETH_MAX_MTU: no master has more

_BIG = 2**31  # the kernel reads it back as a negative int


def _mtus(plugin: str, refused: tuple[int, ...], accepted: tuple[int, ...]) -> dict[str, tuple[Any, ...]]:
    cases: dict[str, tuple[Any, ...]] = {
        f"{plugin} mtu {mtu}": ({"type": plugin, "mtu": mtu}, "mtu") for mtu in refused
    }
    cases |= {f"{plugin} mtu {mtu}": ({"type": plugin, "mtu": mtu}, None) for mtu in accepted}
    return cases


# (plugin config without name and cniVersion, None when accepted or the field the refusal names)
CASES: dict[str, tuple[Any, ...]] = {
    **_mtus("macvlan", (-1, 67, 65536, _BIG), (0, 68, 9000, 65535)),
    **{
        f"macvlan mode {mode}": ({"type": "macvlan", "mode": mode}, None)
        for mode in ("bridge", "private", "vepa", "passthru")
    },
    "macvlan mode l2": ({"type": "macvlan", "mode": "l2"}, "mode"),
    "macvlan mode Bridge": ({"type": "macvlan", "mode": "Bridge"}, "mode"),
    "macvlan mtu as text": ({"type": "macvlan", "mtu": "1500"}, "mtu"),
    "macvlan bcqueuelen -1": ({"type": "macvlan", "bcqueuelen": -1}, "bcqueuelen"),
    "macvlan bcqueuelen 100": ({"type": "macvlan", "bcqueuelen": 100}, None),
    # netlink leaves out an MTU of 0 or less: the kernel gives the master's.
    **_mtus("ipvlan", (67, 65536, _BIG), (-1, 0, 68, 9000)),
    **{f"ipvlan mode {mode}": ({"type": "ipvlan", "mode": mode}, None) for mode in ("l2", "l3", "l3s")},
    "ipvlan mode bridge": ({"type": "ipvlan", "mode": "bridge"}, "mode"),
    "ipvlan flag, which it does not read": ({"type": "ipvlan", "flag": "bogus"}, None),
    **_mtus("vlan", (-1, 65536, _BIG), (0, 1, 9000, 65535)),
    "vlan id 0": ({"type": "vlan", "vlanId": 0}, None),
    "vlan id 4094": ({"type": "vlan", "vlanId": 4094}, None),
    "vlan id 4095": ({"type": "vlan", "vlanId": 4095}, "vlanId"),
    "vlan id -1": ({"type": "vlan", "vlanId": -1}, "vlanId"),
    "vlan without master": ({"type": "vlan", "master": "", "vlanId": 5}, "master"),
    **_mtus("ptp", (67, 65536), (-1, 0, 68, 9000)),
    # bridge's VLAN keys are in test_ipam.py (read on DEL, without a kernel's VLAN filtering).
    **_mtus("bridge", (67, 65536), (-1, 0, 68, 9000)),
    # A veth's range is 68-65535, another link's may differ: only what no link takes is refused.
    **_mtus("tuning", (-1, _BIG), (0, 68, 9000)),
    "tuning args.cni.mtu -5": ({"type": "tuning", "args": {"cni": {"mtu": -5}}}, "args.cni.mtu"),
    "tuning args.cni.mtu replacing a bad mtu": (
        {"type": "tuning", "mtu": -1, "args": {"cni": {"mtu": 1400}}},
        None,
    ),
}

KERNEL_DECIDED = frozenset({"ipvlan mtu 67", "ipvlan mtu 65536", f"ipvlan mtu {_BIG}"})


@pytest.fixture
def node_ns() -> Iterator[str]:
    """A namespace standing for the node: `lo` and a veth master, both up."""
    with throwaway_netns("mt-node-") as name:
        with IPRoute(netns=name, flags=0) as ipr:
            ipr.link("add", ifname=MASTER, kind="veth", peer={"ifname": f"{MASTER}p", "mtu": MASTER_MTU})
            ipr.link("set", index=ipr.link_lookup(ifname=MASTER)[0], state="up", mtu=MASTER_MTU)
        yield name


def _kernel_lacks(node: str, plugin: str) -> bool:
    """Whether the kernel cannot make the link type `plugin` makes on a master (no ipvlan or 8021q)."""
    if plugin not in ("ipvlan", "vlan"):
        return False
    extra = {"vlan_id": 5} if plugin == "vlan" else {}
    with IPRoute(netns=node, flags=0) as ipr:
        try:
            ipr.link("add", ifname="probe0", kind=plugin, link=ipr.link_lookup(ifname=MASTER)[0], **extra)
        except NetlinkError as error:
            if error.code == errno.EOPNOTSUPP:
                return True
            raise
        ipr.link("del", ifname="probe0")
    return False


def _links(name: str) -> set[str]:
    with IPRoute(netns=name, flags=0) as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def _plugin_input(config: dict[str, Any], tmp_path: Path, container_ns: str) -> dict[str, Any]:
    given: dict[str, Any] = {"cniVersion": VERSION, "name": "probe", **config}
    kind = given["type"]
    if kind in ("macvlan", "ipvlan", "vlan"):
        given.setdefault("master", MASTER)
    if kind == "bridge":
        given["bridge"] = BRIDGE
    if kind == "ptp":  # it always runs IPAM
        given["ipam"] = {"type": "host-local", "subnet": "10.99.0.0/24", "dataDir": str(tmp_path / "ipam")}
    if kind == "tuning":
        given["dataDir"] = str(tmp_path / "tuning")
        given["prevResult"] = {
            "cniVersion": VERSION,
            "interfaces": [{"name": IFNAME, "sandbox": netns_path(container_ns)}],
        }
    return given


def _run(
    cni_bin: Path, node: str, container_ns: str, command: str, given: dict[str, Any]
) -> subprocess.CompletedProcess[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "probe1",
        "CNI_IFNAME": IFNAME,
        "CNI_NETNS": netns_path(container_ns),
        "CNI_PATH": str(cni_bin),
    }
    return subprocess.run(
        ["nsenter", f"--net={netns_path(node)}", str(cni_bin / given["type"])],
        input=json.dumps(given).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_the_verdict_names_the_field(case: str, tmp_path: Path) -> None:
    config, field = CASES[case]
    given = _plugin_input(config, tmp_path, "unused")
    refused = plugin_config_problem(given, VERSION)
    assert (refused.where if refused else None) == field, refused


@pytest.mark.parametrize("case", list(CASES))
def test_the_real_plugin_refuses_the_same(
    case: str, cni_bin: Path, node_ns: str, netns_name: str, tmp_path: Path
) -> None:
    config, field = CASES[case]
    given = _plugin_input(config, tmp_path, netns_name)
    if given["type"] == "tuning":  # it changes the interface an earlier plugin made
        with IPRoute(netns=netns_name, flags=0) as ipr:
            ipr.link("add", ifname=IFNAME, kind="veth", peer={"ifname": f"{IFNAME}p"})
    node_links, container_links = _links(node_ns), _links(netns_name)
    added = _run(cni_bin, node_ns, netns_name, "ADD", given)
    deleted = _run(cni_bin, node_ns, netns_name, "DEL", given)
    said = added.stdout.decode() + added.stderr.decode()
    if _kernel_lacks(node_ns, given["type"]):
        reached_the_kernel = f"failed to create {given['type']}: operation not supported" in said
        assert added.returncode != 0
        assert reached_the_kernel == (field is None or case in KERNEL_DECIDED), said
    else:
        assert (added.returncode == 0) == (field is None), said
    if field is None and added.returncode == 0:
        assert deleted.returncode == 0, deleted.stdout.decode()
    # Nothing the plugin made is left: the bridge itself stays, as the plugin leaves it by design.
    assert _links(node_ns) - {BRIDGE} == node_links
    assert _links(netns_name) == container_links
    assert not list((tmp_path / "ipam" / "probe").glob("10.*")), "host-local kept a lease"
