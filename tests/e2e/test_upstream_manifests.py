"""deploy/node/ over upstream Multus v4.3's thick install, in the real API server.

Upstream's ServiceAccount, ClusterRole, binding, ConfigMap and DaemonSet (tests/e2e/node_manifests.py)
are written to kube-system as an upstream install leaves them, then ours go over them with kubectl as
deploy/README.md says: each object is updated in place (same UID), the DaemonSet update is accepted
(selector equal: it is immutable) and ends exactly as ours, with nothing of upstream's left to compete
(one DaemonSet, one ConfigMap, no container, mount or volume of upstream's), and the ServiceAccount may
still do everything upstream's role granted. The layout test checks, without the API server, that our
DaemonSet puts what both configs name where upstream's DaemonSet puts it.

There is no kube-controller-manager here, so no DaemonSet pod runs: what a rolling update does on a node
is the daemon's behaviour, tested with real daemons elsewhere (tests/e2e/daemon/).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from multus.daemon.settings import ConfigRefused, load_config
from tests import testenv
from tests.e2e.daemon.support import wait_for
from tests.e2e.node_manifests import (
    NODE,
    UPSTREAM_DAEMON_CONFIG,
    UPSTREAM_SELECTOR,
    allowed,
    config_file,
    documents,
    granted,
    host_path,
    one,
    upstream_daemonset,
    upstream_objects,
)
from tests.testenv import TestEnv

pytestmark = pytest.mark.e2e

NAMESPACE = "kube-system"
# Upstream's daemon reads this file when started without --config.
UPSTREAM_CONFIG_FILE = "/etc/cni/net.d/multus.d/daemon-config.json"
# deploy/README.md's order: the role first, so our first pods start with it; the DaemonSet last.
README_ORDER = [f"--filename={NODE / name}" for name in ("rbac.yaml", "daemon-config.yaml", "daemonset.yaml")]


def kind_and_name(doc: dict[str, Any]) -> str:
    return f"{doc['kind'].lower()}/{doc['metadata']['name']}"


def live(env: TestEnv, doc: dict[str, Any]) -> dict[str, Any]:
    where = ["-n", doc["metadata"]["namespace"]] if "namespace" in doc["metadata"] else []
    found: dict[str, Any] = json.loads(env.kubectl("get", kind_and_name(doc), *where, "-o", "json"))
    return found


def delete_node_side(env: TestEnv) -> None:
    for doc in upstream_objects():
        where = ["-n", doc["metadata"]["namespace"]] if "namespace" in doc["metadata"] else []
        env.kubectl("delete", kind_and_name(doc), *where, "--ignore-not-found")


@pytest.fixture
def upstream_file(apiserver: TestEnv, tmp_path: Path) -> Iterator[Path]:
    """Upstream's objects in one file; the node side's objects are deleted before and after the test."""
    path = tmp_path / "multus-daemonset-thick.yml"
    path.write_text(yaml.safe_dump_all(upstream_objects()))
    delete_node_side(apiserver)
    yield path
    delete_node_side(apiserver)


def pod_shape(daemonset: dict[str, Any]) -> dict[str, Any]:
    """What of a DaemonSet's pod would make it run something else: containers (image, command, env
    names, mounts), volumes, and how pods roll."""
    spec = daemonset["spec"]
    pod = spec["template"]["spec"]

    def containers(key: str) -> list[Any]:
        return [
            (
                c["name"],
                c["image"],
                c.get("command"),
                sorted(e["name"] for e in c.get("env", [])),
                sorted((m["name"], m["mountPath"]) for m in c.get("volumeMounts", [])),
            )
            for c in pod.get(key, [])
        ]

    return {
        "selector": spec["selector"],
        "labels": spec["template"]["metadata"]["labels"],
        "strategy": spec["updateStrategy"],
        "init": containers("initContainers"),
        "containers": containers("containers"),
        "volumes": sorted(v["name"] for v in pod["volumes"]),
        "account": pod["serviceAccountName"],
    }


def install_upstream(env: TestEnv, how: str, path: Path) -> dict[str, str]:
    """Upstream's objects as `kubectl apply` (its quickstart) or `kubectl create` (a tool that keeps no
    last-applied configuration) leaves them; their UIDs by kind/name."""
    env.kubectl(how, "-f", str(path))
    return {kind_and_name(doc): live(env, doc)["metadata"]["uid"] for doc in upstream_objects()}


@pytest.mark.parametrize(
    ("installed_with", "ours_with"),
    [("apply", ["apply"]), ("create", ["replace", "--save-config"]), ("apply", ["replace", "--save-config"])],
)
def test_ours_replace_upstreams_objects_in_place(
    apiserver: TestEnv, upstream_file: Path, installed_with: str, ours_with: list[str]
) -> None:
    uids = install_upstream(apiserver, installed_with, upstream_file)

    apiserver.kubectl(*ours_with, *README_ORDER)

    # The same five objects, updated in place: nothing re-created, nothing of ours beside them.
    ours = [doc for _, doc in documents(NODE)]
    assert sorted(kind_and_name(doc) for doc in ours) == sorted(uids)
    assert {kind_and_name(doc): live(apiserver, doc)["metadata"]["uid"] for doc in ours} == uids
    daemonsets = json.loads(apiserver.kubectl("get", "daemonsets", "-n", NAMESPACE, "-o", "json"))["items"]
    assert [d["metadata"]["name"] for d in daemonsets] == ["kube-multus-ds"]
    configmap = live(apiserver, one("ConfigMap"))
    assert configmap["data"] == one("ConfigMap")["data"]

    # The DaemonSet's pods are ours and only ours: upstream's container, mounts, volumes and variable
    # are gone, so the rolling update that follows replaces each upstream pod by one of ours.
    daemonset = live(apiserver, one("DaemonSet"))
    assert pod_shape(daemonset) == pod_shape(one("DaemonSet"))
    assert daemonset["metadata"]["generation"] == 2
    assert daemonset["spec"]["selector"]["matchLabels"] == UPSTREAM_SELECTOR
    assert live(apiserver, one("ClusterRole"))["rules"] == one("ClusterRole")["rules"]


def test_apply_over_objects_created_without_apply_is_refused(apiserver: TestEnv, upstream_file: Path) -> None:
    """Why deploy/README.md says `kubectl replace`: without a last-applied configuration, apply merges ours
    into upstream's pod (same container names) instead of replacing it, and the merged init container,
    privileged as upstream's yet without privilege escalation as ours, is invalid."""
    install_upstream(apiserver, "create", upstream_file)

    with pytest.raises(testenv.TestEnvError, match="cannot set `allowPrivilegeEscalation` to false"):
        apiserver.kubectl("apply", *README_ORDER)

    live_shape = pod_shape(live(apiserver, one("DaemonSet")))
    assert live_shape["containers"] == pod_shape(upstream_daemonset())["containers"]


def test_upstreams_own_file_rolls_back_to_upstream(apiserver: TestEnv, upstream_file: Path) -> None:
    """deploy/README.md's rollback: `kubectl apply` of upstream's file over ours (which replace
    --save-config left with a last-applied configuration) restores every object as upstream's."""
    uids = install_upstream(apiserver, "create", upstream_file)
    apiserver.kubectl("replace", "--save-config", *README_ORDER)

    apiserver.kubectl("apply", "-f", str(upstream_file))

    for doc in upstream_objects():
        found = live(apiserver, doc)
        assert found["metadata"]["uid"] == uids[kind_and_name(doc)]
        if doc["kind"] == "DaemonSet":
            assert pod_shape(found) | {"strategy": None} == pod_shape(doc) | {"strategy": None}
            # Upstream's file names no rollingUpdate: the API server's default, one pod at a time.
            assert found["spec"]["updateStrategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
        for key in ("data", "rules", "roleRef", "subjects"):
            assert found.get(key) == doc.get(key), (kind_and_name(doc), key)


def test_a_daemonset_with_another_selector_could_not_replace_upstreams(
    apiserver: TestEnv, upstream_file: Path, tmp_path: Path
) -> None:
    """The selector is immutable: ours must be upstream's for the update to be accepted at all."""
    install_upstream(apiserver, "apply", upstream_file)
    other = one("DaemonSet")
    other["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "multus"}
    other["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "multus"
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))

    with pytest.raises(testenv.TestEnvError, match="field is immutable"):
        apiserver.kubectl("apply", "--dry-run=server", "-f", str(tmp_path / "other.yaml"))


def test_the_service_account_keeps_every_upstream_permission(
    apiserver: TestEnv, api_client: client.ApiClient, upstream_file: Path
) -> None:
    install_upstream(apiserver, "apply", upstream_file)
    upstream_role = next(doc for doc in upstream_objects() if doc["kind"] == "ClusterRole")
    upstream_grants = granted(upstream_role)
    ours_only = ("", "pods/status", "patch")
    # The authorizer sees upstream's role as installed: each of its grants, and not our patch.
    wait_for("upstream's role", lambda: all(allowed(api_client, p) for p in upstream_grants))
    assert not allowed(api_client, ours_only, NAMESPACE)

    apiserver.kubectl("apply", *README_ORDER)

    wait_for("our role", lambda: allowed(api_client, ours_only, NAMESPACE))
    assert sorted(p for p in upstream_grants if not allowed(api_client, p)) == []


def test_our_daemonset_puts_both_configs_paths_where_upstreams_does(tmp_path: Path) -> None:
    upstream = upstream_daemonset()["spec"]["template"]["spec"]
    upstream_daemon = upstream["containers"][0]
    ours = one("DaemonSet")["spec"]["template"]["spec"]
    daemon = next(c for c in ours["containers"] if c["name"] == upstream_daemon["name"])
    config = json.loads(one("ConfigMap")["data"]["daemon-config.json"])

    # The ConfigMap is where upstream's daemon reads it, and ours is pointed there.
    assert config_file(upstream, upstream_daemon, "multus-daemon-config") == UPSTREAM_CONFIG_FILE
    assert config_file(ours, daemon, "multus-daemon-config") == UPSTREAM_CONFIG_FILE
    assert daemon["command"][-1] == UPSTREAM_CONFIG_FILE

    # Each folder upstream's config names, and ours names under the same key, is the same container path
    # reaching the same host folder.
    shared = {"cniConfigDir", "socketDir"}
    assert shared <= set(config) & set(UPSTREAM_DAEMON_CONFIG)
    for key in sorted(shared):
        assert config[key].rstrip("/") == UPSTREAM_DAEMON_CONFIG[key].rstrip("/"), key
        on_host = host_path(upstream, upstream_daemon, UPSTREAM_DAEMON_CONFIG[key])
        assert on_host is not None, key
        assert host_path(ours, daemon, config[key]) == on_host, key
    assert host_path(ours, daemon, UPSTREAM_DAEMON_CONFIG["multusAutoconfigDir"]) == "/etc/cni/net.d"

    # Upstream's own config runs our daemon in our DaemonSet with the two edits deploy/README.md names:
    # chrootDir is refused (delegates run in the daemon's container, on the host paths mounted there),
    # and the shims on the host are told the socket folder by its host name.
    (tmp_path / "upstream.json").write_text(json.dumps(UPSTREAM_DAEMON_CONFIG))
    with pytest.raises(ConfigRefused, match=r"^chrootDir: "):
        load_config(tmp_path / "upstream.json", {"MULTUS_NODE_NAME": "node"})
    edited = {key: value for key, value in UPSTREAM_DAEMON_CONFIG.items() if key != "chrootDir"}
    (tmp_path / "edited.json").write_text(json.dumps(edited | {"daemonSocketDir": "/run/multus/"}))
    parsed = load_config(tmp_path / "edited.json", {"MULTUS_NODE_NAME": "node"})
    assert host_path(ours, daemon, str(parsed.socket_dir)) == str(parsed.shim_socket_dir)

    # Both init containers install the shim into the host's CNI bin dir through the same mount path.
    upstream_init, init = upstream["initContainers"][0], ours["initContainers"][0]
    assert init["name"] == upstream_init["name"]
    for pod, container in ((upstream, upstream_init), (ours, init)):
        assert host_path(pod, container, "/host/opt/cni/bin") == "/opt/cni/bin"
