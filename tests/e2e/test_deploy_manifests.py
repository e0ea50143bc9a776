"""Every manifest under deploy/ against the real API server, and the node side's RBAC, config and probes.

- Every file under deploy/ (the node side's and the controller's) passes `kubectl apply --dry-run=server`
  (CRDs and namespaces they need are created for real first: a dry run of a namespaced object or of a
  custom object needs them).
- The daemon's ClusterRole grants what the code calls and, beyond that, only upstream Multus's own rules
  (kept for a rollback): the list is derived from the Kubernetes client calls in multus/kube/*.py and
  multus/daemon/*.py, and the API server's authorizer, asked as the ServiceAccount, says yes to each
  of those and to each upstream rule, and no to everything else tried.
- The DaemonSet, its ConfigMap and its probes agree with each other, and the real daemon, run with the
  ConfigMap's settings as that ServiceAccount (each path it names moved to where the DaemonSet's mounts
  put it on the host), becomes ready by the DaemonSet's own probe commands and serves a pod with an
  extra network (reads from its caches, writes network-status and Events).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from multus.cni.cache import CachedAttachment, ResultCache
from multus.daemon.settings import load_config
from multus.k8s.constants import NAD_GROUP, NAD_PLURAL
from multus.netns import interfaces
from tests import testenv
from tests.conftest import netns_path, unique_name
from tests.e2e.daemon.support import BOOKKEEPING_SECONDS, wait_for
from tests.e2e.node_manifests import (
    DEPLOY,
    NODE,
    SERVICE_ACCOUNT,
    UPSTREAM_RULES,
    Permission,
    allowed,
    config_file,
    documents,
    granted,
    host_path,
    one,
)
from tests.testenv import REPO, TestEnv, free_port

pytestmark = pytest.mark.e2e

DAEMON = REPO / ".venv" / "bin" / "multus-daemon"
PYTHON_SHIM = REPO / "multus" / "shim" / "multus_shim.py"
NODE_NAME = "deploy-node"

# What each API call the node side makes needs, keyed by how the code makes it: the HTTP method and the
# path expression of `client.request(...)`, `_get(path)` (a GET), or a `WatchCache(...)` (list and
# watch of its path). A call missing here fails the test below, so a new API call cannot ship without
# a decision about the RBAC it needs.
API_CALLS: dict[str, set[Permission]] = {
    "GET pod_path(namespace, name)": {("", "pods", "get")},
    "GET nad_path(namespace, name)": {(NAD_GROUP, NAD_PLURAL, "get")},
    "PATCH pod_status_path(pod.namespace, pod.name)": {("", "pods/status", "patch")},
    "POST events_path(pod.namespace)": {("", "events", "create")},
    "WATCH pods_path()": {("", "pods", "list"), ("", "pods", "watch")},
    "WATCH nads_path()": {(NAD_GROUP, NAD_PLURAL, "list"), (NAD_GROUP, NAD_PLURAL, "watch")},
}
# The transports (multus/kube/transport_*.py) send whatever request they are given: no call of their own.
NODE_SIDE_SOURCES = [
    *sorted(
        path for path in (REPO / "multus" / "kube").glob("*.py") if not path.name.startswith("transport_")
    ),
    *sorted((REPO / "multus" / "daemon").glob("*.py")),
]
UPSTREAM_GRANTS = granted({"rules": UPSTREAM_RULES})

# Asked as the daemon and expected to be refused: what neither our code nor upstream's role needs.
# Writes to pods, other subresources, other kinds (secrets above all), verbs next to the granted ones.
DENIED: list[Permission] = [
    ("", "pods", "create"),
    ("", "pods", "patch"),
    ("", "pods", "delete"),
    ("", "pods", "deletecollection"),
    ("", "pods/exec", "create"),
    ("", "pods/eviction", "create"),
    ("", "pods/ephemeralcontainers", "update"),
    ("", "events", "delete"),
    ("", "events", "list"),
    ("events.k8s.io", "events", "delete"),
    ("", "secrets", "get"),
    ("", "secrets", "list"),
    ("", "configmaps", "get"),
    ("", "nodes", "get"),
    ("", "nodes", "list"),
    ("", "serviceaccounts/token", "create"),
    ("", "namespaces", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "get"),
    ("apps", "daemonsets", "update"),
    ("rbac.authorization.k8s.io", "clusterroles", "escalate"),
]


def kubectl_name(doc: dict[str, Any]) -> str:
    """How `kubectl apply` names the object in its output: `daemonset.apps/kube-multus-ds`."""
    api_version = doc["apiVersion"]
    group = api_version.split("/")[0] if "/" in api_version else ""
    kind = doc["kind"].lower()
    return f"{kind}.{group}/{doc['metadata']['name']}" if group else f"{kind}/{doc['metadata']['name']}"


def covered(grants: set[Permission], wanted: Permission) -> bool:
    """Whether the grants allow `wanted`, "*" matching anything as in RBAC."""
    return any(all(have in ("*", want) for have, want in zip(grant, wanted, strict=True)) for grant in grants)


def client_calls(sources: list[Path]) -> dict[str, list[str]]:
    """The API calls the sources make (as keyed in API_CALLS), with where each is made. The generic
    helpers themselves (`_get`'s request, the watch cache's own list) are not calls of their own."""
    found: dict[str, list[str]] = {}
    for source in sources:
        for call in ast.walk(ast.parse(source.read_text())):
            if not isinstance(call, ast.Call):
                continue
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            key = None
            if name == "_get" and call.args:
                key = f"GET {ast.unparse(call.args[0])}"
            elif name == "request" and len(call.args) >= 2 and isinstance(call.args[0], ast.Constant):
                if ast.unparse(call.args[1]) not in ("path", "self._path"):
                    key = f"{call.args[0].value} {ast.unparse(call.args[1])}"
            elif name == "WatchCache" and len(call.args) >= 3:
                key = f"WATCH {ast.unparse(call.args[2])}"
            if key is not None:
                found.setdefault(key, []).append(f"{source.relative_to(REPO)}:{call.lineno}")
    return found


def api_classes(sources: list[Path]) -> set[str]:
    """`client.XxxApi` classes the sources name: only CoreV1Api and CustomObjectsApi are classified."""
    return {
        node.attr
        for source in sources
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Attribute) and node.attr.endswith("Api") and node.attr[0].isupper()
    }


def daemon_container() -> dict[str, Any]:
    containers = one("DaemonSet")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["kube-multus"]
    return dict(containers[0])


def deployed_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(one("ConfigMap")["data"]["daemon-config.json"])
    return config


# dry run ------------------------------------------------------------------------------------------


def test_every_manifest_passes_a_server_side_dry_run(apiserver: TestEnv, tmp_path: Path) -> None:
    docs = documents()
    assert {path.parent.name for path, _ in docs} >= {"node", "controller"}
    # A custom object can be checked only once its CRD is served: install CRDs for real.
    crds = [doc for _, doc in docs if doc["kind"] == "CustomResourceDefinition"]
    if crds:
        crd_file = tmp_path / "crds.yaml"
        crd_file.write_text(yaml.safe_dump_all(crds))
        apiserver.kubectl("apply", "-f", str(crd_file))
        for crd in crds:
            name = crd["metadata"]["name"]
            apiserver.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    for namespace in sorted(
        {doc["metadata"]["namespace"] for _, doc in docs if "namespace" in doc["metadata"]}
    ):
        with contextlib.suppress(testenv.TestEnvError):  # it may exist already (kube-system always does)
            apiserver.kubectl("create", "namespace", namespace)
        apiserver.kubectl("get", "namespace", namespace)

    output = apiserver.kubectl("apply", "--dry-run=server", "--recursive", "-f", str(DEPLOY))

    checked = [line for line in output.splitlines() if line.endswith("(server dry run)")]
    assert len(checked) == len(docs), output
    for path, doc in docs:
        assert any(line.startswith(f"{kubectl_name(doc)} ") for line in checked), (path, kubectl_name(doc))


# RBAC ---------------------------------------------------------------------------------------------


def required_permissions() -> set[Permission]:
    calls = client_calls(NODE_SIDE_SOURCES)
    unclassified = {call: where for call, where in calls.items() if call not in API_CALLS}
    assert not unclassified, f"classify these API calls in API_CALLS: {unclassified}"
    assert api_classes(NODE_SIDE_SOURCES) == set(), (
        "the node side calls the API through multus.kube.rest only"
    )
    return set().union(*(API_CALLS[call] for call in calls))


def test_the_daemons_cluster_role_grants_what_the_code_calls_and_upstreams_rules() -> None:
    needed = required_permissions()
    grants = granted(one("ClusterRole"))

    # Every classified call is still made (a stale entry would keep a permission alive for nothing).
    assert set(client_calls(NODE_SIDE_SOURCES)) == set(API_CALLS)
    assert all(covered(grants, permission) for permission in needed), needed
    # Upstream's rules as they are, so its DaemonSet runs with this role after a rollback...
    assert grants >= UPSTREAM_GRANTS
    # ... and nothing beyond them and our calls. What we need that upstream's role lacks: one patch.
    assert grants <= UPSTREAM_GRANTS | needed, grants - UPSTREAM_GRANTS - needed
    assert {p for p in needed if not covered(UPSTREAM_GRANTS, p)} == {("", "pods/status", "patch")}


def test_the_service_account_may_do_what_it_needs_and_upstreams_rules_and_nothing_else(
    apiserver: TestEnv, api_client: client.ApiClient, namespace: str
) -> None:
    apiserver.kubectl("apply", "-f", str(NODE / "rbac.yaml"))

    for permission in sorted(required_permissions()):
        assert allowed(api_client, permission, namespace), permission
        # The caches watch across namespaces; single reads and writes go to the pod's namespace.
        if permission[2] in ("list", "watch"):
            assert allowed(api_client, permission), (permission, "all namespaces")
    # Each of upstream's grants as its role states it, wildcards included, in all namespaces.
    assert sorted(p for p in UPSTREAM_GRANTS if not allowed(api_client, p)) == []

    assert [permission for permission in DENIED if allowed(api_client, permission, namespace)] == []
    assert not allowed(api_client, ("*", "*", "*"))


# the DaemonSet and its config -----------------------------------------------------------------------

# Where each path of the ConfigMap must land on the host, through the DaemonSet's mounts.
HOST_PATHS = {
    "cniConfigDir": "/etc/cni/net.d",
    "socketDir": "/run/multus",
    "resultsDir": "/var/lib/cni/multus",
    "cniDir": "/var/lib/cni/multus",
    "binDir": "/opt/cni/bin",
    "confDir": "/etc/cni/multus/net.d",
}
# Paths the daemon hands to others as they are, so they must be the same inside and outside: binDir goes
# into 00-multus.conf and delegates (run in the container) are looked up there, as in CNI_PATH.
SAME_INSIDE = ("binDir", "cniDir", "confDir", "resultsDir")


def test_the_daemonset_config_and_probes_agree(tmp_path: Path) -> None:
    daemonset = one("DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    container = daemon_container()
    config = deployed_config()
    # As multus-daemon reads the mounted file (refusing any key it does not know), with the node's name
    # as the downward API gives it.
    (tmp_path / "daemon-config.json").write_text(json.dumps(config))
    parsed = load_config(tmp_path / "daemon-config.json", {"MULTUS_NODE_NAME": NODE_NAME})
    assert parsed.auto

    # The daemon runs as its ServiceAccount, knows its node, and reads the ConfigMap it is given.
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"] == SERVICE_ACCOUNT[1]
    node_name = {"name": "MULTUS_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert node_name in container["env"]
    assert container["command"][-1] == config_file(pod, container, one("ConfigMap")["metadata"]["name"])

    # Each path the config names reaches the host folder it stands for; the shims on the host are told
    # the socket folder as the host names it.
    for key, host in HOST_PATHS.items():
        assert host_path(pod, container, config[key]) == host, key
    for key in SAME_INSIDE:
        assert config[key].rstrip("/") == HOST_PATHS[key], key
    assert config["daemonSocketDir"] == HOST_PATHS["socketDir"]

    # Probes talk to the socket the config names; draining fits in the grace period; metrics port.
    socket_path = f"{config['socketDir'].rstrip('/')}/multus.sock"
    for probe in ("livenessProbe", "readinessProbe"):
        assert socket_path in container[probe]["exec"]["command"][-1]
    assert "/healthz" in container["livenessProbe"]["exec"]["command"][-1]
    assert "/readyz" in container["readinessProbe"]["exec"]["command"][-1]
    assert pod["terminationGracePeriodSeconds"] > parsed.drain_seconds + 5
    assert [p["containerPort"] for p in container["ports"]] == [parsed.metrics_port]
    assert pod["hostNetwork"] is True
    assert pod["hostPID"] is True
    assert container["securityContext"]["privileged"] is True

    # The init container puts the shim where the runtime looks for `type: multus-shim`.
    init = pod["initContainers"][0]
    installed = init["command"][-1].split()[-1]
    assert installed.endswith("/multus-shim")
    assert host_path(pod, init, installed) == f"{config['binDir']}/multus-shim"


# the daemon as deployed -----------------------------------------------------------------------------


def service_account_kubeconfig(env: TestEnv, api: client.ApiClient, path: Path) -> Path:
    env.kubectl("apply", "-f", str(NODE / "rbac.yaml"))
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    namespace, name = SERVICE_ACCOUNT
    token = client.CoreV1Api(api).create_namespaced_service_account_token(name, namespace, request)
    assert token.status is not None
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "multus",
        "clusters": [
            {
                "name": "testenv",
                "cluster": {"server": env.server, "certificate-authority": str(env.root / "pki" / "ca.crt")},
            }
        ],
        "users": [{"name": "multus", "user": {"token": token.status.token}}],
        "contexts": [{"name": "multus", "context": {"cluster": "testenv", "user": "multus"}}],
    }
    path.write_text(json.dumps(config))
    return path


def probe(command: list[str], socket_path: Path) -> int:
    """Run one of the DaemonSet's exec probes, pointed at the test daemon's socket."""
    deployed = f"{deployed_config()['socketDir'].rstrip('/')}/multus.sock"
    argv = [part.replace(deployed, str(socket_path)) for part in command]
    return subprocess.run(argv, capture_output=True, check=False, timeout=10).returncode


def shim_command(tmp_path: Path) -> list[str]:
    """The native shim the DaemonSet installs when it is built, else the Python one as a CNI bin file."""
    native = Path(os.environ.get("MULTUS_NATIVE_SHIM") or REPO / "build" / "multus-shim")
    if native.is_file():
        return [str(native)]
    copy = tmp_path / "multus-shim"
    shutil.copyfile(PYTHON_SHIM, copy)
    copy.chmod(0o755)
    return [str(copy)]


def on_node(root: Path, host: str) -> Path:
    """A host path of the node the test makes under `root`."""
    return root / host.lstrip("/")


@dataclass
class DeployedNode:
    """multus-daemon with the ConfigMap's settings on a node made under `root`: each path of the config
    is where the DaemonSet's mounts put it on the host (daemonSocketDir is the host's name already), so
    paths the daemon sees in its container and paths the host sees meet as they do on a node. The pod
    `web` asks for the NAD `extra`; the cluster network is a bridge."""

    process: subprocess.Popen[bytes]
    config: dict[str, Any]
    root: Path
    shim: list[str]
    environ: dict[str, str]
    ipam_dir: Path

    @property
    def node_config(self) -> Path:
        return Path(self.config["cniConfigDir"]) / "00-multus.conf"

    @property
    def socket_path(self) -> Path:
        return Path(self.config["socketDir"]) / "multus.sock"

    @property
    def container_id(self) -> str:
        return self.environ["CNI_CONTAINERID"]

    @property
    def record(self) -> Path:
        return Path(self.config["cniDir"]) / self.container_id

    def result_cache(self) -> list[Path]:
        return sorted((Path(self.config["resultsDir"]) / "results").glob(f"*-{self.container_id}-*"))

    def log(self) -> str:
        return (self.root / "daemon.log").read_text()[-3000:]

    def cni(self, command: str) -> subprocess.CompletedProcess[bytes]:
        """Run the shim as the runtime does, with 00-multus.conf on stdin."""
        return subprocess.run(
            self.shim,
            input=self.node_config.read_bytes(),
            env={**self.environ, "CNI_COMMAND": command},
            capture_output=True,
            check=False,
            timeout=60,
        )

    def leftovers(self) -> list[str]:
        """What of the pod's attachments is still there: links in its namespace, its record, our result
        cache entries, host-local leases."""
        found = [f"link {name}" for name in interfaces(self.environ["CNI_NETNS"]) if name != "lo"]
        found += [f"record {self.record}"] if self.record.exists() else []
        found += [f"result cache {path}" for path in self.result_cache()]
        leases = [
            p for p in self.ipam_dir.rglob("*") if p.is_file() and p.read_text().startswith(self.container_id)
        ]
        return found + [f"lease {path}" for path in leases]


def pod_event_reasons(api: client.ApiClient, namespace: str) -> set[str]:
    """The reasons of the Events about the pod `web`."""
    events = client.CoreV1Api(api).list_namespaced_event(namespace, field_selector="involvedObject.name=web")
    return {str(event.reason) for event in events.items}


@pytest.fixture
def deployed(
    *,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
) -> Iterator[DeployedNode]:
    """The node, its daemon ready by the DaemonSet's own readiness probe."""
    pod_spec = one("DaemonSet")["spec"]["template"]["spec"]
    container = daemon_container()
    root = tmp_path / "host"
    config = deployed_config()
    for key, value in config.items():
        if isinstance(value, str) and value.startswith("/"):
            on_host = value if key == "daemonSocketDir" else host_path(pod_spec, container, value)
            assert on_host is not None, f"{key} {value} is not mounted from the host"
            config[key] = str(on_node(root, on_host))
            Path(config[key]).mkdir(parents=True, exist_ok=True)
    kubeconfig = service_account_kubeconfig(apiserver, api_client, tmp_path / "kubeconfig")
    config["binDir"] = str(cni_bin)
    config |= {"kubeconfig": str(kubeconfig), "metricsPort": free_port(), "metricsAddress": "127.0.0.1"}
    (root / "daemon-config.json").write_text(json.dumps(config))

    bridge, extra_bridge = unique_name("dpl"), unique_name("dpx")
    ipam = {"type": "host-local", "dataDir": str(tmp_path / "ipam")}
    cluster = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipam": {**ipam, "subnet": "10.199.1.0/24"},
    }
    extra = {"type": "bridge", "bridge": extra_bridge, "ipam": {**ipam, "subnet": "10.199.2.0/24"}}
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        NAD_GROUP,
        "v1",
        namespace,
        NAD_PLURAL,
        {
            "apiVersion": f"{NAD_GROUP}/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "extra"},
            "spec": {"config": json.dumps({"cniVersion": "1.1.0", **extra})},
        },
    )
    pod = client.CoreV1Api(api_client).create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="web", annotations={"k8s.v1.cni.cncf.io/networks": "extra"}),
            spec=client.V1PodSpec(
                node_name=NODE_NAME, containers=[client.V1Container(name="c", image="pause")]
            ),
        ),
    )
    assert pod.metadata is not None
    (Path(config["cniConfigDir"]) / "10-cluster.conf").write_text(
        json.dumps({"cniVersion": "1.1.0", "name": "cluster", **cluster})
    )
    environ = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "CNI_CONTAINERID": f"dpl{os.urandom(8).hex()}",
        "CNI_NETNS": netns_path(netns_name),
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": f"K8S_POD_NAMESPACE={namespace};K8S_POD_NAME=web;K8S_POD_UID={pod.metadata.uid}",
        "CNI_PATH": str(cni_bin),
    }
    with (root / "daemon.log").open("wb") as log:
        process = subprocess.Popen(
            [str(DAEMON), "--config", str(root / "daemon-config.json")],
            env={**os.environ, "MULTUS_NODE_NAME": NODE_NAME},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    node = DeployedNode(process, config, root, shim_command(tmp_path), environ, tmp_path / "ipam")
    try:
        readiness = container["readinessProbe"]["exec"]["command"]
        wait_for(
            "readiness",
            lambda: process.poll() is not None or probe(readiness, node.socket_path) == 0,
            timeout=30,
        )
        assert process.poll() is None, node.log()
        yield node
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for name in (bridge, extra_bridge):
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def test_the_daemon_as_deployed_becomes_ready_and_serves_a_pod(
    deployed: DeployedNode, api_client: client.ApiClient, namespace: str
) -> None:
    container = daemon_container()
    assert probe(container["livenessProbe"]["exec"]["command"], deployed.socket_path) == 0
    written = json.loads(deployed.node_config.read_text())
    assert written["type"] == "multus-shim"
    # The shims on the host are sent to the socket the daemon serves in its container.
    assert Path(written["socketDir"]) / "multus.sock" == deployed.socket_path

    added = deployed.cni("ADD")
    assert added.returncode == 0, (added.stdout, deployed.log())
    assert set(interfaces(deployed.environ["CNI_NETNS"])) == {"lo", "eth0", "net1"}

    core = client.CoreV1Api(api_client)

    def status_written() -> bool:
        metadata = core.read_namespaced_pod("web", namespace).metadata
        annotations = (metadata.annotations if metadata else None) or {}
        return "k8s.v1.cni.cncf.io/network-status" in annotations

    # The daemon writes both after its reply: the status first, then the Events.
    wait_for("network-status", status_written)
    wait_for("AddedInterface events", lambda: pod_event_reasons(api_client, namespace) == {"AddedInterface"})

    deleted = deployed.cni("DEL")
    assert deleted.returncode == 0, deleted.stdout
    wait_for("nothing left", lambda: deployed.leftovers() == [], timeout=BOOKKEEPING_SECONDS)

    # SIGTERM: the daemon drains and exits within the DaemonSet's grace period...
    deployed.process.send_signal(signal.SIGTERM)
    grace = one("DaemonSet")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert deployed.process.wait(timeout=grace) == 0
    assert probe(container["readinessProbe"]["exec"]["command"], deployed.socket_path) != 0
    # ... and leaves 00-multus.conf: until the next daemon serves, shims wait for it or answer "try
    # again later", and the runtime never sends a pod to the cluster network alone.
    assert deployed.node_config.exists()


def test_the_daemon_as_deployed_deletes_a_pod_that_upstream_attached(
    deployed: DeployedNode, api_client: client.ApiClient, namespace: str
) -> None:
    """After the handover, pods that upstream's daemon attached are deleted by ours. Such a pod left on
    the node: upstream's record (a list of delegate configs) where ours would be, no result cache of ours
    (upstream's libcni kept its own inside its container), and the runtime's own libcni entry for the
    multus network in the host's /var/lib/cni/results, whose plugin is the shim: not an attachment."""
    added = deployed.cni("ADD")
    assert added.returncode == 0, (added.stdout, deployed.log())
    wait_for("the ADD's result cache", deployed.result_cache, timeout=BOOKKEEPING_SECONDS)

    def saved_with_results() -> list[dict[str, Any]] | None:
        """The record once the daemon's after-reply save wrote every result: nothing rewrites it then."""
        attachments: list[dict[str, Any]] = json.loads(deployed.record.read_text())["attachments"]
        return attachments if all(attachment.get("result") for attachment in attachments) else None

    attachments = wait_for(
        "the ADD's record with its results", saved_with_results, timeout=BOOKKEEPING_SECONDS
    )
    delegates = [attachment["config"] for attachment in attachments]
    deployed.record.write_text(json.dumps(delegates))
    for path in deployed.result_cache():
        path.unlink()
    runtime_cache = ResultCache(on_node(deployed.root, "/var/lib/cni"))
    runtime_entry = CachedAttachment(
        network_name=json.loads(deployed.node_config.read_text())["name"],
        container_id=deployed.container_id,
        ifname="eth0",
        config=deployed.node_config.read_bytes(),
        netns=deployed.environ["CNI_NETNS"],
    )
    runtime_cache.write(runtime_entry)

    deleted = deployed.cni("DEL")

    assert deleted.returncode == 0, (deleted.stdout, deployed.log())
    wait_for("nothing left", lambda: deployed.leftovers() == [], timeout=BOOKKEEPING_SECONDS)
    # The runtime's entry is the runtime's to remove, after this DEL.
    assert runtime_cache.entries(container_id=deployed.container_id) == [runtime_entry]
    wait_for("the pod told", lambda: "AttachmentsRebuilt" in pod_event_reasons(api_client, namespace))
