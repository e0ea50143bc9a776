"""With every replica of the controller down, NADs behave as deploy/README.md promises; uninstall cleans up.

The webhook configuration stays published while the controller is stopped, as it does when a
Deployment's pods are all gone: the API server keeps calling an address nobody answers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from controller.protection import FINALIZER
from controller.runner import PREFIX
from tests.e2e.controller.support import (
    NAD_API,
    NAD_PLURAL,
    WEBHOOK_CONFIGURATION,
    condition,
    create_attached_pod,
    create_nad,
    published_url,
    read_nad,
    running_controller,
    wait_for,
)
from tests.testenv import REPO, TestEnv

pytestmark = pytest.mark.e2e

BRIDGE = '{"cniVersion": "1.0.0", "type": "bridge"}'
INVALID = '{"cniVersion": "1.0.0", "type": "bridge/../x"}'


def finalizers(api: client.ApiClient, namespace: str, name: str) -> list[str]:
    return list(((read_nad(api, namespace, name) or {}).get("metadata") or {}).get("finalizers") or [])


def delete_nad(api: client.ApiClient, namespace: str, name: str) -> None:
    client.CustomObjectsApi(api).delete_namespaced_custom_object(*NAD_API, namespace, NAD_PLURAL, name)


def uninstall(env: TestEnv) -> subprocess.CompletedProcess[str]:
    """`python -m controller uninstall` with the administrator's credentials."""
    return subprocess.run(
        [sys.executable, "-m", "controller", "uninstall"],
        cwd=REPO,
        env={"KUBECONFIG": str(env.kubeconfig), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_with_the_controller_down_nads_are_stored_deleted_and_judged_later(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    controller_kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    with running_controller(apiserver, api_client, controller_kubeconfig, log) as controller:
        create_nad(api_client, namespace, "unused", BRIDGE)
        create_nad(api_client, namespace, "used", BRIDGE)
        create_attached_pod(api_client, namespace, "user", f"{namespace}/used")
        wait_for(lambda: FINALIZER in finalizers(api_client, namespace, "used"), "the used NAD's finalizer")
        # Usage written, and still no finalizer: an unused NAD never carries one.
        wait_for(
            lambda: (
                ((read_nad(api_client, namespace, "unused") or {}).get("status") or {}).get("podCount") == 0
            ),
            "the unused NAD's usage",
        )
        assert finalizers(api_client, namespace, "unused") == []

        assert controller.stop() == 0
        assert published_url(api_client) is not None, "the webhook stays registered, as with no pods"

        # Validation fails open: the API server stores the NAD unchecked.
        create_nad(api_client, namespace, "unchecked", INVALID)
        # An unused NAD is deleted at once.
        delete_nad(api_client, namespace, "unused")
        assert read_nad(api_client, namespace, "unused") is None
        # A NAD in use waits for a replica (the deletion is recorded, the object stays).
        delete_nad(api_client, namespace, "used")
        time.sleep(2)
        waiting = read_nad(api_client, namespace, "used")
        assert waiting is not None
        assert waiting["metadata"].get("deletionTimestamp")

    # A replica back judges what was stored meanwhile and lets the deletion go on once the pod is gone.
    with running_controller(apiserver, api_client, controller_kubeconfig, log):
        invalid = wait_for(lambda: condition(read_nad(api_client, namespace, "unchecked"), "Valid"), "Valid")
        assert (invalid["status"], invalid["reason"]) == ("False", "InvalidConfig")
        client.CoreV1Api(api_client).delete_namespaced_pod("user", namespace, grace_period_seconds=0)
        wait_for(lambda: read_nad(api_client, namespace, "used") is None, "the used NAD to go")


def test_uninstall_removes_finalizers_annotations_and_the_webhook_configuration(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    controller_kubeconfig: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    with running_controller(apiserver, api_client, controller_kubeconfig, tmp_path / "log") as controller:
        create_nad(api_client, namespace, "kept", BRIDGE, {"example.com/other": "stays"})
        create_attached_pod(api_client, namespace, "user", f"{namespace}/kept")
        wait_for(lambda: FINALIZER in finalizers(api_client, namespace, "kept"), "the finalizer")
        # Someone else's finalizer must survive the uninstall.
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            *NAD_API,
            namespace,
            NAD_PLURAL,
            "kept",
            {"metadata": {"finalizers": [*finalizers(api_client, namespace, "kept"), "example.com/keep"]}},
        )
        controller.stop()

        done = uninstall(apiserver)

        assert done.returncode == 0, done.stderr
        assert f"webhook configuration {WEBHOOK_CONFIGURATION} deleted" in done.stdout
        assert f"{namespace}/kept" in done.stdout
        nad = read_nad(api_client, namespace, "kept")
        assert nad is not None
        assert nad["metadata"]["finalizers"] == ["example.com/keep"]
        annotations = nad["metadata"].get("annotations") or {}
        assert annotations["example.com/other"] == "stays"
        assert [key for key in annotations if key.startswith(f"{PREFIX}/")] == []
        with pytest.raises(client.ApiException) as absent:
            client.AdmissionregistrationV1Api(api_client).read_validating_webhook_configuration(
                WEBHOOK_CONFIGURATION
            )
        assert absent.value.status == 404
        # Run again, it finds nothing left to do.
        again = uninstall(apiserver)
        assert again.returncode == 0, again.stderr
        assert "already absent" in again.stdout
        assert "removed from 0 NAD(s)" in again.stdout
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        *NAD_API, namespace, NAD_PLURAL, "kept", {"metadata": {"finalizers": []}}
    )
