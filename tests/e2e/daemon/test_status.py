"""`multusctl status`: the node's daemon asked what it holds through its socket (`GET /status`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.daemon.support import PLACEHOLDER_PRIMARY, ShimRuntime, wait_for
from tests.e2e.meta.runtime import address_in

MULTUSCTL = Path(sys.executable).parent / "multusctl"


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MULTUSCTL), "status", *args], capture_output=True, text=True, timeout=60, check=False
    )


def pod_status(rt: ShimRuntime, pod: str) -> dict[str, Any]:
    shown = status("--socket-dir", str(rt.daemon.socket_dir), "--pod", pod, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    document: dict[str, Any] = json.loads(shown.stdout)
    return document


def test_status_shows_the_node_and_each_pods_attachments(
    start_daemon: StartDaemon, runtime_for: RuntimeFor, tmp_path: Path
) -> None:
    daemon = start_daemon(cniDir=str(tmp_path / "node-records"))
    rt = runtime_for(daemon)
    rt.cni_dir = Path(daemon.config["cniDir"])  # where the node's requests keep their records
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue")
    rt.add()
    pod = f"{box.pod_namespace}/{box.pod_name}"

    def with_results() -> dict[str, Any] | None:
        document = pod_status(rt, pod)
        pods = document["pods"]
        return document if pods and all(a["ips"] for a in pods[0]["attachments"]) else None

    document = wait_for("the pod's record with its results", with_results)

    assert document["ready"] is True
    assert document["notReady"] == []
    assert document["nodeConfig"]["present"] is True
    assert document["nodeConfig"]["primary"] == str(daemon.conf_dir / PLACEHOLDER_PRIMARY)
    assert {kind: cache["objects"] > 0 for kind, cache in document["caches"].items()} == {
        "pods": True,
        "network-attachment-definitions": True,
    }
    assert all(cache["lastListed"] for cache in document["caches"].values())
    [shown] = document["pods"]
    assert (shown["uid"], shown["container"]) == (box.pod_uid, box.container_id)
    links = rt.links()
    assert [
        (a["interface"], a["network"], a["default"], a["ips"], a["mac"]) for a in shown["attachments"]
    ] == [
        ("eth0", rt.cluster.config["name"], True, [address_in(links["eth0"], rt.cluster)], links["eth0"].mac),
        ("net1", f"{rt.namespace}/blue", False, [address_in(links["net1"], blue)], links["net1"].mac),
    ]
    text = status("--socket-dir", str(rt.daemon.socket_dir), "--pod", pod)
    assert text.returncode == 0, text.stderr
    assert "ready: yes" in text.stdout.splitlines()
    assert f"  {pod}  sandbox {box.container_id[:12]}" in text.stdout

    rt.delete()
    wait_for("the pod gone from the status", lambda: pod_status(rt, pod)["pods"] == [])


def test_no_daemon_is_one_line_naming_the_socket(tmp_path: Path) -> None:
    shown = status("--socket-dir", str(tmp_path))

    assert shown.returncode == 1
    assert shown.stderr.startswith(f"multusctl: no multus daemon answers on {tmp_path / 'multus.sock'}: ")
    assert len(shown.stderr.splitlines()) == 1
