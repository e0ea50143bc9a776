"""Fixtures on real components: the API server, network namespaces, veth pairs, CNI plugin binaries.

A test that cannot get its real component is skipped with the reason, and `make test` turns any skip into
a failure (see `pytest_sessionfinish`): in CI a missing component is a broken set-up, not a pass.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from tests import testenv

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get("MULTUS_FAIL_ON_SKIP") == "1":
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped and os.environ.get("MULTUS_FAIL_ON_SKIP") == "1":
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped for a missing real component (MULTUS_FAIL_ON_SKIP=1)",
            red=True,
        )


def unique_name(prefix: str) -> str:
    """A name short enough for a Linux interface (15 bytes) and unique across concurrent runs."""
    return f"{prefix}{uuid.uuid4().hex[: 15 - len(prefix)]}"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")


@contextlib.contextmanager
def throwaway_netns(prefix: str = "mt-") -> Iterator[str]:
    """A network namespace with `lo` up, removed afterwards, even when the test fails."""
    require_root()
    name = unique_name(prefix)
    netns.create(name)
    try:
        with IPRoute(netns=name, flags=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        yield name
    finally:
        netns.remove(name)


@pytest.fixture(scope="session")
def cni_bin() -> Path:
    """The folder of real CNI plugin binaries built from containernetworking/plugins."""
    if not (testenv.CNI_BIN / "bridge").exists():
        pytest.skip(f"CNI plugins missing in {testenv.CNI_BIN}: run make components")
    return testenv.CNI_BIN


@pytest.fixture(scope="session")
def apiserver() -> Iterator[testenv.TestEnv]:
    """A real etcd + kube-apiserver with the CRDs applied, shared by the whole session."""
    for binary in (testenv.ETCD_BIN / "etcd", testenv.KUBE_BIN / "kube-apiserver"):
        if not binary.exists():
            pytest.skip(f"{binary} missing: run make components")
    with testenv.running() as env:
        yield env


@pytest.fixture
def netns_name() -> Iterator[str]:
    """A throwaway network namespace with `lo` up; removed afterwards, even when the test fails."""
    with throwaway_netns() as name:
        yield name


def netns_path(name: str) -> str:
    return f"/var/run/netns/{name}"


@pytest.fixture
def veth_master() -> Iterator[str]:
    """The host end of a veth pair, up, usable as a macvlan master; its peer sits in a netns of its own."""
    require_root()
    host, peer, peer_ns = unique_name("mv"), unique_name("mp"), unique_name("mpeer-")
    netns.create(peer_ns)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=host, kind="veth", peer={"ifname": peer, "net_ns_fd": peer_ns})
            ipr.link("set", index=ipr.link_lookup(ifname=host)[0], state="up")
        with IPRoute(netns=peer_ns, flags=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], state="up")
        yield host
    finally:
        with IPRoute() as ipr, contextlib.suppress(Exception):
            ipr.link("del", ifname=host)
        netns.remove(peer_ns)
