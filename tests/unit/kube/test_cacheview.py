"""What the daemon's pod cache keeps of a pod: what the node side reads, and nothing else."""

from __future__ import annotations

from multus.k8s.view import Pod
from multus.kube.cacheview import keep_network, keep_pod, show_network, show_pod

POD = {
    "metadata": {
        "namespace": "shop",
        "name": "web",
        "uid": "u-1",
        "annotations": {
            "k8s.v1.cni.cncf.io/network-status": '[{"name": "cluster", "ips": ["10.1.0.5"]}]',
            "k8s.v1.cni.cncf.io/networks": "storage",
            "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        },
        "labels": {"app": "web"},
    },
    "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "pause"}]},
    "status": {"phase": "Running"},
}


def test_a_cached_pod_reads_as_the_pod_minus_what_the_node_side_never_reads() -> None:
    """Of the network-status, the node side reads only that the pod has one."""
    cached = Pod.from_object(show_pod(keep_pod(POD)))

    assert cached == Pod(
        namespace="shop",
        name="web",
        uid="u-1",
        annotations={"k8s.v1.cni.cncf.io/network-status": "", "k8s.v1.cni.cncf.io/networks": "storage"},
        node_name="node-a",
        terminating=False,
    )


def test_a_cached_pod_keeps_that_it_is_being_deleted() -> None:
    """A DEL leaves a terminating pod's network-status alone, deciding on the cached copy."""
    deleted = {**POD, "metadata": {**POD["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}

    assert Pod.from_object(show_pod(keep_pod(deleted))).terminating


def test_a_cached_nad_reads_as_the_nad_minus_what_the_node_side_never_reads() -> None:
    nad = {
        "metadata": {
            "namespace": "shop",
            "name": "storage",
            "uid": "u-2",
            "annotations": {
                "k8s.v1.cni.cncf.io/resourceName": "example.com/sriov",
                "kubectl.kubernetes.io/last-applied-configuration": "{...}",
            },
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"config": '{"cniVersion": "1.0.0", "type": "bridge"}'},
    }

    assert show_network(keep_network(nad)) == {
        "metadata": {
            "namespace": "shop",
            "name": "storage",
            "annotations": {"k8s.v1.cni.cncf.io/resourceName": "example.com/sriov"},
        },
        "spec": {"config": '{"cniVersion": "1.0.0", "type": "bridge"}'},
    }
