from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.controller.support import ControllerProcess, running_controller, service_account_kubeconfig
from tests.testenv import TestEnv


@pytest.fixture(scope="session")
def controller_kubeconfig(
    apiserver: TestEnv, api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Credentials of the deployed ServiceAccount, bound to the deployed RBAC."""
    return service_account_kubeconfig(
        apiserver, api_client, tmp_path_factory.mktemp("controller") / "kubeconfig"
    )


@pytest.fixture(scope="module")
def controller_args() -> tuple[str, ...]:
    """Extra command-line arguments of the module's controller; a test module overrides this fixture."""
    return ()


@pytest.fixture(scope="module")
def controller(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    controller_kubeconfig: Path,
    controller_args: tuple[str, ...],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ControllerProcess]:
    """One running controller per test module, so that modules can run it with different settings."""
    log = tmp_path_factory.mktemp("controller-log") / "controller.log"
    with running_controller(apiserver, api_client, controller_kubeconfig, log, *controller_args) as running:
        yield running
