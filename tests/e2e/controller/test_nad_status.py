"""NAD status from the running controller: the Valid condition, plugin types, version, printer columns."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.e2e.controller.support import (
    NAD_API,
    NAD_PLURAL,
    condition,
    create_attached_pod,
    create_nad,
    read_nad,
    wait_for,
)
from tests.testenv import TestEnv

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("controller")]

BRIDGE_AND_TUNING = '{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}, {"type": "tuning"}]}'


def status_for_generation(
    api: client.ApiClient, namespace: str, name: str, generation: int
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        nad = read_nad(api, namespace, name)
        status = (nad or {}).get("status") or {}
        return status if status.get("observedGeneration") == generation else None

    return wait_for(probe, f"status of {namespace}/{name} at generation {generation}")


def test_valid_nad_gets_valid_condition_types_and_version(
    api_client: client.ApiClient, namespace: str
) -> None:
    create_nad(api_client, namespace, "chain", BRIDGE_AND_TUNING)

    status = status_for_generation(api_client, namespace, "chain", 1)

    assert status["pluginTypes"] == ["bridge", "tuning"]
    assert status["plugins"] == "bridge,tuning"
    assert status["cniVersion"] == "1.0.0"
    assert status["podCount"] == 0
    assert status["pods"] == []
    valid = condition({"status": status}, "Valid")
    assert valid is not None
    assert (valid["status"], valid["reason"], valid["observedGeneration"]) == ("True", "ConfigValid", 1)
    assert valid["lastTransitionTime"].endswith("Z")


def test_on_disk_config_is_valid_with_nothing_to_report(api_client: client.ApiClient, namespace: str) -> None:
    create_nad(api_client, namespace, "on-disk", None)

    status = status_for_generation(api_client, namespace, "on-disk", 1)

    valid = condition({"status": status}, "Valid")
    assert valid is not None
    assert (valid["status"], valid["reason"]) == ("True", "ConfigOnNode")
    assert status["pluginTypes"] == []
    assert status["plugins"] == ""
    assert "cniVersion" not in status


def test_status_follows_a_config_change(api_client: client.ApiClient, namespace: str) -> None:
    create_nad(api_client, namespace, "changing", '{"cniVersion": "0.3.1", "type": "macvlan"}')
    first = status_for_generation(api_client, namespace, "changing", 1)
    assert (first["pluginTypes"], first["cniVersion"]) == (["macvlan"], "0.3.1")

    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        *NAD_API, namespace, NAD_PLURAL, "changing", {"spec": {"config": BRIDGE_AND_TUNING}}
    )

    second = status_for_generation(api_client, namespace, "changing", 2)
    assert (second["pluginTypes"], second["cniVersion"]) == (["bridge", "tuning"], "1.0.0")
    valid = condition({"status": second}, "Valid")
    assert valid is not None
    assert valid["observedGeneration"] == 2


def test_printer_columns_show_types_validity_and_pods(
    apiserver: TestEnv, api_client: client.ApiClient, namespace: str
) -> None:
    create_nad(api_client, namespace, "shown", BRIDGE_AND_TUNING)
    status_for_generation(api_client, namespace, "shown", 1)

    table = apiserver.kubectl("get", "net-attach-def", "-n", namespace, "shown").splitlines()

    assert table[0].split() == ["NAME", "PLUGINS", "VALID", "PODS", "AGE"]
    assert table[1].split()[:4] == ["shown", "bridge,tuning", "True", "0"]
    assert table[1].split()[4][-1] in "smhd"  # AGE, as kubectl prints durations


def test_describe_shows_the_conditions_and_the_pods_using_the_nad(
    apiserver: TestEnv, api_client: client.ApiClient, namespace: str
) -> None:
    create_nad(api_client, namespace, "described", BRIDGE_AND_TUNING)
    create_attached_pod(api_client, namespace, "user", f"{namespace}/described")
    wait_for(
        lambda: ((read_nad(api_client, namespace, "described") or {}).get("status") or {}).get("podCount"),
        "the usage",
    )

    described = apiserver.kubectl("describe", "net-attach-def", "-n", namespace, "described")

    # kubectl aligns the values in columns; compare with single spaces.
    status = " ".join(described[described.index("\nStatus:") :].split())
    assert "Conditions:" in status
    assert "Message: the CNI config is valid" in status
    assert "Status: True Type: Valid" in status
    assert "Plugins: bridge,tuning" in status
    assert "Pod Count: 1" in status
    assert f"Pods: {namespace}/user" in status


def test_kopf_bookkeeping_stays_under_our_prefix(api_client: client.ApiClient, namespace: str) -> None:
    create_nad(api_client, namespace, "tidy", BRIDGE_AND_TUNING)
    status_for_generation(api_client, namespace, "tidy", 1)

    nad = read_nad(api_client, namespace, "tidy")
    assert nad is not None

    annotations = nad["metadata"].get("annotations") or {}
    assert [key for key in annotations if "kopf" in key.split("/")[0]] == []
    assert "controller.multus-py.io/last-handled-configuration" in annotations
    # No pod uses it, so it carries no finalizer (test_failure_modes.py shows one in use does).
    assert nad["metadata"].get("finalizers", []) == []
    assert set(nad["status"]) == {
        "observedGeneration",
        "conditions",
        "pluginTypes",
        "plugins",
        "cniVersion",
        "podCount",
        "pods",
    }
