"""ApiView against the real API server: reads, the network-status write with its UID check, Events."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes import client

from multus.cni.errors import ClusterUnavailable, UnknownContainer
from multus.k8s.view import Pod
from multus.kube.apiview import ApiSettings, ApiView
from tests.testenv import TestEnv

pytestmark = pytest.mark.e2e


def make_pod(core: client.CoreV1Api, namespace: str, name: str) -> Pod:
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations={"k8s.v1.cni.cncf.io/networks": "a"}),
        spec=client.V1PodSpec(node_name="node-a", containers=[client.V1Container(name="c", image="pause")]),
    )
    created = core.create_namespaced_pod(namespace, body)
    assert created.metadata is not None
    return Pod(namespace, name, str(created.metadata.uid))


@pytest.fixture
def view(apiserver: TestEnv) -> ApiView:
    return ApiView(ApiSettings(kubeconfig=apiserver.kubeconfig, request_timeout=5, retries=1))


def test_reads_pod_and_network(view: ApiView, api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    made = make_pod(core, namespace, "reader")
    nad = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "a"},
        "spec": {"config": '{"type": "bridge"}'},
    }
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "k8s.cni.cncf.io", "v1", namespace, "network-attachment-definitions", nad
    )

    pod = asyncio.run(view.get_pod(namespace, "reader"))
    assert pod == Pod(namespace, "reader", made.uid, {"k8s.v1.cni.cncf.io/networks": "a"}, "node-a")
    network = asyncio.run(view.get_network(namespace, "a"))
    assert network is not None
    assert network["spec"]["config"] == '{"type": "bridge"}'
    assert asyncio.run(view.get_pod(namespace, "absent")) is None
    assert asyncio.run(view.get_network(namespace, "absent")) is None


def test_writes_network_status_and_events(
    view: ApiView, api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    pod = make_pod(core, namespace, "writer")
    status = json.dumps([{"name": "cluster", "interface": "eth0", "ips": ["10.1.0.5"], "default": True}])

    asyncio.run(view.write_network_status(pod, status))
    asyncio.run(view.record_event(pod, "Normal", "AddedInterface", "Add eth0 [10.1.0.5/24] from cluster"))

    stored = core.read_namespaced_pod("writer", namespace)
    assert stored.metadata is not None
    assert stored.metadata.annotations is not None
    assert stored.metadata.annotations["k8s.v1.cni.cncf.io/network-status"] == status
    events = core.list_namespaced_event(namespace).items
    assert [(e.reason, e.type, e.message) for e in events] == [
        ("AddedInterface", "Normal", "Add eth0 [10.1.0.5/24] from cluster")
    ]
    assert events[0].involved_object.uid == pod.uid


def test_network_status_not_written_to_a_recreated_pod(
    view: ApiView, api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    old = make_pod(core, namespace, "again")
    core.delete_namespaced_pod("again", namespace, grace_period_seconds=0)
    make_pod(core, namespace, "again")

    with pytest.raises(UnknownContainer, match="re-created"):
        asyncio.run(view.write_network_status(old, "[]"))
    stored = core.read_namespaced_pod("again", namespace)
    assert stored.metadata is not None
    assert "k8s.v1.cni.cncf.io/network-status" not in (stored.metadata.annotations or {})


def test_unreachable_api_server_is_a_clear_error(apiserver: TestEnv) -> None:
    kubeconfig = json.loads(apiserver.kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    path = apiserver.root / "unreachable.kubeconfig"
    path.write_text(json.dumps(kubeconfig))
    view = ApiView(ApiSettings(kubeconfig=path, request_timeout=1, retries=1, retry_backoff=0.01))
    with pytest.raises(ClusterUnavailable, match="cannot get pod ns/p"):
        asyncio.run(view.get_pod("ns", "p"))


def test_credentials_reload_when_the_kubeconfig_changes(apiserver: TestEnv, namespace: str) -> None:
    path = apiserver.root / f"rotating-{namespace}.kubeconfig"
    good = apiserver.kubeconfig.read_text()
    path.write_text(good)
    view = ApiView(ApiSettings(kubeconfig=path, request_timeout=1, retries=0))
    assert asyncio.run(view.get_pod(namespace, "absent")) is None
    assert not view.reload_if_changed()  # nothing changed on disk

    broken = json.loads(good)
    broken["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    path.write_text(json.dumps(broken, indent=4))
    assert view.reload_if_changed()
    with pytest.raises(ClusterUnavailable):
        asyncio.run(view.get_pod(namespace, "absent"))

    path.write_text(good + "\n")
    assert view.reload_if_changed()
    assert asyncio.run(view.get_pod(namespace, "absent")) is None
