from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, config

from tests.conftest import unique_name
from tests.testenv import TestEnv


@pytest.fixture(scope="session")
def api_client(apiserver: TestEnv) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(apiserver.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A namespace of the test's own. Without kube-controller-manager it never finishes terminating,
    so deleting it only marks it; names are unique, so that is harmless."""
    name = unique_name("t-")
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
