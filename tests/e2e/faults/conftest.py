"""Fixtures of the fault suite: a gate in front of the API server, and a driver per path (the in-process
plugin; the native shim to a daemon of the test's own that reaches the API server through the gate)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.daemon.conftest import StartDaemon, make_runtime, native_shim, start_daemon
from tests.e2e.faults.cycles import DELEGATE_TIMEOUT, Driver, ThickDriver
from tests.e2e.faults.gate import Gate
from tests.e2e.meta.runtime import Runtime
from tests.testenv import TestEnv

__all__ = ["native_shim", "start_daemon"]  # the daemon tests' fixtures, used here too


@pytest.fixture
def gate(apiserver: TestEnv) -> Iterator[Gate]:
    opened = Gate(apiserver.server)
    yield opened
    opened.shut()


@pytest.fixture
def thin(
    *,
    gate: Gate,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
) -> Iterator[Driver]:
    rt = Runtime(
        api=api_client,
        kubeconfig=apiserver.kubeconfig,
        cni_bin=cni_bin,
        root=tmp_path,
        namespace=namespace,
        netns_name=netns_name,
    )
    try:
        yield Driver(rt, gate)
    finally:
        rt.cleanup()


@pytest.fixture
def thick(
    *,
    gate: Gate,
    native_shim: Path,
    start_daemon: StartDaemon,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
) -> Iterator[ThickDriver]:
    kubeconfig = gate.kubeconfig(apiserver.kubeconfig, tmp_path / "daemon-kubeconfig")
    daemon = start_daemon(kubeconfig=str(kubeconfig), delegateTimeoutSeconds=DELEGATE_TIMEOUT)
    root = tmp_path / "runtime"
    root.mkdir()
    rt = make_runtime(
        shim=native_shim,
        daemon=daemon,
        apiserver=apiserver,
        api_client=api_client,
        namespace=namespace,
        netns_name=netns_name,
        cni_bin=cni_bin,
        root=root,
    )
    try:
        yield ThickDriver(rt, gate)
    finally:
        rt.cleanup()
