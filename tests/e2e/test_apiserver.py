"""The ground the node and the controller stand on: a real API server that serves the NAD CRD."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.testenv import KUBE_BIN, TestEnv, shell_exports

pytestmark = pytest.mark.e2e

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"


def test_crd_is_established(api_client: client.ApiClient) -> None:
    crd = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert set(crd.spec.names.short_names) == {"net-attach-def", "nad"}
    assert crd.spec.scope == "Namespaced"


def test_nad_create_read_list_update_delete(api_client: client.ApiClient, namespace: str) -> None:
    api = client.CustomObjectsApi(api_client)
    config = {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth0", "ipam": {"type": "static"}}
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "macvlan-a"},
        "spec": {"config": json.dumps(config)},
    }
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    got = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "macvlan-a")
    assert json.loads(got["spec"]["config"]) == config

    listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["macvlan-a"]

    got["spec"]["config"] = json.dumps({**config, "mtu": 1400})
    api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "macvlan-a", got)
    updated = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "macvlan-a")
    assert json.loads(updated["spec"]["config"])["mtu"] == 1400
    assert updated["metadata"]["generation"] == 2

    api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "macvlan-a")
    with pytest.raises(ApiException) as missing:
        api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "macvlan-a")
    assert missing.value.status == 404


def test_nad_with_config_list_and_empty_config_are_accepted(
    api_client: client.ApiClient, namespace: str
) -> None:
    api = client.CustomObjectsApi(api_client)
    chain = {"cniVersion": "1.0.0", "name": "chain", "plugins": [{"type": "bridge"}, {"type": "tuning"}]}
    for name, spec in (("chain", {"config": json.dumps(chain)}), ("on-disk", {})):
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name},
            "spec": spec,
        }
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    names = {
        i["metadata"]["name"]
        for i in api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    }
    assert names == {"chain", "on-disk"}


def test_pod_annotation_through_status_subresource(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="p", annotations={"k8s.v1.cni.cncf.io/networks": "macvlan-a"}),
        spec=client.V1PodSpec(node_name="node-a", containers=[client.V1Container(name="c", image="pause")]),
    )
    created = core.create_namespaced_pod(namespace, pod)
    status = [{"name": f"{namespace}/macvlan-a", "interface": "net1", "ips": ["10.1.1.5"]}]
    patch = {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(status)}}}
    core.patch_namespaced_pod_status("p", namespace, patch)

    got = core.read_namespaced_pod("p", namespace)
    assert json.loads(got.metadata.annotations["k8s.v1.cni.cncf.io/network-status"]) == status
    assert got.metadata.annotations["k8s.v1.cni.cncf.io/networks"] == "macvlan-a"
    assert got.metadata.uid == created.metadata.uid


def test_the_lines_make_testenv_prints_give_a_bare_kubectl_this_server(
    apiserver: TestEnv, tmp_path: Path
) -> None:
    """`make testenv` prints them for people: run in a shell whose PATH has no kubectl, `kubectl` is the
    built one and reaches this API server."""
    script = shell_exports(apiserver) + (
        "command -v kubectl\nkubectl get crd network-attachment-definitions.k8s.cni.cncf.io -o name\n"
    )
    done = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},  # kubectl keeps its cache under HOME
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        str(KUBE_BIN / "kubectl"),
        "customresourcedefinition.apiextensions.k8s.io/network-attachment-definitions.k8s.cni.cncf.io",
    ]
