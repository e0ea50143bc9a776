"""Every manifest under deploy/ against the real API server, and the node side's RBAC, config and probes.

- Every file under deploy/ (the node side's and the controller's) passes `kubectl apply --dry-run=server`
  (CRDs and namespaces they need are created for real first: a dry run of a namespaced object or of a
  custom object needs them).
- The daemon's ClusterRole grants exactly what the code calls: the list is derived from the Kubernetes
  client calls in multus/k8s/apiview.py and multus/daemon/*.py, and `kubectl auth can-i` as the
  ServiceAccount says yes to each of those and no to everything else tried.
- The DaemonSet, its ConfigMap and its probes agree with each other, and the real daemon, run with the
  ConfigMap's settings as that ServiceAccount, becomes ready by the DaemonSet's own probe commands and
  serves a pod with an extra network (reads from its caches, writes network-status and Events).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from multus.daemon.main import NODE_CONFIG_KEYS, DaemonConfig, load_config
from multus.k8s.apiview import NAD_GROUP, NAD_PLURAL
from multus.netns import interfaces
from tests import testenv
from tests.conftest import netns_path, unique_name
from tests.testenv import KUBE_BIN, REPO, TestEnv, free_port

pytestmark = pytest.mark.e2e

DEPLOY = REPO / "deploy"
NODE = DEPLOY / "node"
SERVICE_ACCOUNT = ("kube-system", "multus")
AS_DAEMON = "system:serviceaccount:kube-system:multus"
DAEMON = REPO / ".venv" / "bin" / "multus-daemon"
PYTHON_SHIM = REPO / "multus" / "shim" / "multus_shim.py"
NODE_NAME = "deploy-node"

Permission = tuple[str, str, str]  # API group, resource (with /subresource), verb

# What each API call the node side makes needs, keyed by how the code makes it: the HTTP method and the
# path expression of `client.request(...)`, `_get(path)` (a GET), or a `WatchCache(...)` (list and
# watch of its path). A call missing here fails the test below, so a new API call cannot ship without
# a decision about the RBAC it needs.
API_CALLS: dict[str, set[Permission]] = {
    "GET pod_path(namespace, name)": {("", "pods", "get")},
    "GET nad_path(namespace, name)": {(NAD_GROUP, NAD_PLURAL, "get")},
    "PATCH status_path(pod.namespace, pod.name)": {("", "pods/status", "patch")},
    "POST events_path(pod.namespace)": {("", "events", "create")},
    "WATCH PODS_PATH": {("", "pods", "list"), ("", "pods", "watch")},
    "WATCH NADS_PATH": {(NAD_GROUP, NAD_PLURAL, "list"), (NAD_GROUP, NAD_PLURAL, "watch")},
}
NODE_SIDE_SOURCES = [
    REPO / "multus" / "k8s" / "apiview.py",
    *sorted((REPO / "multus" / "daemon").glob("*.py")),
]

# Asked as the daemon and expected to be refused: writes to pods and NADs, other subresources, other
# kinds (secrets above all), and verbs next to the granted ones.
DENIED: list[tuple[str, str, str]] = [
    ("create", "pods", ""),
    ("update", "pods", ""),
    ("patch", "pods", ""),
    ("delete", "pods", ""),
    ("deletecollection", "pods", ""),
    ("update", "pods", "status"),
    ("create", "pods", "exec"),
    ("create", "pods", "eviction"),
    ("create", f"{NAD_PLURAL}.{NAD_GROUP}", ""),
    ("update", f"{NAD_PLURAL}.{NAD_GROUP}", ""),
    ("patch", f"{NAD_PLURAL}.{NAD_GROUP}", ""),
    ("delete", f"{NAD_PLURAL}.{NAD_GROUP}", ""),
    ("patch", f"{NAD_PLURAL}.{NAD_GROUP}", "status"),
    ("update", "events", ""),
    ("patch", "events", ""),
    ("delete", "events", ""),
    ("list", "events", ""),
    ("get", "secrets", ""),
    ("list", "secrets", ""),
    ("get", "configmaps", ""),
    ("get", "nodes", ""),
    ("list", "nodes", ""),
    ("create", "serviceaccounts", "token"),
    ("list", "namespaces", ""),
    ("get", "customresourcedefinitions.apiextensions.k8s.io", ""),
]


def documents(folder: Path = DEPLOY) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def one(kind: str, folder: Path = NODE) -> dict[str, Any]:
    matching = [doc for _, doc in documents(folder) if doc["kind"] == kind]
    assert len(matching) == 1, f"{len(matching)} {kind} objects in {folder}"
    return matching[0]


def kubectl_name(doc: dict[str, Any]) -> str:
    """How `kubectl apply` names the object in its output: `daemonset.apps/multus`."""
    api_version = doc["apiVersion"]
    group = api_version.split("/")[0] if "/" in api_version else ""
    kind = doc["kind"].lower()
    return f"{kind}.{group}/{doc['metadata']['name']}" if group else f"{kind}/{doc['metadata']['name']}"


def can_i(
    env: TestEnv, verb: str, resource: str, subresource: str = "", namespace: str | None = None
) -> bool:
    """`kubectl auth can-i` as the daemon's ServiceAccount; `namespace=None` asks across all namespaces."""
    where = ["--all-namespaces"] if namespace is None else ["-n", namespace]
    extra = [f"--subresource={subresource}"] if subresource else []
    done = subprocess.run(
        [
            str(KUBE_BIN / "kubectl"),
            f"--kubeconfig={env.kubeconfig}",
            "auth",
            "can-i",
            verb,
            resource,
            *extra,
            *where,
            f"--as={AS_DAEMON}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    answer = done.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl auth can-i: {done.stdout} {done.stderr}"
    return answer == "yes"


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


def granted(role: dict[str, Any]) -> set[Permission]:
    permissions: set[Permission] = set()
    for rule in role["rules"]:
        assert "resourceNames" not in rule, rule
        assert "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), rule
                    permissions.add((group, resource, verb))
    return permissions


def daemon_container() -> dict[str, Any]:
    containers = one("DaemonSet")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["daemon"]
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
    assert api_classes(NODE_SIDE_SOURCES) == set(), "the node side calls the API through multus.k8s.rest only"
    return set().union(*(API_CALLS[call] for call in calls))


def test_the_daemons_cluster_role_grants_exactly_what_the_code_calls() -> None:
    needed = required_permissions()

    # Every classified call is still made (a stale entry would keep a permission alive for nothing).
    assert set(client_calls(NODE_SIDE_SOURCES)) == set(API_CALLS)
    assert granted(one("ClusterRole")) == needed


def test_the_service_account_can_do_what_it_needs_and_nothing_else(
    apiserver: TestEnv, namespace: str
) -> None:
    apiserver.kubectl("apply", "-f", str(NODE / "rbac.yaml"))

    for group, resource, verb in sorted(required_permissions()):
        name, _, subresource = resource.partition("/")
        qualified = f"{name}.{group}" if group else name
        assert can_i(apiserver, verb, qualified, subresource, namespace), (verb, resource)
        # The caches watch across namespaces; single reads and writes go to the pod's namespace.
        if verb in ("list", "watch"):
            assert can_i(apiserver, verb, qualified, subresource), (verb, resource, "all namespaces")

    refused = [
        (verb, resource, subresource)
        for verb, resource, subresource in DENIED
        if can_i(apiserver, verb, resource, subresource, namespace)
    ]
    assert refused == []
    assert not can_i(apiserver, "*", "*", "", None)


# the DaemonSet and its config -----------------------------------------------------------------------


def test_the_daemonset_config_and_probes_agree(tmp_path: Path) -> None:
    daemonset = one("DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    container = daemon_container()
    config = deployed_config()
    # As multus-daemon reads the mounted file, NODE_NAME as the downward API gives it.
    (tmp_path / "daemon-config.json").write_text(json.dumps(config))
    parsed = load_config(tmp_path / "daemon-config.json", {"NODE_NAME": NODE_NAME})

    # Every key is a daemon setting or a multus key copied into 00-multus.conf: no silent typo.
    known = {field.alias or name for name, field in DaemonConfig.model_fields.items()} | set(NODE_CONFIG_KEYS)
    assert set(config) <= known, set(config) - known
    assert parsed.multus_config_file == "auto"

    # The daemon runs as its ServiceAccount, knows its node, and reads the ConfigMap it is given.
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"] == SERVICE_ACCOUNT[1]
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in container[
        "env"
    ]
    config_volume = next(v for v in pod["volumes"] if "configMap" in v)
    assert config_volume["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == config_volume["name"])
    assert container["command"][-1] == f"{mount['mountPath']}/daemon-config.json"

    # Each host path the config names is mounted from the host at the same place.
    host_paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for key in ("cniConfigDir", "socketDir", "resultsDir", "cniDir", "binDir", "confDir"):
        path = str(config[key]).rstrip("/")
        mounted = [where for where in mounts if path == where or path.startswith(f"{where}/")]
        assert mounted, f"{key} {path} is not mounted"
        assert host_paths[mounts[mounted[0]]] == mounted[0], f"{key}: mounted from another host path"

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
    cni_bin_mount = next(m for m in init["volumeMounts"] if host_paths[m["name"]] == config["binDir"])
    assert f"{cni_bin_mount['mountPath']}/multus-shim" in init["command"][-1]


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


@contextlib.contextmanager
def deployed_daemon(
    root: Path, kubeconfig: Path, cni_bin: Path
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """multus-daemon with the ConfigMap's settings, every host path moved under `root`."""
    config = deployed_config()
    for key, value in config.items():
        if isinstance(value, str) and value.startswith("/"):
            config[key] = str(root / value.lstrip("/"))
            Path(config[key]).mkdir(parents=True, exist_ok=True)
    config["binDir"] = str(cni_bin)
    config |= {"kubeconfig": str(kubeconfig), "metricsPort": free_port(), "metricsAddress": "127.0.0.1"}
    config_file = root / "daemon-config.json"
    config_file.write_text(json.dumps(config))
    log = (root / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(DAEMON), "--config", str(config_file)],
        env={**os.environ, "NODE_NAME": NODE_NAME},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, config
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def wait_until(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def shim_command(tmp_path: Path) -> list[str]:
    """The native shim the DaemonSet installs when it is built, else the Python one as a CNI bin file."""
    native = Path(os.environ.get("MULTUS_NATIVE_SHIM") or REPO / "build" / "multus-shim")
    if native.is_file():
        return [str(native)]
    copy = tmp_path / "multus-shim"
    shutil.copyfile(PYTHON_SHIM, copy)
    copy.chmod(0o755)
    return [str(copy)]


def test_the_daemon_as_deployed_becomes_ready_and_serves_a_pod(
    *,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
) -> None:
    container = daemon_container()
    kubeconfig = service_account_kubeconfig(apiserver, api_client, tmp_path / "kubeconfig")
    root = tmp_path / "host"
    bridge, extra_bridge = unique_name("dpl"), unique_name("dpx")
    # The cluster network the daemon finds in the CNI conf dir, and one NAD.
    ipam = {"type": "host-local", "dataDir": str(tmp_path / "ipam")}
    cluster = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipam": {**ipam, "subnet": "10.199.1.0/24"},
    }
    extra = {"type": "bridge", "bridge": extra_bridge, "ipam": {**ipam, "subnet": "10.199.2.0/24"}}
    custom = client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(
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
    core = client.CoreV1Api(api_client)
    pod = core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="web", annotations={"k8s.v1.cni.cncf.io/networks": "extra"}),
            spec=client.V1PodSpec(
                node_name=NODE_NAME, containers=[client.V1Container(name="c", image="pause")]
            ),
        ),
    )
    assert pod.metadata is not None
    uid = pod.metadata.uid
    try:
        with deployed_daemon(root, kubeconfig, cni_bin) as (process, config):
            conf_dir = Path(config["cniConfigDir"])
            (conf_dir / "10-cluster.conf").write_text(
                json.dumps({"cniVersion": "1.1.0", "name": "cluster", **cluster})
            )
            socket_path = Path(config["socketDir"]) / "multus.sock"
            readiness = container["readinessProbe"]["exec"]["command"]
            liveness = container["livenessProbe"]["exec"]["command"]

            wait_until(lambda: process.poll() is not None or probe(readiness, socket_path) == 0, "readiness")
            assert process.poll() is None, (root / "daemon.log").read_text()
            assert probe(liveness, socket_path) == 0
            node_config = conf_dir / "00-multus.conf"
            wait_until(node_config.exists, "00-multus.conf")
            written = json.loads(node_config.read_text())
            assert written["type"] == "multus-shim"
            assert written["socketDir"] == config["socketDir"]

            environ = {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "CNI_CONTAINERID": f"dpl{os.urandom(8).hex()}",
                "CNI_NETNS": netns_path(netns_name),
                "CNI_IFNAME": "eth0",
                "CNI_ARGS": f"K8S_POD_NAMESPACE={namespace};K8S_POD_NAME=web;K8S_POD_UID={uid}",
                "CNI_PATH": str(cni_bin),
            }
            added = subprocess.run(
                shim_command(tmp_path),
                input=node_config.read_bytes(),
                env={**environ, "CNI_COMMAND": "ADD"},
                capture_output=True,
                check=False,
                timeout=60,
            )
            assert added.returncode == 0, (added.stdout, (root / "daemon.log").read_text()[-3000:])
            assert set(interfaces(netns_path(netns_name))) == {"lo", "eth0", "net1"}

            def status_written() -> bool:
                metadata = core.read_namespaced_pod("web", namespace).metadata
                annotations = (metadata.annotations if metadata else None) or {}
                return "k8s.v1.cni.cncf.io/network-status" in annotations

            def reasons() -> set[str]:
                events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=web").items
                return {str(event.reason) for event in events}

            # The daemon writes both after its reply: the status first, then the Events.
            wait_until(status_written, "network-status")
            wait_until(lambda: reasons() == {"AddedInterface"}, "AddedInterface events")

            deleted = subprocess.run(
                shim_command(tmp_path),
                input=node_config.read_bytes(),
                env={**environ, "CNI_COMMAND": "DEL"},
                capture_output=True,
                check=False,
                timeout=60,
            )
            assert deleted.returncode == 0, deleted.stdout
            assert set(interfaces(netns_path(netns_name))) == {"lo"}

            # SIGTERM: the daemon drains and exits within the DaemonSet's grace period.
            process.send_signal(signal.SIGTERM)
            grace = one("DaemonSet")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            assert process.wait(timeout=grace) == 0
            assert probe(readiness, socket_path) != 0
    finally:
        for name in (bridge, extra_bridge):
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
