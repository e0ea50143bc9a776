"""The pod webhook's decision: annotations parsed by the node's parser, NADs present and valid, isolation,
distinct interface names; and the failure policy when the NADs cannot be read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from controller.pod_admission import (
    PodNetworks,
    PodPolicy,
    PodVerdict,
    judge_pod_networks,
    read_pod_networks,
    review_pod_under_failure_policy,
)
from multus.cni.errors import InvalidAnnotation
from multus.k8s.namespaces import NamespacePolicy
from multus.kube.apiview import ApiSettings, ApiView
from tests.testenv import free_port

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
ISOLATED = PodPolicy(namespaces=NamespacePolicy(isolation=True))


def nad(
    namespace: str, name: str, config: str = '{"cniVersion": "1.0.0", "type": "bridge"}'
) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"config": config}}


def judge(
    annotations: dict[str, str], networks: dict[tuple[str, str], Any], policy: PodPolicy | None = None
) -> PodVerdict:
    """The verdict on a pod in namespace `app` whose NADs are `networks`."""
    policy = policy or PodPolicy()
    request = read_pod_networks(annotations, "app", policy)
    return judge_pod_networks("app", request, networks, policy)


def test_references_list_each_nad_once_with_the_default_network() -> None:
    request = read_pod_networks({NETWORKS: "a, other/b, a@x", DEFAULT_NETWORK: "cluster"}, "app", PodPolicy())
    assert request.references == [("app", "a"), ("other", "b"), ("kube-system", "cluster")]


def test_existing_valid_networks_pass() -> None:
    verdict = judge({NETWORKS: "a@stor0, b"}, {("app", "a"): nad("app", "a"), ("app", "b"): nad("app", "b")})
    assert verdict.allowed
    assert verdict.warnings == ()


def test_missing_and_invalid_nads_are_named_by_element() -> None:
    networks = {("app", "a"): None, ("app", "b"): nad("app", "b", '{"cniVersion": "1.0.0"}')}
    verdict = judge({NETWORKS: "a,b"}, networks)
    assert verdict.problems == (
        f"{NETWORKS}: element 0 (app/a): no such NetworkAttachmentDefinition",
        f"{NETWORKS}: element 1 (app/b): the NetworkAttachmentDefinition is invalid: "
        "NetworkAttachmentDefinition app/b: spec.config has neither 'type' (a single plugin) "
        "nor 'plugins' (a list)",
    )


def test_missing_default_network_is_named() -> None:
    verdict = judge({DEFAULT_NETWORK: "cluster"}, {("kube-system", "cluster"): None})
    assert verdict.problems == (
        f"{DEFAULT_NETWORK} (kube-system/cluster): no such NetworkAttachmentDefinition",
    )


def test_isolation_allows_own_and_global_namespaces_only() -> None:
    networks = {
        ("app", "a"): nad("app", "a"),
        ("default", "g"): nad("default", "g"),
        ("x", "c"): nad("x", "c"),
    }
    verdict = judge({NETWORKS: "a, default/g, x/c"}, networks, ISOLATED)
    (problem,) = verdict.problems
    assert problem.startswith(f"{NETWORKS}: element 2 (x/c): namespace isolation")
    assert judge({NETWORKS: "x/c"}, networks).allowed


def test_isolation_holds_for_the_default_network_override() -> None:
    networks = {("x", "c"): nad("x", "c"), ("kube-system", "alt"): nad("kube-system", "alt")}
    (problem,) = judge({DEFAULT_NETWORK: "x/c"}, networks, ISOLATED).problems
    assert problem.startswith(f"{DEFAULT_NETWORK} (x/c): namespace isolation")
    assert judge({DEFAULT_NETWORK: "alt"}, networks, ISOLATED).allowed
    assert judge({DEFAULT_NETWORK: "x/c"}, networks).allowed


def test_interface_names_must_come_out_distinct() -> None:
    networks = {("app", "a"): nad("app", "a"), ("app", "b"): nad("app", "b")}
    (clash,) = judge({NETWORKS: "a@net2, b"}, networks).problems
    assert "interface name 'net2' is given to both attachment 1 (app/a) and attachment 2 (app/b)" in clash
    (eth0,) = judge({NETWORKS: "a@eth0"}, networks).problems
    assert "'eth0' is given to both attachment 0 (cluster network)" in eth0


def test_requests_must_fit_the_nads_config() -> None:
    plain = json.dumps({"cniVersion": "1.0.0", "type": "macvlan", "ipam": {"type": "static"}})
    declared = json.dumps({"cniVersion": "1.0.0", "type": "portmap", "capabilities": {"portMappings": True}})
    networks = {("app", "a"): nad("app", "a", plain), ("app", "b"): nad("app", "b", declared)}
    mapping = {"hostPort": 8080, "containerPort": 80}
    asks = [{"name": "a", "portMappings": [mapping]}, {"name": "b", "portMappings": [mapping]}]

    (problem,) = judge({NETWORKS: json.dumps(asks)}, networks).problems
    assert problem.startswith(
        f'{NETWORKS}: element 0 (app/a): network app/a: the pod requests "portMappings"'
    )
    # `ips` and `mac` reach the plugins through CNI_ARGS too, as upstream: no capability needed.
    assert judge({NETWORKS: json.dumps([{"name": "a", "ips": ["10.1.1.5/24"]}])}, networks).allowed


def test_requests_on_a_config_kept_on_the_nodes_are_left_to_the_node() -> None:
    on_node = {"metadata": {"namespace": "app", "name": "a"}, "spec": {}}
    verdict = judge({NETWORKS: json.dumps([{"name": "a", "ips": ["10.1.1.5/24"]}])}, {("app", "a"): on_node})
    assert verdict.allowed


def test_unknown_selection_keys_are_warnings() -> None:
    annotation = json.dumps([{"name": "a", "interfce": "x", "vendor.example/key": 1}])
    verdict = judge({NETWORKS: annotation}, {("app", "a"): nad("app", "a")})
    assert verdict.allowed
    assert verdict.warnings == (f"{NETWORKS}: element 0 (app/a): unknown keys 'interfce' are ignored",)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({NETWORKS: "a,,b"}, "element 1 is empty"),
        ({NETWORKS: "a@"}, "interface name must not be empty"),
        ({NETWORKS: "[{"}, "not valid JSON"),
        ({NETWORKS: json.dumps([{"name": n, "default-route": ["10.0.0.1"]} for n in "ab"])}, "at most one"),
        ({DEFAULT_NETWORK: "a,b"}, "exactly one is allowed"),
    ],
)
def test_malformed_annotations_raise_the_nodes_error(annotations: dict[str, str], expected: str) -> None:
    with pytest.raises(InvalidAnnotation, match=expected):
        read_pod_networks(annotations, "app", PodPolicy())


def test_empty_request_passes() -> None:
    assert judge_pod_networks("app", PodNetworks(), {}, PodPolicy()).allowed


def unreachable_view(tmp_path: Path) -> ApiView:
    """A real API client aimed at a loopback port where nothing listens: every read fails."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "gone",
                "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
                "users": [{"name": "nobody", "user": {}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
            }
        )
    )
    return ApiView(ApiSettings(kubeconfig=kubeconfig, request_timeout=2, retries=0))


POD = {"metadata": {"namespace": "app", "name": "web", "annotations": {NETWORKS: "a"}}}


def test_unreadable_nads_admit_the_pod_with_a_warning_when_failing_open(tmp_path: Path) -> None:
    fetch = unreachable_view(tmp_path).get_network
    verdict = asyncio.run(review_pod_under_failure_policy(POD, fetch, PodPolicy(), fail_open=True))
    assert verdict.allowed
    (warning,) = verdict.warnings
    assert warning.startswith("admitted unchecked: the pod's networks could not be checked: cannot get")


def test_unreadable_nads_refuse_the_pod_when_failing_closed(tmp_path: Path) -> None:
    fetch = unreachable_view(tmp_path).get_network
    verdict = asyncio.run(review_pod_under_failure_policy(POD, fetch, PodPolicy(), fail_open=False))
    (problem,) = verdict.problems
    assert problem.startswith(
        "the pod's networks could not be checked: cannot get NetworkAttachmentDefinition app/a"
    )


@pytest.mark.parametrize(
    ("pod", "warned"),
    [
        ({"metadata": {"namespace": "app", "name": "plain"}}, False),
        ({"metadata": {"namespace": "kube-system", "name": "sys", "annotations": {NETWORKS: "a"}}}, True),
    ],
)
def test_pods_that_ask_nothing_of_the_node_need_no_read(
    tmp_path: Path, pod: dict[str, Any], warned: bool
) -> None:
    # Closed failure policy and an unreachable cluster: passing proves no read was attempted.
    fetch = unreachable_view(tmp_path).get_network
    verdict = asyncio.run(review_pod_under_failure_policy(pod, fetch, PodPolicy(), fail_open=False))
    assert verdict.allowed
    assert bool(verdict.warnings) is warned
