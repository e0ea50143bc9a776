"""Settings that need a controller of their own: each test starts (and stops) the real controller."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from controller.settings import POD_VALIDATION_LABEL
from tests.conftest import unique_name
from tests.e2e.controller.support import (
    NAD_API,
    NAD_PLURAL,
    NETWORKS,
    WEBHOOK_CONFIGURATION,
    condition,
    create_attached_pod,
    create_nad,
    nad_events,
    read_nad,
    running_controller,
    wait_for,
)
from tests.testenv import TestEnv

pytestmark = pytest.mark.e2e


def test_nad_stored_before_the_controller_gets_invalid_status_and_an_event(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    controller_kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    # No webhook is installed yet, so the API server stores whatever it is given (as upstream's does).
    create_nad(api_client, namespace, "legacy", '{"cniVersion": "1.0.0", "type": "bridge/../x"}')

    with running_controller(apiserver, api_client, controller_kubeconfig, tmp_path / "log"):
        invalid = wait_for(lambda: condition(read_nad(api_client, namespace, "legacy"), "Valid"), "Valid")
        assert (invalid["status"], invalid["reason"]) == ("False", "InvalidConfig")
        assert "type: 'bridge/../x' must be a plain file name" in invalid["message"]
        event = wait_for(
            lambda: next(
                (e for e in nad_events(api_client, namespace, "legacy") if e.reason == "InvalidConfig"), None
            ),
            "the InvalidConfig event",
        )
        assert event.type == "Warning"
        assert event.message == invalid["message"]

        # Fixing the config is an update the webhook accepts; the condition turns True.
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            *NAD_API,
            namespace,
            NAD_PLURAL,
            "legacy",
            {"spec": {"config": '{"cniVersion": "1.0.0", "type": "bridge"}'}},
        )
        wait_for(
            lambda: (
                (condition(read_nad(api_client, namespace, "legacy"), "Valid") or {}).get("status") == "True"
            ),
            "Valid=True after the fix",
        )


def test_without_deletion_protection_a_used_nad_goes_at_once(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    controller_kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    with running_controller(apiserver, api_client, controller_kubeconfig, log):
        create_nad(api_client, namespace, "loose", '{"cniVersion": "1.0.0", "type": "bridge"}')
        create_attached_pod(api_client, namespace, "user", f"{namespace}/loose")
        wait_for(
            lambda: (read_nad(api_client, namespace, "loose") or {}).get("metadata", {}).get("finalizers"),
            "the finalizer on a NAD in use",
        )

    # Restarted without protection, the controller takes back the finalizer it had added.
    with running_controller(apiserver, api_client, controller_kubeconfig, log, "--no-deletion-protection"):
        wait_for(
            lambda: (
                not (read_nad(api_client, namespace, "loose") or {}).get("metadata", {}).get("finalizers")
            ),
            "the finalizer to be removed",
        )
        assert (read_nad(api_client, namespace, "loose") or {})["status"]["podCount"] == 1

        client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
            *NAD_API, namespace, NAD_PLURAL, "loose"
        )

        assert read_nad(api_client, namespace, "loose") is None


def test_pod_validation_off_publishes_no_pod_webhook(
    apiserver: TestEnv, api_client: client.ApiClient, controller_kubeconfig: Path, tmp_path: Path
) -> None:
    labelled = unique_name("off-")
    core = client.CoreV1Api(api_client)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=labelled, labels={POD_VALIDATION_LABEL: "enabled"})
        )
    )

    with running_controller(
        apiserver, api_client, controller_kubeconfig, tmp_path / "log", "--pod-validation=off"
    ):
        configuration = client.AdmissionregistrationV1Api(api_client).read_validating_webhook_configuration(
            WEBHOOK_CONFIGURATION
        )
        assert [webhook.name for webhook in configuration.webhooks or []] == [
            "network-attachment-definitions.validation.multus-py.io"
        ]
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="unchecked", annotations={NETWORKS: "absent"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="pause")]),
        )
        assert core.create_namespaced_pod(labelled, pod).metadata is not None
    core.delete_namespace(labelled)


def test_fail_closed_pod_webhook_is_published_with_failure_policy_fail(
    apiserver: TestEnv, api_client: client.ApiClient, controller_kubeconfig: Path, tmp_path: Path
) -> None:
    with running_controller(
        apiserver, api_client, controller_kubeconfig, tmp_path / "log", "--pod-failure-policy=closed"
    ):
        configuration = client.AdmissionregistrationV1Api(api_client).read_validating_webhook_configuration(
            WEBHOOK_CONFIGURATION
        )
        policies = {webhook.name: webhook.failure_policy for webhook in configuration.webhooks or []}
        assert policies == {
            "network-attachment-definitions.validation.multus-py.io": "Ignore",
            "pods.validation.multus-py.io": "Fail",
        }
