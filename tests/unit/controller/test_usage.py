"""Which NADs a pod uses, read from its network-status, and how many pods use a NAD."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.usage import Usage, attached_networks, networks_in_use, summarise

STATUS = "k8s.v1.cni.cncf.io/network-status"


def pod(status: object, *, phase: str = "Running") -> dict[str, Any]:
    annotations = {STATUS: status if isinstance(status, str) else json.dumps(status)}
    return {
        "metadata": {"namespace": "app", "name": "web", "annotations": annotations},
        "status": {"phase": phase},
    }


def test_nad_networks_map_to_the_pod_and_the_plain_cluster_network_does_not() -> None:
    entries = [
        {"name": "cbr0", "interface": "eth0", "default": True},
        {"name": "app/storage", "interface": "net1"},
        {"name": "shared/backup", "interface": "net2"},
    ]
    assert networks_in_use(pod(entries)) == {("app", "storage"): "app/web", ("shared", "backup"): "app/web"}


def test_a_nad_cluster_network_counts_too() -> None:
    assert networks_in_use(pod([{"name": "kube-system/default-net", "default": True}])) == {
        ("kube-system", "default-net"): "app/web"
    }


def test_a_nad_attached_twice_is_one_use() -> None:
    assert attached_networks(json.dumps([{"name": "a/b"}, {"name": "a/b"}, {"name": "a/c"}])) == [
        ("a", "b"),
        ("a", "c"),
    ]


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_finished_pod_uses_nothing(phase: str) -> None:
    assert networks_in_use(pod([{"name": "app/storage"}], phase=phase)) == {}


@pytest.mark.parametrize(
    "status",
    [
        None,
        "",
        "not json",
        "{}",
        '"app/x"',
        "[1, null]",
        '[{"name": 3}]',
        '[{"name": "a/b/c"}]',
        '[{"name": "A/b"}]',
    ],
)
def test_malformed_network_status_is_no_use(status: str | None) -> None:
    assert attached_networks(status) == []


def test_pod_without_annotations_or_metadata_uses_nothing() -> None:
    assert networks_in_use({"metadata": {"namespace": "a", "name": "b"}}) == {}
    assert networks_in_use({}) == {}


def test_summary_counts_distinct_pods_and_lists_the_first_by_name() -> None:
    assert summarise(["b/2", "a/1", "c/3", "a/1"], listed=2) == Usage(count=3, pods=("a/1", "b/2"))
    assert summarise([], listed=10) == Usage()
