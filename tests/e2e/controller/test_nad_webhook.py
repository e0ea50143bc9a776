"""The NAD admission webhook, called by the real API server over TLS: refusals name the field and rule."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.e2e.controller.support import (
    NAD_API,
    NAD_PLURAL,
    ControllerProcess,
    create_nad,
    nad_body,
    read_nad,
    wait_for,
)
from tests.testenv import KUBE_BIN, TestEnv

# Every test here needs the controller running, not the process handle.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("controller")]

RESOURCE = "k8s.v1.cni.cncf.io/resourceName"


def refusal(
    api: client.ApiClient, namespace: str, name: str, config: str, annotations: dict[str, str] | None = None
) -> str:
    """The API server's message refusing the NAD; it must come from our webhook."""
    with pytest.raises(ApiException) as caught:
        create_nad(api, namespace, name, config, annotations)
    assert caught.value.status == 422, caught.value.body
    message = str(json.loads(caught.value.body or "{}")["message"])
    assert 'admission webhook "network-attachment-definitions.validation.multus-py.io" denied' in message
    return message


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("not-json", "{bad", "spec.config is not valid JSON"),
        ("not-object", "[1, 2]", "spec.config must be a JSON object"),
        ("no-type", '{"cniVersion": "1.0.0"}', "has neither 'type'"),
        ("both", '{"type": "bridge", "plugins": [{"type": "bridge"}]}', "has both 'type' and 'plugins'"),
        ("empty-list", '{"cniVersion": "1.0.0", "plugins": []}', "'plugins' must be a non-empty list"),
        ("untyped-plugin", '{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}, {}]}', "plugins[1].type"),
        (
            "old-version",
            '{"cniVersion": "9.9.9", "type": "bridge"}',
            "cniVersion: none of the configured versions 9.9.9 is supported",
        ),
        ("odd-version", '{"cniVersion": "v1", "type": "bridge"}', "cniVersion 'v1' is not a version"),
        (
            "path-type",
            '{"cniVersion": "1.0.0", "type": "../bin/sh"}',
            "type: '../bin/sh' must be a plain file",
        ),
        (
            "bad-name",
            '{"cniVersion": "1.0.0", "type": "bridge", "name": "my net"}',
            "name: 'my net' must start",
        ),
        (
            "dotted.name",
            '{"cniVersion": "1.0.0", "type": "bridge"}',
            "metadata.name 'dotted.name' is not a DNS",
        ),
    ],
)
def test_invalid_config_is_refused_naming_the_problem(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    config: str,
    expected: str,
) -> None:
    message = refusal(api_client, namespace, name, config)
    assert expected in message
    assert f"NetworkAttachmentDefinition {namespace}/{name}" in message
    assert read_nad(api_client, namespace, name) is None


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("sriov_netdevice", "lacks a domain prefix"),
        ("Intel.com/sriov", "prefix 'Intel.com' is not a DNS-1123 subdomain"),
        ("intel.com/-sriov", "name '-sriov' must be 1 to 63"),
    ],
)
def test_malformed_resource_name_is_refused(
    api_client: client.ApiClient, namespace: str, resource: str, expected: str
) -> None:
    message = refusal(
        api_client, namespace, "sriov", '{"cniVersion": "1.0.0", "type": "sriov"}', {RESOURCE: resource}
    )
    assert f"metadata.annotations[{RESOURCE}]" in message
    assert expected in message


@pytest.mark.parametrize(
    ("name", "config", "annotations"),
    [
        ("on-disk", None, {}),
        ("blank", "  \n", {}),
        ("nameless-list", '{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}, {"type": "tuning"}]}', {}),
        ("no-version", '{"type": "macvlan"}', {}),
        ("sriov", '{"cniVersion": "1.1.0", "type": "sriov"}', {RESOURCE: "intel.com/sriov_netdevice"}),
    ],
)
def test_valid_config_is_admitted(
    api_client: client.ApiClient,
    namespace: str,
    name: str,
    config: str | None,
    annotations: dict[str, str],
) -> None:
    created = create_nad(api_client, namespace, name, config, annotations)
    assert created["metadata"]["name"] == name


def test_kubectl_apply_of_a_bad_nad_is_refused(apiserver: TestEnv, namespace: str) -> None:
    manifest = nad_body("via-kubectl", '{"cniVersion": "0.9.0", "type": "bridge"}')
    done = subprocess.run(
        [
            str(KUBE_BIN / "kubectl"),
            f"--kubeconfig={apiserver.kubeconfig}",
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
        ],
        input=json.dumps(manifest),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert 'admission webhook "network-attachment-definitions.validation.multus-py.io" denied' in done.stderr
    assert "spec.config cniVersion: none of the configured versions 0.9.0" in done.stderr


def test_update_to_an_invalid_config_is_refused_and_metadata_updates_pass(
    api_client: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(api_client)
    create_nad(api_client, namespace, "edited", '{"cniVersion": "1.0.0", "type": "bridge"}')

    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            *NAD_API, namespace, NAD_PLURAL, "edited", {"spec": {"config": '{"cniVersion": "1.0.0"}'}}
        )
    assert "has neither 'type'" in json.loads(caught.value.body or "{}")["message"]

    patched: Any = custom.patch_namespaced_custom_object(
        *NAD_API, namespace, NAD_PLURAL, "edited", {"metadata": {"labels": {"team": "storage"}}}
    )
    assert patched["metadata"]["labels"] == {"team": "storage"}
    assert patched["spec"]["config"] == '{"cniVersion": "1.0.0", "type": "bridge"}'


def test_a_refusal_is_logged_as_a_warning_naming_the_nad_and_the_field(
    api_client: client.ApiClient, namespace: str, controller: ControllerProcess
) -> None:
    refusal(api_client, namespace, "typo", '{"cniVersion": "1.0.0", "type": "../bin/sh"}')

    lines = wait_for(
        lambda: [line for line in controller.log_tail(100_000).splitlines() if f"{namespace}/typo" in line],
        "the refusal in the controller's log",
    )
    assert len(lines) == 1, lines
    assert "[WARNING" in lines[0]
    assert f"refused NAD {namespace}/typo: " in lines[0]
    assert "type: '../bin/sh' must be a plain file" in lines[0]
    # kopf's own "[ERROR] Webhook 'validate-nad' failed permanently" line is gone.
    assert "failed permanently" not in controller.log_tail(100_000)
