from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.meta.runtime import Runtime
from tests.testenv import TestEnv


@pytest.fixture
def rt(
    *,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
) -> Iterator[Runtime]:
    """The test's runtime: its first pod sandbox uses `netns_name`; torn down even when the test fails."""
    runtime = Runtime(
        api=api_client,
        kubeconfig=apiserver.kubeconfig,
        cni_bin=cni_bin,
        root=tmp_path,
        namespace=namespace,
        netns_name=netns_name,
    )
    try:
        yield runtime
    finally:
        runtime.cleanup()
