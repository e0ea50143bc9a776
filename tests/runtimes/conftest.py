"""The runtime tests' fixtures: a containerd node with multus (one per flavour and mode, shared by a test
module), a runtime for each test on it, and the other suites' API client, namespaces and native shim."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.conftest import api_client, namespace  # noqa: F401 - fixtures, found by name
from tests.e2e.daemon.conftest import native_shim  # noqa: F401 - a fixture, found by name
from tests.runtimes.multus_node import CriRuntime, MultusNode, multus_node
from tests.testenv import TestEnv


@pytest.fixture(scope="module")  # gone before the next module's tests
def node(
    request: pytest.FixtureRequest,
    apiserver: TestEnv,
    cni_bin: Path,
    native_shim: Path,  # noqa: F811 - the imported fixture
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MultusNode]:
    """One node per flavour and mode, shared by the tests (each brings its own NADs and pods)."""
    flavour, mode = request.param
    root = tmp_path_factory.mktemp(f"{flavour}-{mode}")
    with multus_node(
        flavour, mode, root, apiserver=apiserver, cni_bin=cni_bin, native_shim=native_shim
    ) as made:
        yield made


@pytest.fixture
def rt(
    *,
    node: MultusNode,
    apiserver: TestEnv,
    api_client: client.ApiClient,  # noqa: F811 - the imported fixture
    namespace: str,  # noqa: F811 - the imported fixture
    cni_bin: Path,
    tmp_path: Path,
) -> Iterator[CriRuntime]:
    node.ensure_up()
    runtime = CriRuntime(
        node,
        api=api_client,
        kubeconfig=apiserver.kubeconfig,
        cni_bin=cni_bin,
        root=tmp_path,
        namespace=namespace,
    )
    try:
        yield runtime
    finally:
        runtime.cleanup()
