"""What the daemon's pod cache keeps of a pod: what the node side reads, and nothing else."""

from __future__ import annotations

from multus.k8s.view import Pod
from multus.kube.cacheview import keep_pod

POD = {
    "metadata": {
        "namespace": "shop",
        "name": "web",
        "uid": "u-1",
        "annotations": {
            "k8s.v1.cni.cncf.io/network-status": "[]",
            "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        },
        "labels": {"app": "web"},
    },
    "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "pause"}]},
    "status": {"phase": "Running"},
}


def test_a_cached_pod_reads_as_the_pod_minus_what_the_node_side_never_reads() -> None:
    cached = Pod.from_object(keep_pod(POD))

    assert cached == Pod(
        namespace="shop",
        name="web",
        uid="u-1",
        annotations={"k8s.v1.cni.cncf.io/network-status": "[]"},
        node_name="node-a",
        terminating=False,
    )


def test_a_cached_pod_keeps_that_it_is_being_deleted() -> None:
    """A DEL leaves a terminating pod's network-status alone, deciding on the cached copy."""
    deleted = {**POD, "metadata": {**POD["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}

    assert Pod.from_object(keep_pod(deleted)).terminating
