"""Fixtures of the hostile-input tests: one daemon for the package, runtimes of both kinds on it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from tests.conftest import unique_name
from tests.e2e.daemon.conftest import make_runtime, native_shim
from tests.e2e.daemon.support import DaemonProcess, ShimRuntime, cluster_conflist, daemon_config
from tests.e2e.meta.conftest import rt
from tests.e2e.meta.runtime import Runtime, next_subnet
from tests.testenv import TestEnv

__all__ = ["hostile_daemon", "native_shim", "rt", "thick", "thin"]


@pytest.fixture(scope="session")
def hostile_daemon(apiserver: TestEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """The package's daemon; it must exit with 0 on SIGTERM at the end."""
    root = tmp_path_factory.mktemp("hostile-daemon")
    daemon = DaemonProcess(root, daemon_config(root, apiserver, unique_name("node-")))
    bridge = unique_name("mpy")
    primary = cluster_conflist(bridge, str(next_subnet()), root / "ipam")
    (daemon.conf_dir / "10-cluster.conflist").write_text(json.dumps(primary))
    daemon.start()
    try:
        yield daemon
    finally:
        code = daemon.stop()
        with IPRoute() as ipr, contextlib.suppress(NetlinkError):  # absent: no pod used that network
            ipr.link("del", ifname=bridge)
        assert code == 0, f"multus-daemon exited with {code} on SIGTERM:\n{daemon.log_tail()}"


@pytest.fixture
def thin(rt: Runtime) -> Runtime:
    """The in-process plugin: tests/e2e/meta's `rt`, under the name that says which path it is."""
    return rt


@pytest.fixture
def thick(
    *,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    cni_bin: Path,
    tmp_path: Path,
    native_shim: Path,
    hostile_daemon: DaemonProcess,
) -> Iterator[ShimRuntime]:
    """The native shim to the package's daemon; its first pod gets a namespace of its own (`rt` has the
    test's)."""
    first = unique_name("mt-")
    netns.create(first)
    (tmp_path / "thick").mkdir()
    runtime = make_runtime(
        shim=native_shim,
        daemon=hostile_daemon,
        apiserver=apiserver,
        api_client=api_client,
        namespace=namespace,
        netns_name=first,
        cni_bin=cni_bin,
        root=tmp_path / "thick",
    )
    runtime.own_netns.append(first)  # removed by cleanup, as the namespaces it makes itself
    try:
        yield runtime
    finally:
        runtime.cleanup()
