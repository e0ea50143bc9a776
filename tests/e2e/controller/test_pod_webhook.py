"""The pod webhook: on in namespaces labelled for it, off elsewhere; refusals name the annotation element.

The module's controller runs with namespace isolation, as a node with `namespaceIsolation: true` would.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.settings import POD_VALIDATION_LABEL
from tests.conftest import unique_name
from tests.e2e.controller.support import NAD_API, NAD_PLURAL, NETWORKS, create_nad
from tests.testenv import KUBE_BIN, TestEnv

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("controller")]

BRIDGE = '{"cniVersion": "1.0.0", "type": "bridge"}'
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"


@pytest.fixture(scope="module")
def controller_args() -> tuple[str, ...]:
    return ("--namespace-isolation",)


@pytest.fixture
def checked_namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A namespace whose pods the pod webhook checks (label value `enabled`)."""
    name = unique_name("pw-")
    core = client.CoreV1Api(api_client)
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={POD_VALIDATION_LABEL: "enabled"}))
    )
    yield name
    core.delete_namespace(name)


def pod(name: str, annotations: dict[str, str]) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations=annotations),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="pause")]),
    )


def refusal(api: client.ApiClient, namespace: str, annotations: dict[str, str]) -> str:
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).create_namespaced_pod(namespace, pod("refused", annotations))
    assert caught.value.status == 422, caught.value.body
    message = str(json.loads(caught.value.body or "{}")["message"])
    assert 'admission webhook "pods.validation.multus-py.io" denied' in message
    return message


def test_pod_naming_a_missing_nad_is_refused_where_the_webhook_is_on(
    api_client: client.ApiClient, checked_namespace: str
) -> None:
    message = refusal(api_client, checked_namespace, {NETWORKS: "absent"})
    assert (
        f"{NETWORKS}: element 0 ({checked_namespace}/absent): no such NetworkAttachmentDefinition" in message
    )


def test_same_pod_is_admitted_where_the_webhook_is_off(api_client: client.ApiClient, namespace: str) -> None:
    created = client.CoreV1Api(api_client).create_namespaced_pod(
        namespace, pod("unchecked", {NETWORKS: "absent"})
    )
    assert created.metadata is not None
    assert created.metadata.name == "unchecked"


def test_pod_with_existing_valid_networks_is_admitted(
    api_client: client.ApiClient, checked_namespace: str
) -> None:
    create_nad(api_client, checked_namespace, "storage", BRIDGE)
    create_nad(api_client, checked_namespace, "backup", None)

    created = client.CoreV1Api(api_client).create_namespaced_pod(
        checked_namespace, pod("good", {NETWORKS: "storage@stor0, backup"})
    )

    assert created.metadata is not None
    assert created.metadata.name == "good"


def test_namespace_isolation_refuses_other_namespaces_but_not_default(
    api_client: client.ApiClient, checked_namespace: str, namespace: str
) -> None:
    create_nad(api_client, namespace, "elsewhere", BRIDGE)
    global_name = unique_name("global-")
    create_nad(api_client, "default", global_name, BRIDGE)

    try:
        message = refusal(api_client, checked_namespace, {NETWORKS: f"{namespace}/elsewhere"})
        assert "namespace isolation" in message
        assert f"may not use network {namespace}/elsewhere" in message

        created = client.CoreV1Api(api_client).create_namespaced_pod(
            checked_namespace, pod("global-user", {NETWORKS: f"default/{global_name}"})
        )
        assert created.metadata is not None
    finally:
        # `default` outlives the test; the controller is still running and lets the unused NAD go.
        client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
            *NAD_API, "default", NAD_PLURAL, global_name
        )


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({NETWORKS: "storage@net1,storage@net1"}, "interface name 'net1' is given to both attachment 1"),
        ({NETWORKS: "storage@eth0"}, "interface name 'eth0' is given to both attachment 0 (cluster network)"),
        ({NETWORKS: "storage,,storage"}, f"{NETWORKS}: element 1 is empty"),
        ({NETWORKS: '[{"name": "storage", "ips": ["nope"]}]'}, "'nope' is not an IP address"),
        ({NETWORKS: "a/b/c"}, "more than one '/'"),
        (
            {NETWORKS: '[{"name": "storage", "portMappings": [{"hostPort": 8080, "containerPort": 80}]}]'},
            'requests "portMappings" (capability portMappings), but no',
        ),
        ({DEFAULT_NETWORK: "absent-default"}, f"{DEFAULT_NETWORK} (kube-system/absent-default): no such"),
    ],
)
def test_bad_requests_are_refused_naming_the_problem(
    api_client: client.ApiClient, checked_namespace: str, annotations: dict[str, str], expected: str
) -> None:
    create_nad(api_client, checked_namespace, "storage", BRIDGE)

    assert expected in refusal(api_client, checked_namespace, annotations)


def test_unknown_selection_keys_come_back_as_warnings(apiserver: TestEnv, checked_namespace: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "typo",
            "namespace": checked_namespace,
            "annotations": {
                NETWORKS: f'[{{"name": "typo-net", "namespace": "{checked_namespace}", "interfce": "x"}}]'
            },
        },
        "spec": {"containers": [{"name": "c", "image": "pause"}]},
    }
    nad = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "typo-net", "namespace": checked_namespace},
        "spec": {"config": BRIDGE},
    }
    kubectl = [str(KUBE_BIN / "kubectl"), f"--kubeconfig={apiserver.kubeconfig}", "create", "-f", "-"]
    subprocess.run(kubectl, input=json.dumps(nad), text=True, capture_output=True, check=True)

    done = subprocess.run(kubectl, input=json.dumps(manifest), text=True, capture_output=True, check=True)

    assert "pod/typo created" in done.stdout
    assert (
        f"Warning: {NETWORKS}: element 0 ({checked_namespace}/typo-net): unknown keys 'interfce'"
        in done.stderr
    )


def test_an_annotation_update_is_judged_as_a_creation_and_other_updates_are_not(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    # Made before the namespace asks for validation: the pod names a NAD that does not exist.
    core.create_namespaced_pod(namespace, pod("running", {NETWORKS: "absent"}))
    core.patch_namespace(namespace, {"metadata": {"labels": {POD_VALIDATION_LABEL: "enabled"}}})
    create_nad(api_client, namespace, "storage", BRIDGE)

    def annotate(networks: str) -> None:
        core.patch_namespaced_pod("running", namespace, {"metadata": {"annotations": {NETWORKS: networks}}})

    # An update that leaves the networks alone is not judged again.
    core.patch_namespaced_pod("running", namespace, {"metadata": {"labels": {"tier": "web"}}})
    with pytest.raises(ApiException) as caught:
        annotate("storage,missing")
    assert caught.value.status == 422, caught.value.body
    message = str(json.loads(caught.value.body or "{}")["message"])
    assert f"element 1 ({namespace}/missing): no such NetworkAttachmentDefinition" in message
    annotate("storage")
    read = core.read_namespaced_pod("running", namespace)
    assert read.metadata is not None
    assert (read.metadata.annotations or {})[NETWORKS] == "storage"
