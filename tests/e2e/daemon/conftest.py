"""Fixtures of the thick-mode tests: both shims, real `multus-daemon` processes, a runtime that execs a
shim. Every test that takes `shim` runs twice: with the stdlib Python shim and with the native one."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from tests.conftest import unique_name
from tests.e2e.daemon.support import (
    NATIVE_SHIM_SOURCE,
    PYTHON_SHIM,
    DaemonProcess,
    ShimRuntime,
    cluster_conflist,
    daemon_config,
)
from tests.e2e.meta.runtime import REPO, next_subnet
from tests.testenv import TestEnv

StartDaemon = Callable[..., DaemonProcess]
RuntimeFor = Callable[[DaemonProcess], ShimRuntime]


@pytest.fixture(scope="session")
def native_shim() -> Path:
    """The native shim: `$MULTUS_NATIVE_SHIM` (what `make test` builds), else built here with `make shim`."""
    given = os.environ.get("MULTUS_NATIVE_SHIM")
    if given:
        path = Path(given)
        assert path.is_file(), f"MULTUS_NATIVE_SHIM={given} is not a file"
        assert os.access(path, os.X_OK), f"MULTUS_NATIVE_SHIM={given} is not executable"
        assert path.stat().st_mtime >= NATIVE_SHIM_SOURCE.stat().st_mtime, f"{path} is older than its source"
        return path
    done = subprocess.run(["make", "-s", "shim"], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"make shim failed:\n{done.stdout}{done.stderr}"
    return REPO / "build" / "multus-shim"


@pytest.fixture(params=["python", "native"], ids=["python-shim", "native-shim"])
def shim(request: pytest.FixtureRequest) -> Path:
    if request.param == "python":
        assert PYTHON_SHIM.exists(), f"{PYTHON_SHIM} missing: pip install -e ."
        return PYTHON_SHIM
    path: Path = request.getfixturevalue("native_shim")
    return path


@pytest.fixture(scope="session")
def shared_daemon(
    apiserver: TestEnv, tmp_path_factory: pytest.TempPathFactory, cni_bin: Path
) -> Iterator[DaemonProcess]:
    """One daemon for the scenario tests (each brings its own CNI config on stdin, so they do not
    interfere); it must exit cleanly on SIGTERM at the end of the session."""
    root = tmp_path_factory.mktemp("shared-daemon")
    daemon = DaemonProcess(root, daemon_config(root, apiserver, unique_name("node-")))
    bridge = unique_name("mpy")
    (daemon.conf_dir / "10-cluster.conflist").write_text(
        json.dumps(cluster_conflist(bridge, str(next_subnet()), root / "ipam"))
    )
    daemon.start()
    try:
        yield daemon
    finally:
        code = daemon.stop()
        _remove_bridge(bridge)
        assert code == 0, f"multus-daemon exited with {code} on SIGTERM:\n{daemon.log_tail()}"


@pytest.fixture
def start_daemon(apiserver: TestEnv, tmp_path: Path) -> Iterator[StartDaemon]:
    """Starts daemons of the test's own (unique node names, folders in tmp); each must exit with 0 on
    SIGTERM, checked at teardown for those still running."""
    started: list[DaemonProcess] = []

    def start(
        *, node_name: str | None = None, start: bool = True, wait: bool = True, **overrides: Any
    ) -> DaemonProcess:
        """A daemon; with `start=False` only its config, for a test that starts it later."""
        root = tmp_path / f"daemon-{len(started)}"
        root.mkdir()
        config = daemon_config(root, apiserver, node_name or unique_name("node-"), **overrides)
        daemon = DaemonProcess(root, config)
        started.append(daemon)
        return daemon.start(wait=wait) if start else daemon

    yield start
    failures = []
    for daemon in started:
        if daemon.running:
            code = daemon.stop()
            if code != 0:
                failures.append(f"exit {code}:\n{daemon.log_tail()}")
        failures += [f"exit {code}:\n{daemon.log_tail()}" for code in daemon.exit_codes if code != 0]
    assert failures == [], "a daemon did not exit cleanly on SIGTERM"


def make_runtime(
    *,
    shim: Path,
    daemon: DaemonProcess,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    root: Path,
) -> ShimRuntime:
    return ShimRuntime(
        shim=shim,
        daemon=daemon,
        api=api_client,
        kubeconfig=apiserver.kubeconfig,
        cni_bin=cni_bin,
        root=root,
        namespace=namespace,
        netns_name=netns_name,
    )


@pytest.fixture
def rt(
    *,
    shim: Path,
    shared_daemon: DaemonProcess,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
) -> Iterator[ShimRuntime]:
    """The test's runtime, through `shim` to the shared daemon; torn down even when the test fails."""
    runtime = make_runtime(
        shim=shim,
        daemon=shared_daemon,
        apiserver=apiserver,
        api_client=api_client,
        namespace=namespace,
        netns_name=netns_name,
        cni_bin=cni_bin,
        root=tmp_path,
    )
    try:
        yield runtime
    finally:
        runtime.cleanup()


@pytest.fixture
def runtime_for(
    *,
    shim: Path,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
    start_daemon: StartDaemon,  # so daemons outlive the runtime's teardown, which runs DEL through them
) -> Iterator[Callable[[DaemonProcess], ShimRuntime]]:
    """Makes the test's runtime for a daemon of its own (one per test); torn down after the test."""
    made: list[ShimRuntime] = []

    def make(daemon: DaemonProcess) -> ShimRuntime:
        assert not made, "one runtime per test"
        root = tmp_path / "runtime"
        root.mkdir()
        made.append(
            make_runtime(
                shim=shim,
                daemon=daemon,
                apiserver=apiserver,
                api_client=api_client,
                namespace=namespace,
                netns_name=netns_name,
                cni_bin=cni_bin,
                root=root,
            )
        )
        return made[0]

    yield make
    for runtime in made:
        runtime.cleanup()


def _remove_bridge(name: str) -> None:
    with IPRoute() as ipr, contextlib.suppress(NetlinkError):  # absent: no pod used that network
        ipr.link("del", ifname=name)
