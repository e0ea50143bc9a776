"""Generated plugin and IPAM sections reach every key the checks read, with values of every JSON type: the
checks answer (a refusal naming a field, or None), raise nothing but the CNI errors, and answer the same
way twice; the webhook's judgement of a NAD holding them answers too."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.validation import judge_nad
from multus.cni.config import parse_network_config
from multus.cni.errors import CNIError
from multus.cni.ipam import plugin_config_problem

PLUGIN_KEYS = [
    "mtu", "MTU", "mode", "master", "vlanId", "vlan", "vlanTrunk", "minID", "maxID", "id", "bcqueuelen",
    "linkInContainer", "mac", "args", "cni", "runtimeConfig", "sysctl", "txQLen", "flag", "bridge",
]  # fmt: skip
IPAM_KEYS = [
    "range", "ipRanges", "range_start", "range_end", "exclude", "gateway", "addresses", "address",
    "routes", "dst", "gw", "dns", "kubernetes", "kubeconfig", "leader_lease_duration", "Gateway",
    "enable_overlapping_ranges", "provide", "request", "option", "value", "fromArg", "skipDefault",
    "priority", "daemonSocketPath", "ranges", "subnet", "rangeStart", "rangeEnd",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([-1, 0, 67, 68, 1500, 4094, 4095, 65535, 65536, 2**31, 2**32, 2**63])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "10.2.0.0/24",
            "010.2.0.0/24",
            "10.2.0.10-10.2.0.20/24",
            "x-10.2.0.0/24",
            "fd00::/127",
            "10.2.0.1",
            "::ffff:10.2.0.1",
            "bridge",
            "l3s",
            "passthru",
            "host-name",
            "255",
            "256",
            "9" * 5000,
            "10.2.0." + "0" * 5000 + "1",
            "",
        ]
    )
)


def _json(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(keys), inner, max_size=4),
        max_leaves=12,
    )


IPAMS = st.fixed_dictionaries(
    {"type": st.sampled_from(["whereabouts", "dhcp", "host-local", "static"])},
).flatmap(
    lambda head: st.dictionaries(st.sampled_from(IPAM_KEYS), _json(IPAM_KEYS), max_size=5).map(
        lambda rest: {**rest, **head}
    )
)
PLUGINS = st.builds(
    lambda kind, keys, ipam: {**keys, "type": kind, **({"ipam": ipam} if ipam is not None else {})},
    st.sampled_from(["macvlan", "ipvlan", "vlan", "ptp", "tuning", "bridge"]),
    st.dictionaries(st.sampled_from(PLUGIN_KEYS), _json(PLUGIN_KEYS), max_size=5),
    st.none() | IPAMS | _json(IPAM_KEYS),
)
VERSIONS = st.sampled_from(["0.2.0", "0.3.1", "1.0.0"])


def _verdict(config: dict[str, Any], version: str) -> tuple[str, str] | None:
    refused = plugin_config_problem({**config, "name": "gen", "cniVersion": version}, version)
    if refused is None:
        return None
    assert refused.where, refused
    return refused.where, refused.problem


@settings(max_examples=400, deadline=None)
@given(PLUGINS, VERSIONS)
def test_the_checks_answer_the_same_way_twice(config: dict[str, Any], version: str) -> None:
    assert _verdict(config, version) == _verdict(json.loads(json.dumps(config)), version)


@settings(max_examples=200, deadline=None)
@given(st.lists(PLUGINS, min_size=1, max_size=3), VERSIONS)
def test_a_list_of_them_raises_only_cni_errors(plugins: list[dict[str, Any]], version: str) -> None:
    config = {"cniVersion": version, "name": "gen", "plugins": plugins}
    with contextlib.suppress(CNIError):  # anything else fails the test
        parse_network_config(config)
    nad = {"metadata": {"name": "gen", "namespace": "ns"}, "spec": {"config": json.dumps(config)}}
    first, second = judge_nad(nad), judge_nad(nad)
    assert first == second
