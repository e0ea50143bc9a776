"""The deployment: manifests accepted by the real API server, the health endpoint, replicas with peering."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from controller.settings import Settings
from tests.e2e.controller.support import (
    DEPLOY,
    PEERING,
    condition,
    create_attached_pod,
    create_nad,
    failover_seconds,
    install_peering,
    peers,
    read_nad,
    running_controller,
    wait_for,
)
from tests.testenv import KUBE_BIN, TestEnv

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def peering(apiserver: TestEnv) -> str:
    install_peering(apiserver)
    return PEERING


AS_CONTROLLER = "system:serviceaccount:kube-system:multus-controller"
NADS = "network-attachment-definitions.k8s.cni.cncf.io"
# Every other test here runs the controller as its ServiceAccount, which shows the grants suffice; these
# are the neighbouring permissions it must not have.
DENIED = [
    ("delete", NADS),
    ("create", NADS),
    ("update", NADS),
    ("update", NADS, "--subresource=status"),
    ("get", "pods"),
    ("patch", "pods"),
    ("patch", "pods", "--subresource=status"),
    ("delete", "pods"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("patch", "events"),
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io"),
    ("delete", "validatingwebhookconfigurations.admissionregistration.k8s.io/multus-controller"),
    ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/other"),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/multus-controller"),
    ("patch", "clusterkopfpeerings.kopf.dev/other"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
]
GRANTED = [
    ("watch", NADS),
    ("patch", NADS),
    ("patch", NADS, "--subresource=status"),
    ("get", NADS),
    ("watch", "pods"),
    ("create", "events"),
    ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io/multus-controller"),
    ("patch", "clusterkopfpeerings.kopf.dev/multus-controller"),
]


def can(env: TestEnv, verb: str, resource: str, *options: str) -> bool:
    """`kubectl auth can-i` as the controller; `resource/name` names one object."""
    kubectl = [str(KUBE_BIN / "kubectl"), f"--kubeconfig={env.kubeconfig}", "auth", "can-i", verb, resource]
    done = subprocess.run(
        [*kubectl, "--as", AS_CONTROLLER, "--all-namespaces", *options],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() == "yes"


# controller_kubeconfig applies deploy/controller/rbac.yaml; peering installs the kopf.dev CRD it names.
@pytest.mark.usefixtures("controller_kubeconfig", "peering")
def test_rbac_grants_what_the_controller_uses_and_nothing_next_to_it(apiserver: TestEnv) -> None:
    assert [grant for grant in GRANTED if not can(apiserver, *grant)] == []
    assert [denial for denial in DENIED if can(apiserver, *denial)] == []


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
        # The replica that took over writes usage on pod events too (it wrote none while paused).
        create_attached_pod(api_client, namespace, "user", f"{namespace}/first")
        wait_for(
            lambda: (
                ((read_nad(api_client, namespace, "first") or {}).get("status") or {}).get("podCount") == 1
            ),
            "the pod counted by the other replica",
        )


@pytest.mark.usefixtures("peering")
def test_a_killed_active_replica_is_taken_over_within_the_peering_lifetime(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    controller_kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    seconds = failover_seconds(
        apiserver, api_client, controller_kubeconfig, tmp_path, namespace=namespace, name="failover"
    )

    # The dead replica's keep-alive expires at most --peering-lifetime (15 s) after it was renewed;
    # the rest is the survivor resuming its watches on a loaded machine.
    assert seconds < Settings().peering_lifetime + 15, seconds
