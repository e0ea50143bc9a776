"""FileView: a cluster from YAML files, with writes kept in a state folder across instances."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from multus.cni.errors import InvalidConfig, UnknownContainer
from multus.kube.fileview import FileView

CLUSTER = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  annotations:
    k8s.v1.cni.cncf.io/networks: storage
spec:
  nodeName: node-a
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: storage
  namespace: shop
spec:
  config: '{"cniVersion": "1.0.0", "type": "bridge"}'
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ignored
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "all.yaml").write_text(CLUSTER)
    (tmp_path / "cluster" / "notes.txt").write_text("not yaml: {")
    return tmp_path / "cluster"


def test_reads_pods_and_networks(folder: Path) -> None:
    view = FileView(folder)
    pod = asyncio.run(view.get_pod("shop", "web"))
    assert pod is not None
    assert pod.annotations == {"k8s.v1.cni.cncf.io/networks": "storage"}
    assert pod.node_name == "node-a"
    assert pod.uid == "file-shop-web"
    network = asyncio.run(view.get_network("shop", "storage"))
    assert network is not None
    assert json.loads(network["spec"]["config"])["type"] == "bridge"
    assert asyncio.run(view.get_network("shop", "ignored")) is None
    assert asyncio.run(view.get_pod("default", "web")) is None


def test_writes_survive_into_a_new_view_through_the_state_folder(folder: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = FileView(folder, state)
    pod = asyncio.run(first.get_pod("shop", "web"))
    assert pod is not None
    asyncio.run(first.write_network_status(pod, '[{"name": "storage"}]'))
    asyncio.run(first.record_event(pod, "Normal", "AddedInterface", "Add net1 [] from shop/storage"))

    second = FileView(folder, state)
    assert second.network_status("shop", "web") == '[{"name": "storage"}]'
    again = asyncio.run(second.get_pod("shop", "web"))
    assert again is not None
    assert again.annotations["k8s.v1.cni.cncf.io/network-status"] == '[{"name": "storage"}]'
    events = [json.loads(line) for line in (state / "events.jsonl").read_text().splitlines()]
    assert events == [
        {
            "namespace": "shop",
            "pod": "web",
            "type": "Normal",
            "reason": "AddedInterface",
            "message": "Add net1 [] from shop/storage",
        }
    ]


@pytest.mark.parametrize("with_state", [True, False], ids=["state-folder", "in-memory"])
def test_a_status_of_none_removes_the_annotation(folder: Path, tmp_path: Path, with_state: bool) -> None:
    state = tmp_path / "state" if with_state else None
    view = FileView(folder, state)
    pod = asyncio.run(view.get_pod("shop", "web"))
    assert pod is not None
    asyncio.run(view.write_network_status(pod, "[1]"))

    asyncio.run(view.write_network_status(pod, None))
    asyncio.run(view.write_network_status(pod, None))  # nothing left to remove: no error either

    assert view.network_status("shop", "web") is None
    assert FileView(folder, state).network_status("shop", "web") is None
    after = asyncio.run(view.get_pod("shop", "web"))
    assert after is not None
    assert after.annotations == {"k8s.v1.cni.cncf.io/networks": "storage"}


def test_a_pod_with_a_deletion_timestamp_is_terminating(folder: Path) -> None:
    (folder / "leaving.yaml").write_text(
        "kind: Pod\nmetadata: {name: leaving, namespace: shop, deletionTimestamp: '2026-01-01T00:00:00Z'}\n"
    )
    view = FileView(folder)
    leaving, web = (asyncio.run(view.get_pod("shop", name)) for name in ("leaving", "web"))
    assert leaving is not None
    assert web is not None
    assert (leaving.terminating, web.terminating) == (True, False)


def test_in_memory_writes_and_uid_check(folder: Path) -> None:
    view = FileView(folder)
    pod = asyncio.run(view.get_pod("shop", "web"))
    assert pod is not None
    stale = type(pod)(pod.namespace, pod.name, "another-uid")
    with pytest.raises(UnknownContainer, match="another-uid"):
        asyncio.run(view.write_network_status(stale, "[1]"))
    assert view.network_status("shop", "web") is None
    asyncio.run(view.write_network_status(pod, "[2]"))
    assert view.network_status("shop", "web") == "[2]"


def test_bad_folder_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="does not exist"):
        FileView(tmp_path / "nope")
    (tmp_path / "broken.yaml").write_text("kind: Pod\n  bad: [indent\n")
    with pytest.raises(InvalidConfig, match=r"cannot read .*broken\.yaml"):
        FileView(tmp_path)
