"""`POST /delegate`: hot-plugging one network into a running pod, as the dynamic-networks controller does,
and the pod's final DEL removing it too (upstream leaks hot-plugged attachments)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from multus.shim.multus_shim import request as unix_request
from tests.e2e.daemon.conftest import StartDaemon
from tests.e2e.daemon.support import DaemonProcess, ShimRuntime
from tests.e2e.meta.runtime import Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def delegate(
    rt: ShimRuntime, box: Sandbox, command: str, ifname: str, config: dict[str, Any], **attributes: Any
) -> tuple[int, dict[str, Any]]:
    env = {**rt.shim_env(command, box), "CNI_IFNAME": ifname}
    body = {
        "env": env,
        "config": base64.b64encode(json.dumps(config).encode()).decode(),
        "interfaceAttributes": attributes,
    }
    socket_path = str(rt.daemon.socket_path)
    status, reply = unix_request(socket_path, "POST", "/delegate", json.dumps(body).encode(), 60.0)
    return status, json.loads(reply)


@pytest.fixture
def rt(
    start_daemon: StartDaemon,
    runtime_for: Callable[[DaemonProcess], ShimRuntime],
    tmp_path: Path,
    cni_bin: Path,
) -> ShimRuntime:
    """A daemon whose node settings (cniDir, binDir) are the runtime's: a /delegate request carries only
    the delegate's config, so the daemon's own settings say where the pod's record lives."""
    daemon = start_daemon(cniDir=str(tmp_path / "runtime" / "multus"), binDir=str(cni_bin))
    return runtime_for(daemon)


def test_hot_plug_add_and_del_and_the_pods_final_del(rt: ShimRuntime) -> None:
    box = rt.pod()
    rt.add(box)
    hot = rt.bridge_net("hot", default_route=False)

    status, reply = delegate(rt, box, "ADD", "hot0", hot.config)
    assert status == 200, reply
    assert [link["name"] for link in reply["Result"]["interfaces"] if link.get("sandbox")] == ["hot0"]
    assert sorted(rt.links(box)) == ["eth0", "hot0"]

    taken, error = delegate(rt, box, "ADD", "hot0", hot.config)
    assert (taken, error["code"]) == (400, 105)
    # `ips` reaches plugins through CNI_ARGS, as upstream; an L2-only bridge ignores it: refused, undone.
    l2_only = {"cniVersion": "1.1.0", "name": "l2", "type": "bridge", "bridge": hot.bridge}
    ignored, error = delegate(rt, box, "ADD", "hot1", l2_only, ips=["10.0.0.9/24"])
    assert (ignored, error["code"]) == (400, 2), error
    assert '"ips" asks for 10.0.0.9/24 and the result has no address' in error["msg"]
    assert sorted(rt.links(box)) == ["eth0", "hot0"]

    status, reply = delegate(rt, box, "ADD", "hot2", hot.config)
    assert status == 200, reply
    status, reply = delegate(rt, box, "DEL", "hot2", {})
    assert (status, reply) == (200, {"Result": None})
    assert sorted(rt.links(box)) == ["eth0", "hot0"]

    rt.delete(box)  # the runtime's DEL of the pod: hot0 goes with it
    assert rt.leftovers(box) == []


def test_hot_plug_into_an_unknown_container_is_refused(rt: ShimRuntime) -> None:
    box = rt.pod()
    status, error = delegate(rt, box, "ADD", "hot0", rt.bridge_net("hot", default_route=False).config)
    assert (status, error["code"]) == (400, 3)
    assert rt.leftovers(box) == []


def test_a_hot_plug_whose_undo_fails_stays_on_the_pods_whole_record(rt: ShimRuntime) -> None:
    box = rt.pod()
    rt.add(box)
    broken = {"cniVersion": "1.1.0", "name": "broken", "type": "fake-fail"}  # fails ADD, and DEL too

    status, error = delegate(rt, box, "ADD", "bad0", broken)

    assert (status, error["code"]) == (400, 111)
    record = json.loads(rt.cache_file(box).read_text())
    # The pod's own attachment is still recorded, and the one whose undo failed too, for the pod's DEL.
    assert [attachment["ifname"] for attachment in record["attachments"]] == ["eth0", "bad0"]
    assert sorted(rt.links(box)) == ["eth0"]
