"""examples/controller/, step by step as its README tells, against the running controller."""

from __future__ import annotations

import subprocess

import pytest
from kubernetes import client

from tests.e2e.controller.support import condition, read_nad, wait_for
from tests.testenv import KUBE_BIN, REPO, TestEnv

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("controller")]

EXAMPLE = REPO / "examples" / "controller"


def apply(env: TestEnv, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBE_BIN / "kubectl"), f"--kubeconfig={env.kubeconfig}", "apply", "-f", str(EXAMPLE / name)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_example_behaves_as_its_readme_says(apiserver: TestEnv, api_client: client.ApiClient) -> None:
    for setup in ("namespace.yaml", "storage-nad.yaml"):
        assert apply(apiserver, setup).returncode == 0

    bad_nad = apply(apiserver, "bad-nad.yaml")
    assert bad_nad.returncode != 0
    assert (
        "spec.config: invalid network config: type: '../../bin/macvlan' must be a plain file name"
        in bad_nad.stderr
    )

    missing = apply(apiserver, "pod-missing-network.yaml")
    assert missing.returncode != 0
    expected = (
        "k8s.v1.cni.cncf.io/networks: element 1 (demo-validated/backup): no such NetworkAttachmentDefinition"
    )
    assert expected in missing.stderr

    assert "pod/web created" in apply(apiserver, "pod.yaml").stdout

    wait_for(
        lambda: condition(read_nad(api_client, "demo-validated", "storage"), "Valid"), "the NAD's status"
    )
    row = apiserver.kubectl("get", "net-attach-def", "-n", "demo-validated", "--no-headers").split()
    assert row[:4] == ["storage", "macvlan,tuning", "True", "0"]
