"""`multusctl preflight`: what will behave differently when a cluster running upstream Multus v4.3 (thick)
switches to multus-py, found before anything is changed.

`gather` reads the cluster: upstream's daemon ConfigMap (`kube-system/multus-daemon-config`, key
`daemon-config.json`), the NetworkAttachmentDefinitions and pods of every namespace (or of those asked
for) and the nodes' container runtimes. `findings` judges that, with the node's CNI conf dir (its
primary config and the `00-multus.conf` upstream wrote), by the rules multus-daemon and the meta-plugin
apply themselves (`multus.daemon.settings`, `multus.daemon.nodeconfig`, `multus.k8s`), and lists one
`Finding` per difference:

- error: breaks after the switch (the daemon does not start, a pod cannot start or loses networks);
- warning: works, differently;
- note: for information; it changes nothing that runs now.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from multus.cni.errors import CNIError, UnsupportedField
from multus.cni.jsontext import MalformedJSON, decode_json
from multus.cni.versions import at_least
from multus.config import MultusConfig
from multus.daemon.metrics import DaemonMetrics
from multus.daemon.nodeconfig import FALLBACK_VERSION, OWN_CONFIG, NodeConfigSettings, find_primary, render
from multus.daemon.settings import ConfigRefused, DaemonConfig, load_config, refusals
from multus.k8s.annotations import parse_default_network_annotation, parse_networks_annotation
from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.k8s.delegate_inputs import (
    check_capabilities,
    declared_capabilities,
    missing_capabilities,
    requested_capabilities,
)
from multus.k8s.nad import InlineConfig, NetworkAttachmentDefinition, parse_nad
from multus.k8s.namespaces import gets_only_cluster_network
from multus.kube.credentials import ConfigError, load_credentials
from multus.kube.errors import ApiError, NotFound, Unavailable
from multus.kube.paths import NODES_PATH, config_map_path, nads_path, pods_path
from multus.kube.rest import RestClient
from multus.resolution import load_conf_file

DEFAULT_CONFIG_MAP = "kube-system/multus-daemon-config"
DEFAULT_CONFIG_KEY = "daemon-config.json"
# Upstream's shims look for the daemon's socket here unless 00-multus.conf names daemonSocketDir.
UPSTREAM_SHIM_SOCKET_DIR = Path("/run/multus")
UPSTREAM_METRIC = "multus_server_request_total"
# A finished pod has no sandbox left: nothing is added or deleted for it any more.
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
PAGE_SIZE = "500"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    subject: str  # the object that changes: a ConfigMap key, a NAD, a pod, a file, "metrics"
    change: str  # what behaves differently after the switch
    action: str = ""  # what to do about it; empty when nothing needs doing

    def line(self) -> str:
        text = f"{self.severity.upper():<7} {self.subject}: {self.change}"
        return f"{text} => {self.action}" if self.action else text

    def to_json(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "subject": self.subject,
            "change": self.change,
            "action": self.action,
        }


def changes(found: Sequence[Finding]) -> bool:
    """Whether anything would behave differently (notes change nothing)."""
    return any(finding.severity is not Severity.NOTE for finding in found)


@dataclass(frozen=True)
class Snapshot:
    """What was read from the cluster."""

    config_map: str  # namespace/name
    config_text: str | None  # the daemon config's JSON text; None when there is no such ConfigMap
    networks: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    nodes: list[dict[str, Any]]


def findings(snapshot: Snapshot, conf_dir: Path | None) -> list[Finding]:
    """Every difference, errors first; `conf_dir` is the node's CNI conf dir (None: not on a node)."""
    source = f"ConfigMap {snapshot.config_map}"
    found: list[Finding] = []
    raw: dict[str, Any] = {}
    unreadable: list[Finding] = []
    if snapshot.config_text is None:
        found.append(
            Finding(
                Severity.NOTE,
                source,
                "not found: multus-daemon's defaults were checked instead",
                "give --daemon-config-map if the daemon config lives elsewhere",
            )
        )
    else:
        raw, unreadable = decode_config(snapshot.config_text, source)
        found += unreadable
    found += config_key_findings(raw, source)
    settings, refused = daemon_settings(raw, source)
    found += refused
    multus = MultusConfig.model_validate(settings.node_config_options())
    if not (unreadable or refused):  # else these are the defaults, not what the config asks for
        found += meaning_findings(raw, settings, multus, source)
    found += network_findings(snapshot.networks, snapshot.pods, multus)
    found += node_config_findings(settings, conf_dir, snapshot.nodes)
    found += metric_findings(settings)
    order = list(Severity)
    return sorted(found, key=lambda finding: order.index(finding.severity))


# The daemon config -------------------------------------------------------------------------------


def decode_config(text: str, source: str) -> tuple[dict[str, Any], list[Finding]]:
    """The config's JSON object, read as the daemon reads it; {} and an error when it is not one."""
    try:
        raw = decode_json(text)
    except MalformedJSON as error:
        raw, problem = None, str(error)
    else:
        problem = "must be a JSON object"
    if isinstance(raw, dict):
        return raw, []
    change = f"multus-daemon refuses the daemon config and does not start: {problem}"
    return {}, [Finding(Severity.ERROR, source, change, "fix the JSON")]


def config_key_findings(raw: Mapping[str, Any], source: str) -> list[Finding]:
    """Keys multus-daemon refuses: upstream's keys it does not implement, and keys it does not know."""
    found = []
    for key, value in raw.items():
        for problem in refusals({key: value}):
            why = problem.removeprefix(f"{key}: ")
            found.append(
                Finding(
                    Severity.ERROR,
                    f"{source} key {key}",
                    f"multus-daemon does not start with it: {why}",
                    f'remove "{key}" from the daemon config',
                )
            )
    return found


def daemon_settings(raw: Mapping[str, Any], source: str) -> tuple[DaemonConfig, list[Finding]]:
    """The settings multus-daemon would run with: `raw` without the keys it refuses (reported by
    `config_key_findings`); its defaults, and an error, when it refuses a value too."""
    runnable = {key: value for key, value in raw.items() if not refusals({key: value})}
    try:
        return _load(runnable), []
    except ConfigRefused as error:
        change = f"multus-daemon refuses the daemon config and does not start: {error}"
        return _load({}), [Finding(Severity.ERROR, source, change, "fix the value (docs/daemon-config.md)")]


def _load(raw: Mapping[str, Any]) -> DaemonConfig:
    # Through the daemon's own loader, which reads a file; the node name is the daemon's environment's.
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(raw, file)
        file.flush()
        return load_config(Path(file.name), {"MULTUS_NODE_NAME": "preflight"})


def meaning_findings(
    raw: Mapping[str, Any], settings: DaemonConfig, multus: MultusConfig, source: str
) -> list[Finding]:
    """Keys multus-daemon implements whose value, or absence, means something else than upstream's."""
    found = []
    if "daemonSocketDir" not in raw and settings.socket_dir != UPSTREAM_SHIM_SOCKET_DIR:
        found.append(
            Finding(
                Severity.ERROR,
                f"{source} key socketDir",
                f"the shims look for the daemon's socket in {settings.socket_dir}, the folder 00-multus.conf "
                f"names (upstream's look in {UPSTREAM_SHIM_SOCKET_DIR}, daemonSocketDir's default): where "
                "that folder is the daemon container's only, every pod's ADD fails with code 11",
                f'add "daemonSocketDir": "{UPSTREAM_SHIM_SOCKET_DIR}", the folder as the host sees it',
            )
        )
    if "logToStderr" not in raw:
        found.append(
            Finding(
                Severity.WARNING,
                f"{source} key logToStderr",
                "unset: multus-daemon logs to stderr (its default is true, upstream's false)",
                'set "logToStderr": false to keep upstream\'s',
            )
        )
    if "logFormat" not in raw:
        found.append(
            Finding(
                Severity.WARNING,
                f"{source} key logFormat",
                "unset: multus-daemon logs one JSON object per line (upstream logs text lines)",
                'set "logFormat": "text" for upstream\'s lines',
            )
        )
    if settings.results_dir != multus.cni_dir:
        found.append(
            Finding(
                Severity.WARNING,
                f"{source} key resultsDir",
                f"upstream cached its delegates' results in {multus.cni_dir}/results (its cniDir); "
                f"multus-daemon reads {settings.results_dir}/results, so it deletes the pods upstream added "
                "by rebuilding their attachments from the pod and its NADs as they are then, and what "
                "cannot be rebuilt (the pod already gone, a NAD deleted) leaks its addresses "
                '(docs/migrating-from-multus.md, "Pods upstream added")',
                f'set "resultsDir": "{multus.cni_dir}" to delete them from what upstream cached',
            )
        )
    return found


# NetworkAttachmentDefinitions and pods -----------------------------------------------------------

NetworkKey = tuple[str, str]


def network_findings(
    networks: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]], multus: MultusConfig
) -> list[Finding]:
    """NADs refused here, pods whose networks fail or are dropped here, and what each NAD's pods may
    request of it."""
    nads: dict[NetworkKey, NetworkAttachmentDefinition] = {}
    refused: dict[NetworkKey, tuple[str, Mapping[str, Any]]] = {}
    for obj in networks:
        metadata = obj.get("metadata") or {}
        key = (str(metadata.get("namespace")), str(metadata.get("name")))
        try:
            nad = parse_nad(obj)
            if isinstance(nad.config, InlineConfig):
                declared_capabilities(nad.config.config)  # malformed capabilities fail every ADD
        except CNIError as error:
            refused[key] = (error.msg.removeprefix(f"NetworkAttachmentDefinition {key[0]}/{key[1]}: "), obj)
        else:
            nads[key] = nad
    users: dict[NetworkKey, list[str]] = defaultdict(list)
    found = [finding for pod in pods for finding in _pod_findings(pod, nads, users, multus)]
    for (namespace, name), (why, obj) in refused.items():
        named_by = users.get((namespace, name))
        change = f"multus-py refuses it: {why}"
        if named_by:
            change += f"; the pods naming it cannot start: {', '.join(named_by)}"
        found.append(
            Finding(Severity.ERROR, f"NetworkAttachmentDefinition {namespace}/{name}", change, _fix_for(obj))
        )
    for (namespace, name), nad in nads.items():
        if isinstance(nad.config, InlineConfig):
            declared = ", ".join(sorted(declared_capabilities(nad.config.config))) or "no capability"
            found.append(
                Finding(
                    Severity.NOTE,
                    f"NetworkAttachmentDefinition {namespace}/{name}",
                    f"its plugins declare {declared}: a pod requesting any other capability but ips and "
                    "mac (which also go through CNI_ARGS) on it cannot start here; upstream dropped such "
                    "requests",
                )
            )
    return found


def _fix_for(nad: Mapping[str, Any]) -> str:
    try:
        config = decode_json(str((nad.get("spec") or {}).get("config")))
    except MalformedJSON:
        config = None
    if isinstance(config, dict) and "type" in config and "plugins" in config:
        return "keep 'type' and drop 'plugins' to run what upstream ran (it ignored the list), or the reverse"
    return "fix spec.config"


def _pod_findings(
    pod: Mapping[str, Any],
    nads: Mapping[NetworkKey, NetworkAttachmentDefinition],
    users: dict[NetworkKey, list[str]],
    multus: MultusConfig,
) -> list[Finding]:
    """What changes for one pod; the NADs it names are added to `users`."""
    metadata, spec, status = (pod.get(part) or {} for part in ("metadata", "spec", "status"))
    if spec.get("hostNetwork") or status.get("phase") in FINISHED_PHASES:
        return []  # no CNI ADD is made for it
    namespace, annotations = str(metadata.get("namespace")), metadata.get("annotations") or {}
    networks, default = annotations.get(NETWORKS_ANNOTATION), annotations.get(DEFAULT_NETWORK_ANNOTATION)
    if not (networks or default):
        return []
    subject = f"Pod {namespace}/{metadata.get('name')}"
    if gets_only_cluster_network(namespace, multus.namespace_policy):
        return [
            Finding(
                Severity.ERROR,
                subject,
                f"namespace {namespace} is in systemNamespaces: here the pod gets only the cluster network, "
                "not the networks its annotations name (upstream compares systemNamespaces with the pod's "
                "name, so it attached them)",
                f"take {namespace} out of systemNamespaces in the daemon config, or move the pod",
            )
        ]
    try:
        selections = parse_networks_annotation(networks, namespace)
        parse_default_network_annotation(default, multus.multus_namespace)
    except CNIError as error:
        change = f"multus-py refuses its annotation, so the pod cannot start: {error.msg}"
        return [Finding(Severity.ERROR, subject, change, "fix the annotation")]
    found = []
    for selection in selections:
        key = (selection.namespace, selection.name)
        users[key].append(f"{namespace}/{metadata.get('name')}")
        nad = nads.get(key)
        if nad is None or not isinstance(nad.config, InlineConfig):
            continue  # missing (it fails upstream too) or on the node's disk: nothing to compare here
        config = nad.config.config
        try:
            check_capabilities(selection, config)
        except UnsupportedField as error:
            found.append(
                Finding(
                    Severity.ERROR,
                    subject,
                    f"its ADD fails here, where upstream dropped the request: {error.msg}",
                    f"add a plugin declaring the capability to {selection.reference} (portmap: "
                    "portMappings, bandwidth: bandwidth), or remove the request",
                )
            )
        through_args = (
            requested_capabilities(selection)
            - declared_capabilities(config)
            - missing_capabilities(selection, config)
        )
        if through_args:
            found.append(
                Finding(
                    Severity.NOTE,
                    subject,
                    f"network {selection.reference}: {' and '.join(sorted(through_args))} reach its plugins "
                    "as IP=/MAC= in CNI_ARGS only, as upstream passes them; here the ADD fails if the pod "
                    "does not get them (upstream started it with what the plugins gave)",
                    "none if its plugins read them (static IPAM, host-local and tuning do)",
                )
            )
    return found


# The node: 00-multus.conf ------------------------------------------------------------------------


def node_config_findings(
    settings: DaemonConfig, conf_dir: Path | None, nodes: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    """The cniVersion 00-multus.conf will carry, against the one upstream wrote and the runtimes' libcni;
    a node on upstream's thin plugin."""
    version, origin = settings.cni_version, "the daemon config's cniVersion"
    subject = str(conf_dir / OWN_CONFIG) if conf_dir is not None else OWN_CONFIG
    found: list[Finding] = []
    current: dict[str, Any] | None = None
    if conf_dir is not None:
        current = _read_conf(conf_dir / OWN_CONFIG, found)
        if version is None:
            named = settings.multus_master_cni
            primary = conf_dir / named if named else find_primary(conf_dir)
            if primary is not None and _read_conf(primary, found) is not None:
                version = render(primary, NodeConfigSettings())["cniVersion"]
                origin = f"from the primary config {primary.name}"
    if current is not None and current.get("type") == "multus":
        found.append(
            Finding(
                Severity.WARNING,
                subject,
                "the node runs upstream's thin plugin (type multus); multus-py's DaemonSet is thick and "
                "replaces this file with one for multus-shim",
                "read the thin-mode note of docs/migrating-from-multus.md",
            )
        )
    if version is None:
        where = f"{conf_dir} holds no primary config" if conf_dir is not None else "no CNI conf dir was read"
        found.append(
            Finding(
                Severity.NOTE,
                subject,
                f"cniVersion: the primary config's, and {where}",
                "run preflight on a node, with --cni-conf-dir if the runtime's is not /etc/cni/net.d",
            )
        )
        return found
    was = current.get("cniVersion") if current is not None else None
    if isinstance(was, str) and was != version:
        found.append(
            Finding(
                Severity.WARNING,
                subject,
                f"cniVersion changes from {was} to {version} ({origin}): every answer the runtime gets "
                "is in that version",
                f'set "cniVersion": "{was}" in the daemon config to keep it',
            )
        )
    if not at_least(FALLBACK_VERSION, version):
        found.append(_libcni_finding(subject, version, origin, nodes))
    return found


def _read_conf(path: Path, found: list[Finding]) -> dict[str, Any] | None:
    """A CNI config file; None when it is absent, or unreadable (then a finding says so)."""
    if not path.exists():
        return None
    try:
        return load_conf_file(path)
    except CNIError as error:
        found.append(Finding(Severity.WARNING, str(path), f"unreadable: {error}", "check the file"))
        return None


def _libcni_finding(subject: str, version: str, origin: str, nodes: Sequence[Mapping[str, Any]]) -> Finding:
    """libcni before v1.2.0 refuses results newer than FALLBACK_VERSION, after the plugins ran."""
    runtimes = {
        str((node.get("metadata") or {}).get("name")): str(
            ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
        )
        for node in nodes
    }
    old = [
        f"{name} ({runtime})" for name, runtime in sorted(runtimes.items()) if _containerd_major(runtime) == 1
    ]
    unknown = [name for name, runtime in runtimes.items() if (_containerd_major(runtime) or 0) < 1]
    keep = f'set "cniVersion": "{FALLBACK_VERSION}" in the daemon config'
    if old:
        return Finding(
            Severity.ERROR,
            subject,
            f"cniVersion {version} ({origin}): the runtime's libcni (containerd 1.x: before v1.2.0) "
            f"refuses such results after the plugins ran, so no pod can start on {', '.join(old)}",
            keep,
        )
    if unknown or not runtimes:
        return Finding(
            Severity.WARNING,
            subject,
            f"cniVersion {version} ({origin}) needs libcni v1.2.0 or later in the runtime (containerd 2.0 "
            "or later); before it, libcni refuses such results after the plugins ran",
            f"check the runtimes of {', '.join(sorted(unknown)) or 'the nodes'}, or {keep}",
        )
    return Finding(
        Severity.NOTE,
        subject,
        f"cniVersion {version} ({origin}): every node runs containerd 2.0 or later, whose libcni reads it",
    )


def _containerd_major(runtime: str) -> int | None:
    """The major version of `containerd://1.6.20`; None for another runtime or an odd version."""
    kind, _, version = runtime.partition("://")
    major = version.lstrip("v").split(".", 1)[0]
    return int(major) if kind == "containerd" and major.isdigit() else None


# Metrics -----------------------------------------------------------------------------------------


def metric_findings(settings: DaemonConfig) -> list[Finding]:
    names = [
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in DaemonMetrics().registry.collect()
    ]
    served = (
        f"on metricsPort {settings.metrics_port}"
        if settings.metrics_port
        else "once metricsPort is set (it is not: no /metrics, as upstream)"
    )
    ours = ", ".join(name for name in names if name != UPSTREAM_METRIC)
    if UPSTREAM_METRIC not in names:
        return [
            Finding(
                Severity.WARNING,
                "metrics",
                f"{UPSTREAM_METRIC} is not exported: dashboards and alerts on it stop working",
                "move them to " + ours,
            )
        ]
    return [
        Finding(
            Severity.NOTE,
            "metrics",
            f"{UPSTREAM_METRIC} keeps upstream's name and labels, {served}: dashboards and alerts on it "
            "keep working",
        ),
        Finding(Severity.NOTE, "metrics", f"multus-daemon also exports {ours}"),
    ]


# Reading the cluster -----------------------------------------------------------------------------


class PreflightError(Exception):
    """The cluster cannot be read; the message is one line saying why."""


@dataclass(frozen=True)
class Sources:
    kubeconfig: Path | None  # None: the pod's service account
    config_map: str = DEFAULT_CONFIG_MAP  # namespace/name
    config_key: str = DEFAULT_CONFIG_KEY
    namespaces: tuple[str, ...] = ()  # NADs and pods of these only; empty: every namespace
    request_timeout: float = 10.0


async def gather(sources: Sources) -> Snapshot:
    try:
        credentials = load_credentials(sources.kubeconfig)
    except ConfigError as error:
        raise PreflightError(str(error)) from None
    client = RestClient(credentials, sources.request_timeout)
    try:
        return Snapshot(
            config_map=sources.config_map,
            config_text=await _config_text(client, sources),
            networks=await _list_each(client, "NetworkAttachmentDefinitions", nads_path, sources.namespaces),
            pods=await _list_each(client, "pods", pods_path, sources.namespaces),
            nodes=await _list(client, "nodes", NODES_PATH),
        )
    except Unavailable as error:
        raise PreflightError(f"cannot reach the API server {credentials.server}: {error}") from None
    finally:
        await client.close()


async def _config_text(client: RestClient, sources: Sources) -> str | None:
    namespace, _, name = sources.config_map.partition("/")
    try:
        config_map = await client.request("GET", config_map_path(namespace, name))
    except NotFound:
        return None
    except Unavailable:
        raise  # `gather` names the server
    except ApiError as error:
        raise PreflightError(f"cannot read ConfigMap {sources.config_map}: {error}") from None
    text = (config_map.get("data") or {}).get(sources.config_key)
    if not isinstance(text, str):
        raise PreflightError(f"ConfigMap {sources.config_map} has no key {sources.config_key}")
    return text


async def _list_each(
    client: RestClient, what: str, path: Callable[[str | None], str], namespaces: Sequence[str]
) -> list[dict[str, Any]]:
    """The objects at `path` of each namespace in `namespaces`, or of all namespaces when it is empty."""
    if not namespaces:
        return await _list(client, what, path(None))
    return [item for ns in namespaces for item in await _list(client, what, path(ns))]


async def _list(client: RestClient, what: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"limit": PAGE_SIZE, **({"continue": token} if token else {})}
        try:
            page = await client.request("GET", path, params=params)
        except Unavailable:
            raise  # `gather` names the server
        except ApiError as error:
            raise PreflightError(f"cannot list {what}: {error}") from None
        items += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def report(found: Sequence[Finding], output: str) -> str:
    """The findings as lines for people, or as one JSON document."""
    if output == "json":
        return json.dumps({"changes": changes(found), "findings": [f.to_json() for f in found]}, indent=2)
    counts = {severity: sum(f.severity is severity for f in found) for severity in Severity}
    summary = ", ".join(f"{count} {severity}(s)" for severity, count in counts.items())
    verdict = "something changes" if changes(found) else "nothing that runs now changes"
    return "\n".join([*(f.line() for f in found), f"preflight: {summary}: {verdict}"])
