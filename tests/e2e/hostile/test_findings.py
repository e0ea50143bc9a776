"""What an attacker's run found, each through the in-process plugin and the native shim to the daemon:

- a network name or a container ID too long for libcni's result-cache file name: the in-process ADD failed
  after the plugins ran (code 5), every DEL after it failed too, for ever, while the daemon's ADD
  succeeded and only logged the cache failure. Now both refuse the ADD the same way before anything
  runs, and the DEL succeeds.
- a delegate config its own plugins refuse (host-local's bogus subnet), and CNI_ARGS the Go plugins
  refuse (`a=b=c;;`): the ADD failed, and no DEL ever succeeded. Now the ADD is refused before any
  delegate runs, naming the field, and the DEL succeeds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.daemon.support import ShimRuntime
from tests.e2e.meta.runtime import Runtime, Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def both(thin: Runtime, thick: ShimRuntime) -> list[Runtime]:
    return [thin, thick]


def pod_for_both(thin: Runtime, thick: ShimRuntime, networks: str | list[dict[str, Any]]) -> list[Sandbox]:
    """A pod with `networks` for each path (the shim's on the daemon's node), and its sandbox."""
    return [thin.pod(networks), thick.pod(networks)]


def refused_the_same_way(
    thin: Runtime,
    thick: ShimRuntime,
    boxes: list[Sandbox],
    code: int,
    env: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The ADD's error, the same from both paths (container IDs aside); each DEL after it succeeds (the
    runtime's two), and nothing is left."""
    errors = []
    for runtime, box in zip(both(thin, thick), boxes, strict=True):
        error = runtime.run("ADD", sandbox=box, env=env).error(code)
        errors.append(json.loads(json.dumps(error).replace(box.container_id, "<id>")))
        for _ in range(2):
            assert runtime.run("DEL", sandbox=box, env=env).ok() is None
        assert runtime.leftovers(box) == []
    assert errors[0] == errors[1]
    return errors[0]


def test_a_network_name_too_long_for_the_result_cache_is_refused_before_anything_runs(
    thin: Runtime, thick: ShimRuntime
) -> None:
    net = thin.bridge_net("x")
    thin.nad("long-name", {**net.config, "name": "a" * 250})
    boxes = pod_for_both(thin, thick, "long-name")

    error = refused_the_same_way(thin, thick, boxes, 7)

    for part in ("network name", "250 characters", "CNI_CONTAINERID", "CNI_IFNAME net1", "result cache"):
        assert part in error["msg"]
    assert thin.bridge_ports() == []  # no plugin ran: the bridge was never even made


def test_a_long_network_name_that_fits_works(thin: Runtime, thick: ShimRuntime) -> None:
    net = thin.bridge_net("x")
    thin.nad("fits", {**net.config, "name": "a" * 180})
    boxes = pod_for_both(thin, thick, "fits")
    for runtime, box in zip(both(thin, thick), boxes, strict=True):
        runtime.add(box)
        assert set(runtime.links(box)) == {"eth0", "net1"}
        runtime.delete(box)
        assert runtime.leftovers(box) == []


def test_a_container_id_longer_than_128_characters_is_refused(thin: Runtime, thick: ShimRuntime) -> None:
    net = thin.bridge_net("x")
    thin.nad("net", net.config)
    boxes = pod_for_both(thin, thick, "net")
    for box in boxes:
        box.container_id = "c" * 243

    for runtime, box in zip(both(thin, thick), boxes, strict=True):
        error = runtime.run("ADD", sandbox=box).error(4)
        assert "CNI_CONTAINERID is 243 characters long, longer than 128" in error["msg"]
        assert runtime.links(box) == {}
    # No ADD can have made anything under such an ID: the in-process DEL succeeds, touching nothing.
    assert thin.run("DEL", sandbox=boxes[0]).ok() is None
    assert thin.leftovers(boxes[0]) == []


@pytest.mark.parametrize("container_id", ["c" * 243, "../../etc/passwd", "-x"])
def test_the_daemon_answers_a_del_of_a_container_id_no_add_accepts_with_success(
    thick: ShimRuntime, container_id: str
) -> None:
    thick.pod()
    thick.sandbox.container_id = container_id
    assert thick.run("DEL").ok() is None


@pytest.mark.parametrize(
    ("ipam", "field"),
    [
        (
            {"type": "host-local", "ranges": [[{"subnet": "bogus"}]]},
            "plugins[0].ipam.ranges[0][0].subnet: 'bogus' is not an address/prefix (CIDR)",
        ),
        ("host-local", "plugins[0].ipam"),
        ({"type": "host-local", "ranges": [[{"subnet": "10.9.0.0/24", "gateway": "10.1.1.1"}]]}, "gateway"),
        ({"type": "static", "addresses": [{"address": "10.9.0.5"}]}, "plugins[0].ipam.addresses[0].address"),
        (
            {"type": "whereabouts", "range": "10.9.0.0/24", "exclude": ["x"]},
            "plugins[0].ipam.exclude[0]: 'x' is not an address/prefix or an address",
        ),
        ({"type": "dhcp", "provide": [{"option": "hostname"}]}, "plugins[0].ipam.provide[0].option"),
    ],
)
def test_a_delegate_config_its_plugins_refuse_is_refused_before_anything_runs(
    thin: Runtime, thick: ShimRuntime, ipam: Any, field: str
) -> None:
    net = thin.bridge_net("x")
    net.config["plugins"][0]["ipam"] = ipam
    thin.nad("refused", net.config)
    boxes = pod_for_both(thin, thick, "refused")

    error = refused_the_same_way(thin, thick, boxes, 7)

    assert field in error["msg"]
    assert error["msg"].startswith(f"network {thin.namespace}/refused: invalid network config:")


def test_a_delegate_mtu_no_link_takes_is_refused_before_anything_runs(
    thin: Runtime, thick: ShimRuntime
) -> None:
    net = thin.bridge_net("x")
    net.config["plugins"][0]["mtu"] = 67  # below the veth's and the bridge's ETH_MIN_MTU
    thin.nad("small-mtu", net.config)
    boxes = pod_for_both(thin, thick, "small-mtu")

    error = refused_the_same_way(thin, thick, boxes, 7)

    assert "plugins[0].mtu: 67 is not an MTU the kernel gives a new link (68 to 65535)" in error["msg"]


def test_cni_args_that_go_plugins_refuse_are_refused_and_the_del_succeeds(
    thin: Runtime, thick: ShimRuntime
) -> None:
    net = thin.bridge_net("x")
    thin.nad("net", net.config)
    boxes = pod_for_both(thin, thick, "net")
    pairs = [
        f"K8S_POD_NAMESPACE={boxes[0].pod_namespace}",
        f"K8S_POD_NAME={boxes[0].pod_name}",
        f"K8S_POD_UID={boxes[0].pod_uid}",
    ]

    error = refused_the_same_way(
        thin, thick, boxes, 4, env={"CNI_ARGS": ";".join(["IgnoreUnknown=1", *pairs, "a=b=c;;"])}
    )

    assert "CNI_ARGS pair 4 'a=b=c' is not KEY=VALUE" in error["msg"]


def test_two_addresses_for_host_local_are_refused_before_anything_runs(
    thin: Runtime, thick: ShimRuntime
) -> None:
    # The selection's addresses reach host-local as CNI_ARGS IP=a,b, which it refuses on ADD and on DEL.
    net = thin.bridge_net("x")
    net.config["plugins"][0]["capabilities"] = {"ips": True}
    thin.nad("net", net.config)
    addresses = [str(net.subnet.network_address + 5) + "/24", str(net.subnet.network_address + 6) + "/24"]
    boxes = pod_for_both(thin, thick, [{"name": "net", "ips": addresses}])

    error = refused_the_same_way(thin, thick, boxes, 4)

    assert "host-local IPAM, which refuses CNI_ARGS IP" in error["msg"]
