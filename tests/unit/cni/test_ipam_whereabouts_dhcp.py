"""whereabouts and dhcp IPAM sections: each refusal names the field. dhcp's verdicts are the real daemon's
(run here, with no DHCP server to answer it); whereabouts is not built here, so its table follows the
source lines cited in multus/cni/ipam_whereabouts_dhcp.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from multus.cni.ipam import cni_args_problem, plugin_config_problem
from multus.cni.ipam_whereabouts_dhcp import parse_cidr_sloppy, parse_ip_sloppy
from tests.conftest import netns_path, require_root

VERSION = "1.0.0"
KUBECONFIG = {"kubeconfig": "/etc/cni/net.d/whereabouts.d/whereabouts.kubeconfig"}


def whereabouts(**ipam: Any) -> dict[str, Any]:
    return {"type": "macvlan", "ipam": {"type": "whereabouts", "kubernetes": KUBECONFIG, **ipam}}


def dhcp(**ipam: Any) -> dict[str, Any]:
    return {"type": "macvlan", "ipam": {"type": "dhcp", **ipam}}


# (config, version, None when accepted or the field the refusal names)
WHEREABOUTS_CASES: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "a range": (whereabouts(range="10.2.0.0/24"), VERSION, None),
    "a range with host bits": (whereabouts(range="10.2.0.7/24"), VERSION, None),
    "a range with leading zeros (sloppy)": (whereabouts(range="010.2.0.0/24"), VERSION, None),
    "a first-last range": (whereabouts(range="10.2.0.10-10.2.0.20/24"), VERSION, None),
    "an IPv6 first-last range": (whereabouts(range="fd00::10-fd00::20/64"), VERSION, None),
    "no range (whereabouts.conf may give one)": (whereabouts(), VERSION, None),
    "a range that is no CIDR": (whereabouts(range="10.2.0.0"), VERSION, "ipam.range"),
    "a /33": (whereabouts(range="10.2.0.0/33"), VERSION, "ipam.range"),
    "a /31": (whereabouts(range="10.2.0.0/31"), VERSION, "ipam.range"),
    "a /127": (whereabouts(range="fd00::/127"), VERSION, "ipam.range"),
    "a first address outside": (whereabouts(range="10.3.0.10-10.2.0.20/24"), VERSION, "ipam.range"),
    "a first address that is no IP": (whereabouts(range="x-10.2.0.20/24"), VERSION, "ipam.range"),
    "a range as a number": (whereabouts(range=5), VERSION, "ipam.range"),
    "range_start outside, which it ignores": (
        whereabouts(range="10.2.0.0/24", range_start="10.9.0.1"),
        VERSION,
        None,
    ),
    "range_start that is no IP at the ipam level, which it drops": (
        whereabouts(range="10.2.0.0/24", range_start="x"),
        VERSION,
        None,
    ),
    "range_start that is no IP in ipRanges": (
        whereabouts(ipRanges=[{"range": "10.2.0.0/24", "range_start": "x"}]),
        VERSION,
        "ipam.ipRanges[0].range_start",
    ),
    "ipRanges": (whereabouts(ipRanges=[{"range": "10.2.0.0/24"}, {"range": "fd00::/64"}]), VERSION, None),
    "an ipRanges entry without range": (whereabouts(ipRanges=[{}]), VERSION, "ipam.ipRanges[0].range"),
    "a null ipRanges entry": (whereabouts(ipRanges=[None]), VERSION, "ipam.ipRanges[0].range"),
    "a bad range in ipRanges": (
        whereabouts(ipRanges=[{"range": "10.2.0.0/24"}, {"range": "bogus"}]),
        VERSION,
        "ipam.ipRanges[1].range",
    ),
    "ipRanges as an object": (whereabouts(ipRanges={"range": "10.2.0.0/24"}), VERSION, "ipam.ipRanges"),
    "exclude": (whereabouts(range="10.2.0.0/24", exclude=["10.2.0.0/28", "10.2.0.99"]), VERSION, None),
    "exclude with leading zeros (strict)": (
        whereabouts(range="10.2.0.0/24", exclude=["010.2.0.0/28"]),
        VERSION,
        "ipam.exclude[0]",
    ),
    "exclude that is no CIDR": (
        whereabouts(range="10.2.0.0/24", exclude=["10.2.0.0/40"]),
        VERSION,
        "ipam.exclude[0]",
    ),
    "exclude as a string": (whereabouts(range="10.2.0.0/24", exclude="10.2.0.0/28"), VERSION, "ipam.exclude"),
    "exclude in ipRanges": (
        whereabouts(ipRanges=[{"range": "10.2.0.0/24", "exclude": ["bogus"]}]),
        VERSION,
        "ipam.ipRanges[0].exclude[0]",
    ),
    "a gateway": (whereabouts(range="10.2.0.0/24", gateway="10.2.0.1"), VERSION, None),
    "a gateway that is no IP": (
        whereabouts(range="10.2.0.0/24", gateway="10.2.0.256"),
        VERSION,
        "ipam.gateway",
    ),
    "static addresses": (whereabouts(addresses=[{"address": "10.2.0.5/24"}]), VERSION, None),
    "a static address without prefix": (
        whereabouts(addresses=[{"address": "10.2.0.5"}]),
        VERSION,
        "ipam.addresses[0].address",
    ),
    "two IPv4 addresses before 0.3.0": (
        whereabouts(addresses=[{"address": "10.2.0.5/24"}, {"address": "10.3.0.5/24"}]),
        "0.2.0",
        "ipam.addresses",
    ),
    "two IPv4 addresses at 0.3.0": (
        whereabouts(addresses=[{"address": "10.2.0.5/24"}, {"address": "10.3.0.5/24"}]),
        "0.3.0",
        None,
    ),
    "a route without a CIDR": (
        whereabouts(range="10.2.0.0/24", routes=[{"dst": "x"}]),
        VERSION,
        "ipam.routes[0].dst",
    ),
    "a lease duration as text": (
        whereabouts(range="10.2.0.0/24", leader_lease_duration="5"),
        VERSION,
        "ipam.leader_lease_duration",
    ),
    "kubernetes as a string": (whereabouts(range="10.2.0.0/24", kubernetes="x"), VERSION, "ipam.kubernetes"),
    "overlapping ranges as text": (
        whereabouts(range="10.2.0.0/24", enable_overlapping_ranges="yes"),
        VERSION,
        "ipam.enable_overlapping_ranges",
    ),
}

DHCP_CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "nothing": (dhcp(), None),
    "a named option": (dhcp(provide=[{"option": "host-name", "value": "pod"}]), None),
    "a numbered option": (dhcp(provide=[{"option": "12", "value": "pod"}]), None),
    "a zero-padded option": (dhcp(provide=[{"option": "012", "value": "pod"}]), None),
    "an option from CNI_ARGS": (dhcp(provide=[{"option": "host-name", "fromArg": "K8S_POD_NAME"}]), None),
    "an unknown name": (dhcp(provide=[{"option": "hostname"}]), "ipam.provide[0].option"),
    "option 256": (dhcp(provide=[{"option": "256"}]), "ipam.provide[0].option"),
    "a signed option": (dhcp(provide=[{"option": "+12"}]), "ipam.provide[0].option"),
    "an empty option to provide": (dhcp(provide=[{"option": "", "value": "x"}]), "ipam.provide[0].option"),
    "a null option to provide": (dhcp(provide=[None]), "ipam.provide[0].option"),
    "a value of 255 bytes": (dhcp(provide=[{"option": "12", "value": "é" * 127 + "x"}]), None),
    "a value of 256 bytes": (dhcp(provide=[{"option": "12", "value": "é" * 128}]), "ipam.provide[0].value"),
    "a request": (dhcp(request=[{"option": "routers"}, {"option": "121"}]), None),
    "skipDefault alone": (dhcp(request=[{"skipDefault": True}]), None),
    "a bad request": (dhcp(request=[{"option": "300"}]), "ipam.request[0].option"),
    "a huge option number": (dhcp(request=[{"option": "9" * 5000}]), "ipam.request[0].option"),
    "provide as an object": (dhcp(provide={"option": "12"}), "ipam.provide"),
    "a value as a number": (dhcp(provide=[{"option": "12", "value": 5}]), "ipam.provide[0].value"),
    "a priority as text": (dhcp(priority="5"), "ipam.priority"),
}


def _input(config: dict[str, Any], version: str) -> dict[str, Any]:
    return {**config, "name": "probe", "cniVersion": version}


@pytest.mark.parametrize("case", list(WHEREABOUTS_CASES))
def test_whereabouts_verdicts_name_the_field(case: str) -> None:
    config, version, field = WHEREABOUTS_CASES[case]
    refused = plugin_config_problem(_input(config, version), version)
    assert (refused.where if refused else None) == field, refused


@pytest.mark.parametrize("case", list(DHCP_CASES))
def test_dhcp_verdicts_name_the_field(case: str) -> None:
    config, field = DHCP_CASES[case]
    refused = plugin_config_problem(_input(config, VERSION), VERSION)
    assert (refused.where if refused else None) == field, refused


@pytest.fixture(scope="module")
def dhcp_daemon(cni_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real dhcp daemon, quick to give up: no DHCP server answers in these tests."""
    require_root()
    binary = cni_bin / "dhcp"
    path = tmp_path_factory.mktemp("dhcp") / "dhcp.sock"
    flags = ["-timeout", "1s", "-resendmax", "1s", "-resendtimeout", "1s", "-socketpath", str(path)]
    daemon = subprocess.Popen(
        [str(binary), "daemon", *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if path.exists():
                break
            time.sleep(0.05)
        yield path
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)


def _run_dhcp(cni_bin: Path, command: str, netns: str, given: dict[str, Any]) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "probe1",
        "CNI_IFNAME": "net1",
        "CNI_NETNS": netns_path(netns),
        "CNI_PATH": str(cni_bin),
        "CNI_ARGS": "K8S_POD_NAME=pod",
    }
    done = subprocess.run(
        [str(cni_bin / "dhcp")],
        input=json.dumps(given).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return f"rc={done.returncode} {done.stdout.decode()}{done.stderr.decode()}"


@pytest.mark.netns
@pytest.mark.parametrize("case", list(DHCP_CASES))
def test_the_dhcp_daemon_refuses_the_same(
    case: str, cni_bin: Path, dhcp_daemon: Path, netns_name: str
) -> None:
    """A config the daemon accepts gets as far as asking the network for a lease (and, with no server,
    running out of tries); one it refuses fails before."""
    config, field = DHCP_CASES[case]
    given = _input(config, VERSION)
    given["ipam"] = {**given["ipam"], "daemonSocketPath": str(dhcp_daemon)}
    with IPRoute(netns=netns_name, flags=0) as ipr:
        ipr.link("add", ifname="net1", kind="veth", peer={"ifname": "net1p"})
        for name in ("net1", "net1p"):
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
    added = _run_dhcp(cni_bin, "ADD", netns_name, given)
    deleted = _run_dhcp(cni_bin, "DEL", netns_name, given)
    assert added.startswith("rc=1")
    assert ("no more tries" in added) == (field is None), added
    if field is None:
        assert deleted.startswith("rc=0"), deleted
    with IPRoute(netns=netns_name, flags=0) as ipr:  # dhcp's addresses are IPv4; lo keeps its own
        assert [a.get_attr("IFA_LOCAL") for a in ipr.get_addr(family=socket.AF_INET)] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        ([("IP", "10.2.0.5/24, 010.2.0.6/24")], None),
        ([("IP", "10.2.0.5")], "CNI_ARGS IP"),
        ([("GATEWAY", "10.2.0.1,x")], "CNI_ARGS GATEWAY"),
        ([("GATEWAY", "")], None),
    ],
)
def test_cni_args_whereabouts_reads(args: list[tuple[str, str]], refused: str | None) -> None:
    problem = cni_args_problem("whereabouts", args)
    assert (problem.where if problem else None) == refused


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("10.2.0.1", "10.2.0.1"),
        ("010.002.000.001", "10.2.0.1"),
        ("::ffff:010.2.0.1", "::ffff:a02:1"),
        ("10.2.0.256", None),
        ("10.2.0", None),
        ("fe80::1%eth0", None),
        ("\u0661\u0660.2.0.1", None),  # Arabic-Indic digits
        ("10.2.0." + "1" * 5000, None),
        ("10.2.0." + "0" * 5000 + "1", "10.2.0.1"),
    ],
)
def test_sloppy_addresses(text: str, parsed: str | None) -> None:
    address = parse_ip_sloppy(text)
    assert (str(address) if address else None) == parsed
    cidr = parse_cidr_sloppy(f"{text}/24" if ":" not in text else f"{text}/64")
    assert (cidr is not None) == (parsed is not None)
