"""Usage counts follow pods' network-status; deletion protection holds while pods use a NAD, then lets go."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from controller.protection import FINALIZER
from tests.e2e.controller.support import (
    NAD_API,
    NAD_PLURAL,
    condition,
    create_attached_pod,
    create_nad,
    delete_pod,
    nad_events,
    read_nad,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("controller")]

BRIDGE = '{"cniVersion": "1.0.0", "type": "bridge"}'


def usage_becomes(
    api: client.ApiClient, namespace: str, name: str, count: int, pods: list[str]
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = ((read_nad(api, namespace, name) or {}).get("status")) or {}
        return status if (status.get("podCount"), status.get("pods")) == (count, pods) else None

    return wait_for(probe, f"{namespace}/{name} used by {count} pod(s) {pods}")


def test_usage_follows_pods_as_they_come_and_go(api_client: client.ApiClient, namespace: str) -> None:
    create_nad(api_client, namespace, "shared", BRIDGE)
    create_nad(api_client, namespace, "other", BRIDGE)
    usage_becomes(api_client, namespace, "shared", 0, [])

    create_attached_pod(api_client, namespace, "web-1", f"{namespace}/shared")
    usage_becomes(api_client, namespace, "shared", 1, [f"{namespace}/web-1"])

    # Attached twice (two interfaces) still counts as one pod; the other NAD counts it too.
    create_attached_pod(
        api_client, namespace, "web-2", f"{namespace}/shared", f"{namespace}/shared", f"{namespace}/other"
    )
    usage_becomes(api_client, namespace, "shared", 2, [f"{namespace}/web-1", f"{namespace}/web-2"])
    usage_becomes(api_client, namespace, "other", 1, [f"{namespace}/web-2"])

    delete_pod(api_client, namespace, "web-1")
    usage_becomes(api_client, namespace, "shared", 1, [f"{namespace}/web-2"])

    # A finished pod's sandbox is gone: it no longer uses its networks.
    client.CoreV1Api(api_client).patch_namespaced_pod_status(
        "web-2", namespace, {"status": {"phase": "Succeeded"}}
    )
    usage_becomes(api_client, namespace, "shared", 0, [])
    usage_becomes(api_client, namespace, "other", 0, [])


def test_a_pod_in_another_namespace_counts(api_client: client.ApiClient, namespace: str) -> None:
    create_nad(api_client, namespace, "global", BRIDGE)
    other = f"{namespace}-b"
    client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=other))
    )

    create_attached_pod(api_client, other, "client", f"{namespace}/global")

    usage_becomes(api_client, namespace, "global", 1, [f"{other}/client"])
    delete_pod(api_client, other, "client")
    usage_becomes(api_client, namespace, "global", 0, [])


def test_deletion_waits_for_pods_and_says_why(api_client: client.ApiClient, namespace: str) -> None:
    create_nad(api_client, namespace, "kept", BRIDGE)
    create_attached_pod(api_client, namespace, "user", f"{namespace}/kept")
    usage_becomes(api_client, namespace, "kept", 1, [f"{namespace}/user"])
    # Pods are counted apart from kopf's handling of the NAD: protection begins with the finalizer.
    wait_for(
        lambda: (
            FINALIZER in ((read_nad(api_client, namespace, "kept") or {})["metadata"].get("finalizers") or [])
        ),
        "the finalizer",
    )

    client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
        *NAD_API, namespace, NAD_PLURAL, "kept"
    )

    blocked = wait_for(
        lambda: condition(read_nad(api_client, namespace, "kept"), "DeletionBlocked"),
        "the DeletionBlocked condition",
    )
    assert (blocked["status"], blocked["reason"]) == ("True", "InUse")
    assert f"{namespace}/user" in blocked["message"]
    event = wait_for(
        lambda: next(
            (e for e in nad_events(api_client, namespace, "kept") if e.reason == "DeletionBlocked"), None
        ),
        "the DeletionBlocked event",
    )
    assert event.type == "Warning"
    assert f"{namespace}/user" in (event.message or "")
    nad = read_nad(api_client, namespace, "kept")
    assert nad is not None
    assert nad["metadata"].get("deletionTimestamp")

    delete_pod(api_client, namespace, "user")

    wait_for(lambda: read_nad(api_client, namespace, "kept") is None, "the NAD to be deleted")


def test_unused_nad_is_deleted_at_once(api_client: client.ApiClient, namespace: str) -> None:
    create_nad(api_client, namespace, "unused", BRIDGE)
    usage_becomes(api_client, namespace, "unused", 0, [])

    client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
        *NAD_API, namespace, NAD_PLURAL, "unused"
    )

    wait_for(lambda: read_nad(api_client, namespace, "unused") is None, "the NAD to be deleted")
    assert [event.reason for event in nad_events(api_client, namespace, "unused")] == []
