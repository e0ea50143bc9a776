"""Fixtures of the fault suite: a gate in front of the API server, and a driver per path. Thin: the
in-process plugin tests' runtime. Thick: the daemon tests' runtime on a daemon of the test's own that
reaches the API server through the gate, execing the native shim (what the DaemonSet installs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon, native_shim, runtime_for, start_daemon
from tests.e2e.faults.cycles import DELEGATE_TIMEOUT, Driver, ThickDriver
from tests.e2e.faults.gate import Gate
from tests.e2e.meta.conftest import rt
from tests.e2e.meta.runtime import Runtime
from tests.testenv import TestEnv

__all__ = ["native_shim", "rt", "runtime_for", "start_daemon"]  # other suites' fixtures, used here


@pytest.fixture
def shim(native_shim: Path) -> Path:
    """Overrides the daemon tests' choice of both shims for `runtime_for`."""
    return native_shim


@pytest.fixture
def gate(apiserver: TestEnv) -> Iterator[Gate]:
    opened = Gate(apiserver.server)
    yield opened
    opened.shut()


@pytest.fixture
def thin(gate: Gate, rt: Runtime) -> Driver:
    return Driver(rt, gate)


@pytest.fixture
def thick(
    gate: Gate, apiserver: TestEnv, tmp_path: Path, start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> ThickDriver:
    kubeconfig = gate.kubeconfig(apiserver.kubeconfig, tmp_path / "daemon-kubeconfig")
    daemon = start_daemon(kubeconfig=str(kubeconfig), delegateTimeoutSeconds=DELEGATE_TIMEOUT)
    return ThickDriver(runtime_for(daemon), gate)
