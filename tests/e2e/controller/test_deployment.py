"""The deployment: manifests accepted by the real API server, the health endpoint, replicas with peering."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.controller.support import DEPLOY, condition, create_nad, read_nad, running_controller, wait_for
from tests.testenv import TestEnv

pytestmark = pytest.mark.e2e

PEERING = "multus-controller"


@pytest.fixture(scope="module")
def peering(apiserver: TestEnv) -> str:
    """The ClusterKopfPeering CRD and object of deploy/controller, installed as the README says."""
    apiserver.kubectl("apply", "-f", str(DEPLOY / "peering-crd.yaml"))
    apiserver.kubectl(
        "wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s"
    )
    apiserver.kubectl("apply", "-f", str(DEPLOY / "peering.yaml"))
    return PEERING


def peers(api: client.ApiClient) -> dict[str, dict[str, object]]:
    found = client.CustomObjectsApi(api).get_cluster_custom_object(
        "kopf.dev", "v1", "clusterkopfpeerings", PEERING
    )
    return dict(found.get("status") or {})


@pytest.mark.usefixtures("peering")
def test_manifests_pass_a_server_side_dry_run(apiserver: TestEnv) -> None:
    output = apiserver.kubectl("apply", "--dry-run=server", "-f", str(DEPLOY))

    for kind in (
        "deployment.apps/multus-controller",
        "service/multus-controller-webhook",
        "serviceaccount/multus-controller",
        "clusterrole.rbac.authorization.k8s.io/multus-controller",
        "clusterrolebinding.rbac.authorization.k8s.io/multus-controller",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/multus-controller",
        "clusterkopfpeering.kopf.dev/multus-controller",
    ):
        assert kind in output


def test_health_endpoint_answers_while_running(
    apiserver: TestEnv, api_client: client.ApiClient, controller_kubeconfig: Path, tmp_path: Path
) -> None:
    with running_controller(apiserver, api_client, controller_kubeconfig, tmp_path / "log") as controller:
        with urllib.request.urlopen(controller.liveness_url, timeout=5) as reply:  # noqa: S310 - loopback http
            assert reply.status == 200
            assert isinstance(json.loads(reply.read()), dict)
        assert controller.stop() == 0
    assert not controller.healthy()


@pytest.mark.usefixtures("peering")
def test_two_replicas_with_peering_hand_over(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    controller_kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    high = running_controller(
        apiserver, api_client, controller_kubeconfig, tmp_path / "high", "--priority=200", standalone=False
    )
    low = running_controller(
        apiserver, api_client, controller_kubeconfig, tmp_path / "low", "--priority=100", standalone=False
    )
    with high as active, low:
        wait_for(
            lambda: sorted(entry["priority"] for entry in peers(api_client).values()) == [100, 200],
            "two peers",
        )
        create_nad(api_client, namespace, "first", '{"cniVersion": "1.0.0", "type": "bridge"}')
        wait_for(
            lambda: condition(read_nad(api_client, namespace, "first"), "Valid"),
            "status from the active replica",
        )

        assert active.stop() == 0

        wait_for(
            lambda: [entry["priority"] for entry in peers(api_client).values()] == [100], "one peer left"
        )
        create_nad(api_client, namespace, "second", '{"cniVersion": "1.0.0", "type": "bridge"}')
        wait_for(
            lambda: condition(read_nad(api_client, namespace, "second"), "Valid"),
            "status from the other replica",
        )
