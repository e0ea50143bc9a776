"""A pod's ADD, CHECK and DEL through real libcni, as containerd makes them, for each libcni version the
runtimes vendor (`versions`) and each primary config version.

The runtime reads the first config of its conf dir: in thick mode the `00-multus.conf` that a real
`multus-daemon` writes in front of the primary, in thin mode a config like `examples/multus.conf`. The
pod asks for a NAD network, so the meta-plugin makes eth0 and net1. What the runtime gets must be what it
would get from the primary alone through the same libcni: the same successes and the same errors (libcni
v1.1.x refuses a 1.1.0 result, and any libcni refuses CHECK below 0.4.0), so each case also runs the
primary directly, in a netns of its own, and compares. Nothing may be left either way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon.conftest import StartDaemon
from tests.e2e.daemon.support import DaemonProcess, ShimRuntime
from tests.e2e.meta.runtime import MULTUS, NETWORKS, BridgeNet, Runtime, Sandbox, address_in
from tests.testenv import CACHE

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

HERE = Path(__file__).resolve().parent
LIBCNI_VERSIONS = [
    line for line in (HERE / "versions").read_text().splitlines() if line and not line.startswith("#")
]
PRIMARY_VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"]
PRIMARY_FILE = "10-cluster.conflist"  # the name the runtimes' cluster network has in `Runtime`

# What each operation came to: None when it succeeded, else libcni's error.
Outcomes = dict[str, str | None]
# libcni names the failed plugin (`plugin type="bridge" failed (add): ...`): the meta-plugin, or the primary.
FAILED_PLUGIN = re.compile(r'^plugin type="[^"]*"(?: name="[^"]*")? failed')


@dataclass
class LibcniRuntime:
    """containerd's CNI side: the libcni-client built against `version`, with a result cache of its own
    and a CNI_PATH of `plugins` (where a test puts `multus-shim` or `multus`) and the CNI plugins."""

    version: str
    root: Path
    cni_bin: Path

    @property
    def client(self) -> Path:
        return CACHE / f"libcni-{self.version}-bin" / "libcni-client"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def run(
        self, op: str, conf_dir: Path, box: Sandbox, annotations: dict[str, str]
    ) -> tuple[str | None, dict[str, Any] | None]:
        """One operation on the first config of `conf_dir`: (error without the plugin's name, result)."""
        done = subprocess.run(
            [
                str(self.client),
                f"-confdir={conf_dir}",
                f"-cachedir={self.cache_dir}",
                f"-path={self.plugins}{os.pathsep}{self.cni_bin}",
                f"-netns={box.netns}",
                f"-containerid={box.container_id}",
                f"-pod={box.pod_namespace}/{box.pod_name}",
                f"-poduid={box.pod_uid}",
                # containerd hands every sandbox's annotations over, for plugins that declare it.
                f"-capabilities={json.dumps({'io.kubernetes.cri.pod-annotations': annotations})}",
                op,
            ],
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        lines = done.stdout.splitlines()
        assert len(lines) == 1, (done.stdout, done.stderr)
        line = json.loads(lines[0])
        assert (line["op"], line["libcni"]) == (op, self.version), done.stdout
        assert line["ok"] == (done.returncode == 0), (done.stdout, done.stderr)
        error = line.get("error")
        return None if error is None else FAILED_PLUGIN.sub("plugin failed", error), line.get("result")

    def lifecycle(
        self,
        conf_dir: Path,
        box: Sandbox,
        annotations: dict[str, str],
        added: Callable[[dict[str, Any]], None],
    ) -> Outcomes:
        """ADD, CHECK when the ADD worked (`added` inspects its result first), and DEL, which containerd
        sends after a failed ADD too."""
        error, result = self.run("ADD", conf_dir, box, annotations)
        outcomes: Outcomes = {"ADD": error}
        if error is None:
            assert result is not None
            added(result)
            outcomes["CHECK"] = self.run("CHECK", conf_dir, box, annotations)[0]
        outcomes["DEL"] = self.run("DEL", conf_dir, box, annotations)[0]
        return outcomes

    def cached(self) -> list[Path]:
        return sorted(path for path in self.cache_dir.rglob("*") if path.is_file())


@pytest.fixture(params=LIBCNI_VERSIONS)
def libcni(request: pytest.FixtureRequest, tmp_path: Path, cni_bin: Path) -> LibcniRuntime:
    runtime = LibcniRuntime(request.param, tmp_path / "libcni", cni_bin)
    assert runtime.client.exists(), f"{runtime.client} missing: run make components"
    runtime.plugins.mkdir(parents=True)
    return runtime


def attach_blue(rt: Runtime) -> tuple[Sandbox, dict[str, BridgeNet]]:
    """A pod asking for the NAD `blue`: its sandbox, and the networks it must get by interface."""
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    return rt.pod("blue"), {"eth0": rt.cluster, "net1": blue}


def check_added(
    rt: Runtime, box: Sandbox, networks: dict[str, BridgeNet], version: str, result: dict[str, Any]
) -> None:
    """The sandbox holds exactly `networks`' interfaces, and the runtime got eth0's result in `version`."""
    links = rt.links(box)
    assert sorted(links) == sorted(networks)
    addresses = {name: address_in(links[name], net) for name, net in networks.items()}
    assert result["cniVersion"] == version
    assert [ip["address"] for ip in result["ips"]] == [addresses["eth0"]]


def check_nothing_left(rt: Runtime, libcni: LibcniRuntime) -> None:
    for box in rt.sandboxes:
        assert rt.leftovers(box) == []
    assert rt.bridge_ports() == []  # leftovers() leaves them out with several sandboxes
    assert libcni.cached() == []


def primary_through_libcni(rt: Runtime, libcni: LibcniRuntime, version: str) -> None:
    """The matrix case, once the runtime's conf dir (`rt.conf_dir`) starts with the meta-plugin's config
    and the primary (`rt.cluster`, at `version`) follows it: the pod through multus gets from libcni what
    a sandbox through the primary alone gets."""
    pod, networks = attach_blue(rt)
    bare = rt.pod(own_netns=True)
    primary_only = rt.root / "primary-only"
    primary_only.mkdir()
    (primary_only / PRIMARY_FILE).write_text((rt.conf_dir / PRIMARY_FILE).read_text())

    expected = libcni.lifecycle(
        primary_only, bare, {}, partial(check_added, rt, bare, {"eth0": rt.cluster}, version)
    )
    # The primary alone fails only where this libcni cannot read its result version.
    assert expected["ADD"] in (None, f'plugin failed (add): unsupported CNI result version "{version}"')

    outcomes = libcni.lifecycle(
        rt.conf_dir, pod, {NETWORKS: "blue"}, partial(check_added, rt, pod, networks, version)
    )

    assert outcomes == expected
    check_nothing_left(rt, libcni)


def thick_node(
    rt: ShimRuntime, daemon: DaemonProcess, libcni: LibcniRuntime, native_shim: Path, primary_version: str
) -> None:
    """Starts `daemon` on the runtime's conf dir, holding the primary at `primary_version`, and waits for
    the 00-multus.conf it writes in front; the runtime's CNI_PATH gets the native shim."""
    rt.cluster.config["cniVersion"] = primary_version
    primary = rt.write_conf(PRIMARY_FILE, rt.cluster.config)
    daemon.config.update(
        multusConfigFile="auto", cniConfigDir=str(rt.conf_dir), cniDir=str(rt.cni_dir), binDir=str(rt.cni_bin)
    )
    daemon.start()
    daemon.wait_for_primary(primary)
    (libcni.plugins / "multus-shim").symlink_to(native_shim)


@pytest.mark.parametrize("version", PRIMARY_VERSIONS)
def test_thick_node_config_through_libcni(
    libcni: LibcniRuntime,
    version: str,
    start_daemon: StartDaemon,
    runtime_for: Callable[[DaemonProcess], ShimRuntime],
    native_shim: Path,
) -> None:
    daemon = start_daemon(start=False)
    rt = runtime_for(daemon)
    thick_node(rt, daemon, libcni, native_shim, version)

    primary_through_libcni(rt, libcni, version)


def test_thick_daemon_cni_version_is_the_node_configs(
    libcni: LibcniRuntime,
    start_daemon: StartDaemon,
    runtime_for: Callable[[DaemonProcess], ShimRuntime],
    native_shim: Path,
) -> None:
    """The daemon config's `cniVersion` wins over the primary's: a node whose primary is at 1.1.0 serves
    a runtime whose libcni reads results up to 1.0.0 only, as upstream's daemon config allows."""
    daemon = start_daemon(start=False, cniVersion="1.0.0")
    rt = runtime_for(daemon)
    thick_node(rt, daemon, libcni, native_shim, "1.1.0")
    pod, networks = attach_blue(rt)

    outcomes = libcni.lifecycle(
        rt.conf_dir, pod, {NETWORKS: "blue"}, partial(check_added, rt, pod, networks, "1.0.0")
    )

    assert outcomes == {"ADD": None, "CHECK": None, "DEL": None}
    check_nothing_left(rt, libcni)


@pytest.mark.parametrize("version", PRIMARY_VERSIONS)
def test_thin_config_through_libcni(libcni: LibcniRuntime, version: str, rt: Runtime) -> None:
    rt.cluster.config["cniVersion"] = version
    rt.write_conf(PRIMARY_FILE, rt.cluster.config)
    rt.write_conf("00-multus.conf", rt.multus_config(cniVersion=version))
    (libcni.plugins / "multus").symlink_to(MULTUS)

    primary_through_libcni(rt, libcni, version)
