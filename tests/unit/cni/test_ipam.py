"""Plugin configs read as the Go plugins read them: the verdicts, the field each refusal names, and the
real plugins (bridge calling host-local, static) as the judge of what is accepted."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multus.cni.ipam import cni_args_problem, ipam_type, plugin_config_problem

NAME, VERSION = "probe", "1.0.0"
RANGE = {"subnet": "10.9.0.0/24"}


def host_local(**ipam: Any) -> dict[str, Any]:
    # dataDir is set per run (see `go_accepts`): the plugin creates `<dataDir>/<name>` even on DEL.
    return {"type": "bridge", "ipam": {"type": "host-local", **ipam}}


def static(**ipam: Any) -> dict[str, Any]:
    return {"type": "bridge", "ipam": {"type": "static", **ipam}}


# (config, version, None when accepted or the field the refusal names)
CASES: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "a range": (host_local(ranges=[[RANGE]]), VERSION, None),
    "the range at the ipam level": (host_local(**RANGE), VERSION, None),
    "no range": (host_local(), VERSION, "ipam"),
    "an empty range set": (host_local(ranges=[[]]), VERSION, "ipam.ranges[0]"),
    "a null range set": (host_local(ranges=[None]), VERSION, "ipam.ranges[0]"),
    "a null range": (host_local(ranges=[[None]]), VERSION, "ipam.ranges[0][0]"),
    "a bogus subnet": (host_local(ranges=[[{"subnet": "bogus"}]]), VERSION, "ipam.ranges[0][0].subnet"),
    "a null subnet": (host_local(ranges=[[{"subnet": None}]]), VERSION, "ipam.ranges[0][0].subnet"),
    "a null subnet at the ipam level": (host_local(subnet=None, ranges=[[RANGE]]), VERSION, "ipam.subnet"),
    "a /31": (host_local(ranges=[[{"subnet": "10.9.0.0/31"}]]), VERSION, "ipam.ranges[0][0].subnet"),
    "a /30": (host_local(ranges=[[{"subnet": "10.9.0.0/30"}]]), VERSION, None),
    "a /127": (host_local(ranges=[[{"subnet": "fd00::/127"}]]), VERSION, "ipam.ranges[0][0].subnet"),
    "host bits": (host_local(ranges=[[{"subnet": "10.9.0.1/24"}]]), VERSION, "ipam.ranges[0][0].subnet"),
    "an IPv4-mapped subnet": (
        host_local(ranges=[[{"subnet": "::ffff:10.9.0.0/120"}]]),
        VERSION,
        "ipam.ranges[0][0].subnet",
    ),
    "a zone": (host_local(ranges=[[{"subnet": "fe80::%eth0/64"}]]), VERSION, "ipam.ranges[0][0].subnet"),
    "a leading zero in an octet": (
        host_local(ranges=[[{"subnet": "010.9.0.0/24"}]]),
        VERSION,
        "ipam.ranges[0][0].subnet",
    ),
    "a leading zero in the length": (host_local(ranges=[[{"subnet": "10.9.0.0/024"}]]), VERSION, None),
    "a gateway outside": (
        host_local(ranges=[[{**RANGE, "gateway": "10.1.1.1"}]]),
        VERSION,
        "ipam.ranges[0][0].gateway",
    ),
    "an IPv4-mapped gateway": (host_local(ranges=[[{**RANGE, "gateway": "::ffff:10.9.0.1"}]]), VERSION, None),
    "an empty gateway": (host_local(ranges=[[{**RANGE, "gateway": ""}]]), VERSION, None),
    "a start outside": (
        host_local(ranges=[[{**RANGE, "rangeStart": "10.9.1.1"}]]),
        VERSION,
        "ipam.ranges[0][0].rangeStart",
    ),
    "an end before the start": (
        host_local(ranges=[[{**RANGE, "rangeStart": "10.9.0.100", "rangeEnd": "10.9.0.50"}]]),
        VERSION,
        "ipam.ranges[0][0]",
    ),
    "a start at the broadcast address": (
        host_local(ranges=[[{**RANGE, "rangeStart": "10.9.0.255"}]]),
        VERSION,
        "ipam.ranges[0][0]",
    ),
    "mixed families in a set": (
        host_local(ranges=[[RANGE, {"subnet": "fd00::/64"}]]),
        VERSION,
        "ipam.ranges[0]",
    ),
    "overlapping ranges of a set": (
        host_local(ranges=[[RANGE, {"subnet": "10.9.0.0/25"}]]),
        VERSION,
        "ipam.ranges[0][1]",
    ),
    "one subnet split in two": (
        host_local(ranges=[[{**RANGE, "rangeEnd": "10.9.0.100"}, {**RANGE, "rangeStart": "10.9.0.101"}]]),
        VERSION,
        None,
    ),
    "overlapping sets": (
        host_local(ranges=[[RANGE], [{"subnet": "10.9.0.0/16"}]]),
        VERSION,
        "ipam.ranges[1][0]",
    ),
    "dual stack": (host_local(ranges=[[RANGE], [{"subnet": "fd00::/64"}]]), VERSION, None),
    "two IPv4 sets": (host_local(ranges=[[RANGE], [{"subnet": "10.8.0.0/24"}]]), VERSION, None),
    "two IPv4 sets before 0.3.0": (
        host_local(ranges=[[RANGE], [{"subnet": "10.8.0.0/24"}]]),
        "0.2.0",
        "ipam",
    ),
    "a bad route gateway": (
        host_local(ranges=[[RANGE]], routes=[{"dst": "0.0.0.0/0", "gw": "bogus"}]),
        VERSION,
        "ipam.routes[0].gw",
    ),
    "a null route destination": (
        host_local(ranges=[[RANGE]], routes=[{"dst": None}]),
        VERSION,
        "ipam.routes[0].dst",
    ),
    "a route without destination": (host_local(ranges=[[RANGE]], routes=[{}]), VERSION, None),
    "a route table as text": (
        host_local(ranges=[[RANGE]], routes=[{"dst": "0.0.0.0/0", "table": "5"}]),
        VERSION,
        "ipam.routes[0].table",
    ),
    "an MTU of 1.0": (
        host_local(ranges=[[RANGE]], routes=[{"dst": "0.0.0.0/0", "mtu": 1.0}]),
        VERSION,
        "ipam.routes[0].mtu",
    ),
    "an MTU beyond int64": (
        host_local(ranges=[[RANGE]], routes=[{"dst": "0.0.0.0/0", "mtu": 2**63}]),
        VERSION,
        "ipam.routes[0].mtu",
    ),
    "routes as an object": (
        host_local(ranges=[[RANGE]], routes={"dst": "0.0.0.0/0"}),
        VERSION,
        "ipam.routes",
    ),
    "a numeric ipam name": (host_local(ranges=[[RANGE]], name=5), VERSION, "ipam.name"),
    "a numeric dataDir": (host_local(ranges=[[RANGE]], dataDir=5), VERSION, "ipam.dataDir"),
    "keys in another case": (
        {"type": "bridge", "IPAM": {"Type": "host-local", "RANGES": [[{"SUBNET": "bogus"}]]}},
        VERSION,
        "IPAM.RANGES[0][0].SUBNET",
    ),
    "a long s folding into subnet": (
        host_local(ranges=[[{"\u017fubnet": "bogus"}]]),
        VERSION,
        "ipam.ranges[0][0].\u017fubnet",
    ),
    "a dotless i, which does not fold": (
        {"type": "bridge", "\u0131pam": {"type": "host-local", "ranges": [[{"subnet": "bogus"}]]}},
        VERSION,
        None,
    ),
    "two ipam keys decoded into one": (
        {"type": "bridge", "ipam": {"type": "host-local"}, "Ipam": {"ranges": [[RANGE]]}},
        VERSION,
        None,
    ),
    "a null in args.cni.ips": (
        {**host_local(ranges=[[RANGE]]), "args": {"cni": {"ips": [None]}}},
        VERSION,
        "args.cni.ips[0]",
    ),
    "an empty args.cni.ips entry": (
        {**host_local(ranges=[[RANGE]]), "args": {"cni": {"ips": [""]}}},
        VERSION,
        "args.cni.ips[0]",
    ),
    "a bogus runtimeConfig.ips entry": (
        {**host_local(ranges=[[RANGE]]), "runtimeConfig": {"ips": ["x"]}},
        VERSION,
        "runtimeConfig.ips[0]",
    ),
    "ranges given at runtime": (
        {**host_local(), "runtimeConfig": {"ipRanges": [[RANGE]]}},
        VERSION,
        None,
    ),
    "ipam as a string": ({"type": "bridge", "ipam": "host-local"}, VERSION, "ipam"),
    "ipam as a list": ({"type": "bridge", "ipam": []}, VERSION, "ipam"),
    "a numeric ipam type": ({"type": "bridge", "ipam": {"type": 5}}, VERSION, "ipam.type"),
    "an ipam type leaving the search path": (
        {"type": "bridge", "ipam": {"type": "../x"}},
        VERSION,
        "ipam.type",
    ),
    "an absolute ipam type": ({"type": "bridge", "IPAM": {"type": "/bin/sh"}}, VERSION, "ipam.type"),
    "an empty ipam": ({"type": "bridge", "ipam": {}}, VERSION, None),
    "a null ipam": ({"type": "bridge", "ipam": None}, VERSION, None),
    "a capability that is not a boolean": (
        {**host_local(ranges=[[RANGE]]), "capabilities": {"ips": "yes"}},
        VERSION,
        "capabilities.ips",
    ),
    "a null capability": ({**host_local(ranges=[[RANGE]]), "capabilities": {"ips": None}}, VERSION, None),
    "dns in another case": (
        {**host_local(ranges=[[RANGE]]), "DNS": {"nameservers": "x"}},
        VERSION,
        "DNS.nameservers",
    ),
    "prevResult as a list": ({**host_local(ranges=[[RANGE]]), "prevresult": []}, VERSION, "prevresult"),
    "bridge's mtu as text": ({"type": "bridge", "mtu": "1500"}, VERSION, "mtu"),
    "bridge's MTU folded": ({"type": "bridge", "MTU": "1500"}, VERSION, "MTU"),
    "bridge's isGateway as text": ({"type": "bridge", "isGateway": "true"}, VERSION, "isGateway"),
    "a VLAN of 4095": ({"type": "bridge", "vlan": 4095}, VERSION, "vlan"),
    "a VLAN of 4094": ({"type": "bridge", "vlan": 4094}, VERSION, None),
    "a negative VLAN": ({"type": "bridge", "vlan": -1}, VERSION, "vlan"),
    "a null trunk": ({"type": "bridge", "vlanTrunk": [None]}, VERSION, "vlanTrunk[0]"),
    "a trunk with minID alone": ({"type": "bridge", "vlanTrunk": [{"minID": 2}]}, VERSION, "vlanTrunk[0]"),
    "a trunk upside down": (
        {"type": "bridge", "vlanTrunk": [{"minID": 5, "maxID": 2}]},
        VERSION,
        "vlanTrunk[0]",
    ),
    "a trunk id of 0": ({"type": "bridge", "vlanTrunk": [{"id": 0}]}, VERSION, "vlanTrunk[0].id"),
    "a trunk": ({"type": "bridge", "vlanTrunk": [{"minID": 1, "maxID": 4094, "id": 7}, {}]}, VERSION, None),
    "bridge's args.cni.mac as a number": (
        {"type": "bridge", "args": {"cni": {"mac": 5}}},
        VERSION,
        "args.cni.mac",
    ),
    "bridge's args.cni as a list": ({"type": "bridge", "args": {"cni": []}}, VERSION, "args.cni"),
    "bridge's runtimeConfig.mac as a number": (
        {"type": "bridge", "runtimeConfig": {"mac": 5}},
        VERSION,
        "runtimeConfig.mac",
    ),
    "bridge's ipMasqBackend as a number": ({"type": "bridge", "ipMasqBackend": 5}, VERSION, "ipMasqBackend"),
    "a static address": (
        static(addresses=[{"address": "10.1.1.5/24", "gateway": "10.1.1.1"}]),
        VERSION,
        None,
    ),
    "a static address without prefix": (
        static(addresses=[{"address": "10.1.1.5"}]),
        VERSION,
        "ipam.addresses[0].address",
    ),
    "a static address missing": (static(addresses=[{}]), VERSION, "ipam.addresses[0].address"),
    "a static Address, which is Go's net.IPNet": (
        static(addresses=[{"Address": "10.1.1.5/24"}]),
        VERSION,
        "ipam.addresses[0].Address",
    ),
    "a static ADDRESS in capitals": (
        static(addresses=[{"ADDRESS": "10.1.1.5"}]),
        VERSION,
        "ipam.addresses[0].address",
    ),
    "two static IPv4 addresses before 0.3.0": (
        static(addresses=[{"address": "10.1.1.5/24"}, {"address": "10.1.2.5/24"}]),
        "0.2.0",
        "ipam.addresses",
    ),
    "static args.cni.ips without prefix": (
        {**static(), "args": {"cni": {"ips": ["10.1.1.5"]}}},
        VERSION,
        "args.cni.ips[0]",
    ),
    "a static address missing, replaced by args.cni.ips": (
        {**static(addresses=[{}]), "args": {"cni": {"ips": ["10.1.1.5/24"]}}},
        VERSION,
        None,
    ),
    "a static address missing, replaced by runtimeConfig.ips": (
        {**static(addresses=[{"address": "x"}]), "runtimeConfig": {"ips": ["10.1.1.5/24"]}},
        VERSION,
        None,
    ),
    "a numeric static dns domain": (static(dns={"domain": 5}), VERSION, "ipam.dns.domain"),
    "a bad static gateway": (
        static(addresses=[{"address": "10.1.1.5/24", "gateway": "x"}]),
        VERSION,
        "ipam.addresses[0].gateway",
    ),
}


def _input(config: dict[str, Any], version: str, data_dir: Path | None = None) -> dict[str, Any]:
    given = {**config, "name": NAME, "cniVersion": version}
    if data_dir is not None and _ipam_kind(given) == "host-local":
        key = next(key for key in given if key.lower() == "ipam")
        given[key] = {"dataDir": str(data_dir), **given[key]}
    return given


def _ipam_kind(config: dict[str, Any]) -> object:
    """The IPAM type under whichever key Go reads as `ipam` (case aside), to pick the plugin to ask."""
    ipams = [value for key, value in config.items() if key.lower() == "ipam" and isinstance(value, dict)]
    return ipams[-1].get("type") if ipams else None


def go_accepts(cni_bin: Path, data_dir: Path, config: dict[str, Any], version: str) -> bool:
    """Whether the real plugins read `config`: bridge's DEL without a netns, which reads its config and
    has its IPAM plugin read it (host-local reads all on DEL), and with static IPAM static's ADD too
    (its DEL reads nothing)."""
    given = _input(config, version, data_dir)
    runs = [("bridge", "DEL")] + ([("static", "ADD")] if _ipam_kind(given) == "static" else [])
    return all(_exits_zero(cni_bin, plugin, command, given) for plugin, command in runs)


def _exits_zero(cni_bin: Path, plugin: str, command: str, given: dict[str, Any]) -> bool:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "probe1",
        "CNI_IFNAME": "eth0",
        "CNI_NETNS": "/var/run/netns/probe-none" if command == "ADD" else "",
        "CNI_PATH": str(cni_bin),
        "CNI_ARGS": "IgnoreUnknown=1",
    }
    done = subprocess.run(
        [str(cni_bin / plugin)],
        input=json.dumps(given).encode(),
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.parametrize("case", list(CASES))
def test_the_verdict_names_the_field(case: str) -> None:
    config, version, field = CASES[case]
    refused = plugin_config_problem(_input(config, version), version)
    if field is None:
        assert refused is None
    else:
        assert refused is not None
        assert refused.where == field, refused


@pytest.mark.parametrize("case", list(CASES))
def test_the_real_plugins_agree(case: str, cni_bin: Path, tmp_path: Path) -> None:
    config, version, field = CASES[case]
    assert go_accepts(cni_bin, tmp_path, config, version) == (field is None)


_SUBNETS = (
    st.sampled_from(
        [
            "10.9.0.0/24",
            "10.9.0.0/16",
            "10.9.0.128/25",
            "10.9.0.0/30",
            "10.9.0.0/31",
            "10.9.0.1/24",
            "fd00::/64",
            "fd00::/127",
            "::ffff:10.9.0.0/120",
            "bogus",
            "",
            "10.9.0.0",
        ]
    )
    | st.none()
    | st.integers(0, 3)
)
_ADDRESSES = (
    st.sampled_from(
        [
            "10.9.0.1",
            "10.9.0.50",
            "10.9.0.200",
            "10.9.0.255",
            "10.8.0.1",
            "fd00::1",
            "::ffff:10.9.0.1",
            "x",
            "",
        ]
    )
    | st.none()
    | st.just(7)
)
_RANGES = st.fixed_dictionaries(
    {"subnet": _SUBNETS}, optional={"rangeStart": _ADDRESSES, "rangeEnd": _ADDRESSES, "gateway": _ADDRESSES}
)
_ROUTES = st.fixed_dictionaries(
    {},
    optional={
        "dst": _SUBNETS,
        "gw": _ADDRESSES,
        "mtu": st.integers(-1, 2**64) | st.floats(0, 2) | st.text(max_size=2),
        "table": st.none() | st.integers(0, 300) | st.booleans(),
    },
)
_KEYS = st.sampled_from(["subnet", "Subnet", "SUBNET", "\u017fubnet", "sübnet"])


_VLAN = st.none() | st.integers(-2, 4100) | st.sampled_from([4094, 4095, "7"])
_BRIDGE_KEYS = st.fixed_dictionaries(
    {},
    optional={
        # Only the MTU's type is read on DEL; its range (ADD) is judged in test_plugin_checks.py.
        "mtu": st.sampled_from([0, 68, 1500, 9000]) | st.text(max_size=4),
        "vlan": _VLAN,
        "vlanTrunk": st.lists(
            st.none() | st.fixed_dictionaries({}, optional={"minID": _VLAN, "maxID": _VLAN, "id": _VLAN}),
            max_size=3,
        ),
        "isGateway": st.booleans() | st.sampled_from(["true", 1]),
    },
)


@st.composite
def _ipam_configs(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A config and the version to run it at. Not static before 0.3.0: its result then needs an
    address, a refusal of ADD's output (DEL reads nothing), not of the config."""
    kind = draw(st.sampled_from(["host-local", "static", "", None, 3]))
    version = draw(st.sampled_from(["0.3.1", "1.0.0"] if kind == "static" else ["0.2.0", "0.3.1", "1.0.0"]))
    ipam: dict[str, Any] = {"type": kind}
    if kind == "static":
        address = st.fixed_dictionaries(
            {}, optional={"address": _SUBNETS | _ADDRESSES, "gateway": _ADDRESSES}
        )
        ipam["addresses"] = draw(st.lists(address, max_size=3) | st.none())
    else:
        ranges = draw(
            st.lists(st.lists(_RANGES, max_size=2) | st.none(), max_size=3) | st.none() | st.just("x")
        )
        if ranges is not None:
            ipam["ranges"] = ranges
        if draw(st.booleans()):
            ipam[draw(_KEYS)] = draw(_SUBNETS)
    if draw(st.booleans()):
        ipam["routes"] = draw(st.lists(_ROUTES | st.none(), max_size=2) | st.just({}))
    config: dict[str, Any] = {"type": "bridge", draw(st.sampled_from(["ipam", "IPAM", "\u0131pam"])): ipam}
    if draw(st.booleans()):
        config["args"] = {"cni": {"ips": draw(st.lists(_ADDRESSES | _SUBNETS, max_size=2))}}
    config |= draw(_BRIDGE_KEYS)
    return config, version


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=_ipam_configs())
def test_generated_configs_get_the_real_plugins_verdict(
    generated: tuple[dict[str, Any], str], cni_bin: Path, tmp_path: Path
) -> None:
    config, version = generated
    refused = plugin_config_problem(_input(config, version), version)
    assert go_accepts(cni_bin, tmp_path, config, version) == (refused is None), refused


@pytest.mark.parametrize(
    ("kind", "args", "refused"),
    [
        ("host-local", [("IP", "10.9.0.5")], None),
        ("host-local", [("IP", "10.9.0.5/24")], None),
        ("host-local", [("IP", "")], None),
        ("host-local", [("IP", "10.9.0.5/24,10.9.0.6/24")], "CNI_ARGS IP"),
        ("host-local", [("IP", "bogus")], "CNI_ARGS IP"),
        ("host-local", [("GATEWAY", "bogus")], None),
        ("static", [("IP", "10.9.0.5/24, 10.9.0.6/24")], None),
        ("static", [("IP", "10.9.0.5")], "CNI_ARGS IP"),
        ("static", [("GATEWAY", "10.9.0.1,x")], "CNI_ARGS GATEWAY"),
        ("bridge", [("IP", "bogus")], None),
        ("", [("IP", "bogus")], None),
    ],
)
def test_cni_args_the_ipam_plugins_read(kind: str, args: list[tuple[str, str]], refused: str | None) -> None:
    problem = cni_args_problem(kind, args)
    assert (problem.where if problem else None) == refused


def test_the_ipam_type_is_read_as_the_plugin_reads_it() -> None:
    assert ipam_type(host_local()) == "host-local"
    assert ipam_type({"type": "bridge", "IPAM": {"TYPE": "static"}}) == "static"
    assert ipam_type({"type": "bridge"}) == ""
