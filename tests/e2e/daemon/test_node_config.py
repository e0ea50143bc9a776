"""Node config generation: the daemon writes `00-multus.conf` in the runtime's CNI conf dir, pointing at
the primary config, keeps it true when the primary changes, removes it while the readiness indicator
file is missing and writes it back when the file returns; the file it writes serves a pod as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import unique_name
from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.daemon.support import (
    NODE_CONFIG,
    attach_blue,
    cluster_conflist,
    wait_for,
)
from tests.e2e.meta.runtime import next_subnet

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def test_node_config_follows_the_primary_and_the_readiness_indicator(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    indicator = tmp_path / "cluster-network-ready"
    indicator.touch()
    daemon = start_daemon(start=False, readinessindicatorfile=str(indicator), namespaceIsolation=True)
    primary = daemon.conf_dir / "10-cluster.conflist"
    cluster = cluster_conflist(unique_name("mpy"), str(next_subnet()), tmp_path / "ipam")
    primary.write_text(json.dumps(cluster))
    (daemon.conf_dir / "01-broken.conf").write_text("{ not a CNI config")  # skipped: not valid
    daemon.start()

    written = daemon.wait_for_primary(primary)

    assert written == {
        "cniVersion": "1.1.0",
        "name": "multus-cni-network",
        "type": "multus-shim",
        "logLevel": "verbose",
        "namespaceIsolation": True,
        "socketDir": str(daemon.socket_dir),
        "clusterNetwork": str(primary),
        "readinessindicatorfile": str(indicator),
    }
    assert (daemon.conf_dir / NODE_CONFIG).stat().st_mode & 0o777 == 0o644

    # The primary gains a capability: the runtime must send that runtimeConfig to us, so we declare it.
    cluster["plugins"].append({"type": "portmap", "capabilities": {"portMappings": True}})
    primary.write_text(json.dumps(cluster))
    wait_for(
        "the capability", lambda: (daemon.node_config() or {}).get("capabilities") == {"portMappings": True}
    )

    # The runtime runs the primary at its version: it reads answers in that version, so we answer in it.
    primary.write_text(json.dumps({**cluster, "cniVersion": "0.4.0"}))
    wait_for("the primary's version", lambda: (daemon.node_config() or {}).get("cniVersion") == "0.4.0")
    primary.write_text(json.dumps(cluster))

    # A config that sorts first becomes the primary; removed, the old one is the primary again.
    newer = daemon.conf_dir / "05-newer.conflist"
    newer.write_text(json.dumps({**cluster, "name": "newer"}))
    daemon.wait_for_primary(newer)
    newer.unlink()
    daemon.wait_for_primary(primary)

    indicator.unlink()
    wait_for(f"{NODE_CONFIG} removed", lambda: daemon.node_config() is None)
    indicator.touch()
    assert daemon.wait_for_primary(primary)["readinessindicatorfile"] == str(indicator)


def test_the_generated_node_config_serves_a_pod_as_it_is(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    daemon = start_daemon(start=False)
    rt = runtime_for(daemon)
    # The runtime's CNI conf dir is the daemon's; the keys a request needs come from the daemon config,
    # and so does the version, here older than the primary's (1.1.0), as for containerd before 2.0.
    daemon.config.update(
        cniVersion="1.0.0",
        cniConfigDir=str(rt.conf_dir),
        confDir=str(rt.conf_dir),
        cniDir=str(rt.cni_dir),
        binDir=str(rt.cni_bin),
    )
    daemon.start()
    written = daemon.wait_for_primary(rt.conf_dir / "10-cluster.conflist")
    assert (written["cniVersion"], written["confDir"], written["cniDir"], written["binDir"]) == (
        "1.0.0",
        str(rt.conf_dir),
        str(rt.cni_dir),
        str(rt.cni_bin),
    )
    stdin = (rt.conf_dir / NODE_CONFIG).read_bytes()  # what containerd hands the shim

    assert attach_blue(rt, stdin)["cniVersion"] == "1.0.0"

    rt.check(stdin=stdin)
    rt.delete(stdin=stdin)
    assert rt.leftovers() == []
