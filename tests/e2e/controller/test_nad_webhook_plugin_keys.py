"""The NAD webhook refuses, at `kubectl apply` against the real API server, what the plugins and their
IPAM would refuse on the node: one NAD per family, the message naming the field."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.e2e.controller.support import nad_body
from tests.testenv import KUBE_BIN, TestEnv

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("controller")]

DENIED = 'admission webhook "network-attachment-definitions.validation.multus-py.io" denied'


def _conflist(*plugins: dict[str, Any]) -> str:
    return json.dumps({"cniVersion": "1.0.0", "name": "net", "plugins": list(plugins)})


TUNING = {"type": "tuning"}
CASES = {
    "host-local": (
        _conflist(
            TUNING,
            {
                "type": "bridge",
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.1.0.0/24", "rangeStart": "10.9.0.5"}]],
                },
            },
        ),
        "plugins[1].ipam.ranges[0][0].rangeStart: 10.9.0.5 is not in 10.1.0.0/24",
    ),
    "static": (
        _conflist({"type": "macvlan", "ipam": {"type": "static", "routes": [{"dst": "10.0.0.0/40"}]}}),
        "plugins[0].ipam.routes[0].dst: '10.0.0.0/40' is not an address/prefix",
    ),
    "whereabouts": (
        _conflist(
            {"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.2.0.0/24", "exclude": ["x"]}}
        ),
        "plugins[0].ipam.exclude[0]: 'x' is not an address/prefix or an address",
    ),
    "dhcp": (
        _conflist({"type": "macvlan", "ipam": {"type": "dhcp", "provide": [{"option": "hostname"}]}}),
        "plugins[0].ipam.provide[0].option: 'hostname' is not a DHCP option number",
    ),
    "mtu": (
        _conflist({"type": "macvlan", "master": "eth0", "mtu": -1}),
        "plugins[0].mtu: -1 is negative",
    ),
    "macvlan-mode": (
        _conflist({"type": "macvlan", "mode": "l2"}),
        "plugins[0].mode: 'l2' is not one of bridge, private, vepa, passthru",
    ),
    "ipvlan-mode": (
        _conflist({"type": "ipvlan", "mode": "bridge"}),
        "plugins[0].mode: 'bridge' is not one of l2, l3, l3s",
    ),
    "vlan-id": (
        _conflist({"type": "vlan", "master": "eth0", "vlanId": 4095}),
        "plugins[0].vlanId: 4095 is not a VLAN ID (0 to 4094)",
    ),
}


def _kubectl_apply(
    env: TestEnv, namespace: str, manifest: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBE_BIN / "kubectl"), f"--kubeconfig={env.kubeconfig}", "apply", "-n", namespace, "-f", "-"],
        input=json.dumps(manifest),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("family", list(CASES))
def test_kubectl_apply_is_refused_naming_the_field(apiserver: TestEnv, namespace: str, family: str) -> None:
    config, expected = CASES[family]
    done = _kubectl_apply(apiserver, namespace, nad_body(family, config))
    assert done.returncode != 0
    assert DENIED in done.stderr, done.stderr
    assert expected in done.stderr, done.stderr


def test_the_same_families_written_right_are_applied(apiserver: TestEnv, namespace: str) -> None:
    config = _conflist(
        {"type": "macvlan", "master": "eth0", "mode": "passthru", "mtu": 9000, "ipam": {"type": "dhcp"}},
        {"type": "tuning", "mtu": 1400},
    )
    done = _kubectl_apply(apiserver, namespace, nad_body("fine", config))
    assert done.returncode == 0, done.stderr
    whereabouts = _conflist(
        {"type": "ipvlan", "mode": "l3s", "ipam": {"type": "whereabouts", "range": "10.2.0.10-10.2.0.20/24"}}
    )
    done = _kubectl_apply(apiserver, namespace, nad_body("fine-whereabouts", whereabouts))
    assert done.returncode == 0, done.stderr
