"""The daemon's life as the shim sees it: not running, stale socket, restarted between ADD and DEL, not
ready yet when ADD comes, draining on SIGTERM while a request is in flight."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from multus.attachment_cache import SpareFiles
from multus.cni.versions import SUPPORTED_VERSIONS
from multus.shim.multus_shim import request as unix_request
from tests.conftest import unique_name
from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.daemon.support import OWN_FAKES, ShimRuntime, wait_for
from tests.testenv import TestEnv, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def dead_socket_dir(tmp_path: Path, kind: str) -> Path:
    """A socket dir where no daemon answers: missing, or holding a socket nobody listens on (what a
    daemon that crashed leaves behind)."""
    folder = tmp_path / f"dead-{kind}"
    if kind == "stale-socket":
        folder.mkdir(mode=0o700)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(str(folder / "multus.sock"))  # bound, never listening: connect is refused
    return folder


@pytest.mark.parametrize("kind", ["missing-dir", "stale-socket"])
def test_daemon_not_running_is_try_again_later_for_every_command_and_changes_nothing(
    rt: ShimRuntime, tmp_path: Path, kind: str
) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")
    socket_path = dead_socket_dir(tmp_path, kind) / "multus.sock"
    dead = rt.multus_config(socketDir=str(socket_path.parent), daemonWaitSeconds=0.5, cniVersion="0.4.0")

    add = rt.run("ADD", config=dead).error(11)
    check = rt.run("CHECK", config=dead).error(11)
    delete = rt.run("DEL", config=dead).error(11)
    version = rt.run("VERSION", config=dead).ok()  # the shim's own answer

    why = "the socket does not exist" if kind == "missing-dir" else "connection refused"
    assert add == {
        "cniVersion": "0.4.0",
        "code": 11,
        "msg": f"multus daemon at {socket_path} is not ready after 0.5s: {why}; the runtime will retry",
    }
    for error in (check, delete):
        assert error == {
            "cniVersion": "0.4.0",
            "code": 11,
            "msg": f"cannot reach the multus daemon at {socket_path}: {why}; the runtime will retry",
        }
    assert version == {"cniVersion": "0.4.0", "supportedVersions": list(SUPPORTED_VERSIONS)}
    assert rt.leftovers() == []
    assert rt.network_status() is None
    assert rt.events() == []


def test_del_while_the_daemon_is_away_fails_and_removes_nothing_until_it_is_back(
    rt: ShimRuntime, tmp_path: Path
) -> None:
    """Upstream's shim reports every DEL as a success; ours makes the runtime retry (code 11)."""
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")
    rt.add()
    dead = rt.multus_config(socketDir=str(dead_socket_dir(tmp_path, "missing-dir")))

    rt.run("DEL", config=dead).error(11)

    assert sorted(rt.links()) == ["eth0", "net1"]
    assert len(rt.ipam_allocations()) == 2
    rt.delete()  # the runtime's retry, once the daemon answers
    assert rt.leftovers() == []


def test_del_after_the_daemon_restarted_cleans_up(start_daemon: StartDaemon, runtime_for: RuntimeFor) -> None:
    daemon = start_daemon()
    rt = runtime_for(daemon)
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")
    rt.add()

    def spares() -> list[Path]:  # files made ahead, after replies, for the next records
        return sorted(rt.cni_dir.glob(f"{SpareFiles.PREFIX}*"))

    wait_for("the spare files made after the reply", lambda: len(spares()) == SpareFiles().per_folder)
    assert daemon.stop() == 0
    assert daemon.readyz() is None
    assert spares() == []  # a clean stop removes them

    daemon.start()  # a new process: empty caches, same node, same on-disk attachment cache
    rt.delete()

    assert rt.leftovers() == []

    def served() -> list[tuple[str, str]]:  # each logged once its answer is out
        return [
            (line["command"], line["result"]) for line in daemon.log_lines() if line.get("msg") == "request"
        ]

    wait_for("the DEL's log line", lambda: len(served()) == 2)
    assert served() == [("ADD", "ok"), ("DEL", "ok")]


def test_add_waits_for_the_daemon_to_become_ready(start_daemon: StartDaemon, runtime_for: RuntimeFor) -> None:
    daemon = start_daemon(start=False)
    rt = runtime_for(daemon)
    rt.pod()
    pending = rt.start("ADD", config=rt.multus_config(daemonWaitSeconds=120))
    with pytest.raises(AssertionError):  # the shim keeps polling /readyz while nothing answers
        wait_for("the shim to give up", lambda: pending.poll() is not None, timeout=1.0)

    daemon.start()
    stdout, stderr = pending.communicate(timeout=60)

    assert pending.returncode == 0, (stdout, stderr)
    result = json.loads(stdout)
    assert [ip["address"].split("/")[0] for ip in result["ips"]] == [
        address.split("/")[0] for address in rt.links()["eth0"].addresses
    ]
    rt.delete()
    assert rt.leftovers() == []


def test_add_before_the_caches_synced_is_answered_503_and_the_shim_waits(
    start_daemon: StartDaemon, runtime_for: RuntimeFor, apiserver: TestEnv, tmp_path: Path
) -> None:
    # Credentials for an API server that is not there: the daemon serves, but its caches never sync.
    nowhere = tmp_path / "kubeconfig-nowhere"
    nowhere.write_text(
        apiserver.kubeconfig.read_text().replace(apiserver.server, f"https://127.0.0.1:{free_port()}")
    )
    daemon = start_daemon(wait=False, kubeconfig=str(nowhere))
    wait_for("the daemon to answer /readyz", lambda: daemon.readyz() == 503, timeout=30)
    rt = runtime_for(daemon)
    box = rt.pod()
    environment = rt.shim_env("ADD", box)
    config = json.dumps(rt.multus_config(cniVersion="0.4.0")).encode()
    body = {"env": environment, "config": base64.b64encode(config).decode()}

    status, reply = unix_request(str(daemon.socket_path), "POST", "/cni", json.dumps(body).encode(), 30)

    assert status == 503
    assert json.loads(reply)["code"] == 11
    assert json.loads(reply)["cniVersion"] == "0.4.0"
    assert "not ready" in json.loads(reply)["msg"]
    # Only ADD waits for readiness: a DEL is served (here: nothing to delete).
    delete = {**body, "env": {**environment, "CNI_COMMAND": "DEL"}}
    assert unix_request(str(daemon.socket_path), "POST", "/cni", json.dumps(delete).encode(), 30)[0] == 200
    config = rt.multus_config(daemonWaitSeconds=0.3, cniVersion="0.4.0")
    refused = rt.run("ADD", sandbox=box, config=config).error(11)
    assert refused == {
        "cniVersion": "0.4.0",
        "code": 11,
        "msg": f"multus daemon at {daemon.socket_path} is not ready after 0.3s: /readyz answered 503; "
        "the runtime will retry",
    }
    assert rt.links(box) == {}


def test_sigterm_fails_readiness_and_lets_the_request_in_flight_finish(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    daemon = start_daemon()
    rt = runtime_for(daemon)
    slow, started = rt.sleeping_net("slow", 4)
    rt.nad("slow", slow.config)
    box = rt.pod("slow")
    other = rt.pod()
    assert (OWN_FAKES / "fake-sleep").exists()
    in_flight = rt.start("ADD", sandbox=box)
    wait_for("the slow plugin to start", started.exists, timeout=30)

    daemon.terminate()

    wait_for("/readyz to fail", lambda: daemon.readyz() != 200, timeout=5)
    assert in_flight.poll() is None, "the ADD should still be in flight"
    refused = rt.run("ADD", sandbox=other, config=rt.multus_config(daemonWaitSeconds=0)).error(11)
    assert "not ready" in refused["msg"]
    assert refused["msg"].endswith("; the runtime will retry")
    stdout, stderr = in_flight.communicate(timeout=60)
    assert in_flight.returncode == 0, (stdout, stderr)
    assert json.loads(stdout)["ips"]
    assert sorted(rt.links(box)) == ["eth0", "net1"]
    assert daemon.process is not None
    assert daemon.process.wait(timeout=40) == 0
    assert not daemon.socket_path.exists()
    assert rt.network_status(box) is not None  # written before the answer, so before the exit
    assert rt.links(other) == {}

    daemon.start()
    rt.delete(box)
    rt.delete(other)
    assert rt.leftovers(box) == []
    assert rt.leftovers(other) == []


def kubeconfig_that_cannot_write_status(apiserver: TestEnv, api: client.ApiClient, folder: Path) -> Path:
    """Credentials of a ServiceAccount that may do all the daemon does but write a pod's status."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    name, namespace = unique_name("no-status-"), "default"
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata={"name": name}))
    read = ["get", "list", "watch"]
    rules = [
        client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=read),
        client.V1PolicyRule(
            api_groups=["k8s.cni.cncf.io"], resources=["network-attachment-definitions"], verbs=read
        ),
        client.V1PolicyRule(api_groups=[""], resources=["events"], verbs=["create"]),
    ]
    rbac.create_cluster_role(client.V1ClusterRole(metadata={"name": name}, rules=rules))
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata={"name": name},
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)],
        )
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[apiserver.server])
    )
    token = core.create_namespaced_service_account_token(name, namespace, request).status.token
    config = json.loads(apiserver.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    path = folder / "no-status.kubeconfig"
    path.write_text(json.dumps(config))
    return path


def test_a_dels_report_replaces_the_adds_still_pending(
    start_daemon: StartDaemon,
    runtime_for: RuntimeFor,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    tmp_path: Path,
) -> None:
    """The ADD's network-status write keeps failing (forbidden here, as when the API server is away), so
    it is still pending, retried, when the sandbox's DEL comes: the DEL's report replaces it, and the
    status of a sandbox already gone is never written."""
    kubeconfig = kubeconfig_that_cannot_write_status(apiserver, api_client, tmp_path)
    daemon = start_daemon(kubeconfig=str(kubeconfig))
    rt = runtime_for(daemon)
    box = rt.pod()
    adding = rt.start("ADD")
    assert adding.wait(timeout=60) == 0  # the runtime has its answer; the report is the daemon's affair

    def failed_writes() -> list[dict[str, Any]]:
        return [
            line
            for line in daemon.log_lines()
            if line.get("container") == box.container_id
            and line.get("msg") == "network-status not written yet"
        ]

    wait_for("the ADD's report to fail once", failed_writes)
    rt.delete()

    assert wait_for("the DEL's decision", lambda: rt.status_decisions(box)) == ["the pod has none"]
    replaced = [
        line for line in daemon.log_lines() if line.get("msg") == "pod report replaced by a newer one"
    ]
    assert [line["pod"] for line in replaced] == [f"{box.pod_namespace}/{box.pod_name}"]
    attempts = len(failed_writes())
    time.sleep(2.0)  # longer than the pause before the replaced report's next attempt: none comes
    assert len(failed_writes()) == attempts
    assert not [line for line in daemon.log_lines() if line.get("msg") == "network-status given up"]
    assert rt.network_status() is None
    assert rt.leftovers() == []
