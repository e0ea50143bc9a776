"""The real bridge + host-local plugins, run as a container runtime would, in a throwaway netns."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from tests.conftest import netns_path, unique_name

pytestmark = pytest.mark.netns


def run_plugin(cni_bin: Path, command: str, netns: str, config: dict[str, Any]) -> dict[str, Any]:
    env = {
        "PATH": os.environ["PATH"],
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "ctr-foundation",
        "CNI_NETNS": netns_path(netns),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(cni_bin),
    }
    done = subprocess.run(
        [str(cni_bin / config["type"])],
        input=json.dumps(config).encode(),
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.fixture
def bridge_name() -> Iterator[str]:
    name = unique_name("br")
    yield name
    with IPRoute() as ipr, contextlib.suppress(NetlinkError):
        ipr.link("del", ifname=name)


def test_bridge_host_local_add_then_del_leaves_nothing(
    cni_bin: Path, netns_name: str, bridge_name: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "ipam"
    config = {
        "cniVersion": "1.1.0",
        "name": "foundation",
        "type": "bridge",
        "bridge": bridge_name,
        "ipam": {"type": "host-local", "subnet": "10.250.7.0/24", "dataDir": str(data_dir)},
    }
    result = run_plugin(cni_bin, "ADD", netns_name, config)
    assert result["cniVersion"] == "1.1.0"
    address = result["ips"][0]["address"]
    assert address.startswith("10.250.7.")

    with IPRoute(netns=netns_name, flags=0) as ipr:
        (link,) = ipr.link("get", ifname="eth0")
        assert link.get("IFLA_OPERSTATE") == "UP"
        addrs = [
            f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=link["index"], family=2)
        ]
    assert addrs == [address]
    allocations = [p.name for p in (data_dir / "foundation").iterdir() if p.name[0].isdigit()]
    assert allocations == [address.split("/")[0]]

    run_plugin(cni_bin, "DEL", netns_name, config)

    with IPRoute(netns=netns_name, flags=0) as ipr:
        assert ipr.link_lookup(ifname="eth0") == []
        assert [a for a in ipr.get_addr(family=2) if a.get("IFA_LABEL") != "lo"] == []
    assert [p.name for p in (data_dir / "foundation").iterdir() if p.name[0].isdigit()] == []
    # A second DEL, as the runtime sends on stop and remove, succeeds on nothing.
    run_plugin(cni_bin, "DEL", netns_name, config)
