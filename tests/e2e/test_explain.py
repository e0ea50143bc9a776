"""`multusctl explain NS/POD` against the real API server, with the cluster found through $KUBECONFIG."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kubernetes import client

from tests.testenv import TestEnv
from tests.unit.test_explain import EXAMPLES, explain, rows

pytestmark = pytest.mark.e2e


def test_kubeconfig_comes_from_the_environment(
    apiserver: TestEnv, api_client: client.ApiClient, namespace: str
) -> None:
    config = {"cniVersion": "1.0.0", "name": "storage", "type": "macvlan", "master": "eth9"}
    body = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "storage"},
        "spec": {"config": json.dumps(config)},
    }
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "k8s.cni.cncf.io", "v1", namespace, "network-attachment-definitions", body
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "db", "annotations": {"k8s.v1.cni.cncf.io/networks": "storage@stor0"}},
        "spec": {"containers": [{"name": "c", "image": "pause"}]},
    }
    client.CoreV1Api(api_client).create_namespaced_pod(namespace, pod)
    environ = {**os.environ, "KUBECONFIG": str(apiserver.kubeconfig)}

    shown = explain(
        f"{namespace}/db",
        "--config",
        str(EXAMPLES / "multus.conf"),
        "--conf-dir",
        str(EXAMPLES / "net.d"),
        env=environ,
    )

    assert shown.returncode == 0, shown.stderr
    assert rows(shown.stdout)[2][:3] == ["stor0", f"{namespace}/storage", "macvlan"]


def test_a_missing_pod_names_the_namespace_and_the_kubeconfig(
    apiserver: TestEnv, namespace: str, tmp_path: Path
) -> None:
    shown = explain(
        f"{namespace}/absent",
        "--config",
        str(EXAMPLES / "multus.conf"),
        "--kubeconfig",
        str(apiserver.kubeconfig),
    )

    assert shown.returncode == 1
    expected = (
        f"pod absent not found in namespace {namespace} (read from the API server of {apiserver.kubeconfig})"
    )
    assert expected in shown.stderr
