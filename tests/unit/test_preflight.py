"""`multus.preflight.findings` on snapshots made here: the daemon config's keys and values, pods in system
namespaces and with annotations refused here, the node's 00-multus.conf (upstream's thin plugin, a
cniVersion that changes, one the nodes' runtimes cannot read). The whole command against the real API
server is tests/e2e/test_preflight.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION, NETWORKS_ANNOTATION
from multus.preflight import Finding, Severity, Snapshot, changes, findings, report

# Settings that change nothing: what remains is what each test brings.
QUIET = {"logToStderr": True, "logFormat": "text", "resultsDir": "/var/lib/cni/multus"}
SOURCE = "ConfigMap kube-system/multus-daemon-config"


def snapshot(
    config: dict[str, Any] | str | None = None,
    *,
    networks: list[dict[str, Any]] | None = None,
    pods: list[dict[str, Any]] | None = None,
    nodes: list[dict[str, Any]] | None = None,
) -> Snapshot:
    text = json.dumps(QUIET | config) if isinstance(config, dict) else config
    return Snapshot("kube-system/multus-daemon-config", text, networks or [], pods or [], nodes or [])


def judged(snap: Snapshot, conf_dir: Path | None = None) -> list[tuple[Severity, str, str]]:
    """The findings other than the metrics notes, which every run has."""
    return [(f.severity, f.subject, f.change) for f in findings(snap, conf_dir) if f.subject != "metrics"]


def pod(namespace: str, name: str, annotations: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "c"}], **spec},
    }


def node(name: str, runtime: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"nodeInfo": {"containerRuntimeVersion": runtime}}}


def test_a_quiet_config_finds_nothing_but_the_metrics() -> None:
    found = findings(snapshot({}), None)

    assert [f.subject for f in found if f.subject != "metrics"] == ["00-multus.conf"]  # not on a node
    assert not changes(found)


def test_keys_the_daemon_refuses_by_name_and_values_that_ask_for_nothing() -> None:
    found = judged(snapshot({"enablePprof": True, "chrootDir": "", "metricsPorts": 9091}))

    assert [(severity, subject) for severity, subject, _ in found if severity is Severity.ERROR] == [
        (Severity.ERROR, f"{SOURCE} key enablePprof"),
        (Severity.ERROR, f"{SOURCE} key metricsPorts"),
    ]
    assert "not a daemon config key" in found[1][2]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"cniVersion": "0.3.1",}', "multus-daemon refuses the daemon config and does not start: "),
        (
            '["cniVersion"]',
            "multus-daemon refuses the daemon config and does not start: must be a JSON object",
        ),
        (json.dumps(QUIET | {"logLevel": "loud"}), "logLevel: must be one of"),
    ],
)
def test_a_config_the_daemon_cannot_read_is_an_error_and_its_defaults_are_checked(
    text: str, problem: str
) -> None:
    found = judged(snapshot(text))

    errors = [(subject, change) for severity, subject, change in found if severity is Severity.ERROR]
    assert len(errors) == 1
    assert errors[0][0] == SOURCE
    assert problem in errors[0][1]


def test_log_settings_left_out_log_otherwise_here() -> None:
    found = judged(snapshot(json.dumps({"resultsDir": "/var/lib/cni/multus"})))

    assert [(severity, subject) for severity, subject, _ in found if severity is not Severity.NOTE] == [
        (Severity.WARNING, f"{SOURCE} key logToStderr"),
        (Severity.WARNING, f"{SOURCE} key logFormat"),
    ]


def test_pods_in_a_system_namespace_lose_their_networks_here() -> None:
    pods = [
        pod("infra", "probe", {NETWORKS_ANNOTATION: "storage"}),
        pod("infra", "router", {DEFAULT_NETWORK_ANNOTATION: "fast"}),
        pod("infra", "plain", {}),
        pod("apps", "web", {NETWORKS_ANNOTATION: "storage"}),
    ]

    found = judged(snapshot({"systemNamespaces": ["infra"]}, pods=pods))

    errors = [(subject, change) for severity, subject, change in found if severity is Severity.ERROR]
    assert [subject for subject, _ in errors] == ["Pod infra/probe", "Pod infra/router"]
    assert errors[0][1].startswith(
        "namespace infra is in systemNamespaces: here the pod gets only the cluster"
    )


def test_annotations_refused_here_unless_no_sandbox_is_made_for_the_pod() -> None:
    bad = {NETWORKS_ANNOTATION: "a,,b"}
    pods = [
        pod("apps", "web", bad),
        pod("apps", "host", bad, hostNetwork=True),
        {**pod("apps", "done", bad), "status": {"phase": "Succeeded"}},
        pod("apps", "router", {DEFAULT_NETWORK_ANNOTATION: "a,b"}),
    ]

    found = judged(snapshot({}, pods=pods))

    errors = [(subject, change) for severity, subject, change in found if severity is Severity.ERROR]
    assert [subject for subject, _ in errors] == ["Pod apps/web", "Pod apps/router"]
    assert errors[0][1].startswith("multus-py refuses its annotation, so the pod cannot start: ")
    assert "element 1 is empty" in errors[0][1]


def test_a_nad_whose_capabilities_are_not_an_object_is_refused() -> None:
    nad = {
        "metadata": {"namespace": "apps", "name": "odd"},
        "spec": {"config": json.dumps({"cniVersion": "1.0.0", "type": "bridge", "capabilities": "all"})},
    }

    found = judged(snapshot({}, networks=[nad], pods=[pod("apps", "web", {NETWORKS_ANNOTATION: "odd"})]))

    assert found[0][:2] == (Severity.ERROR, "NetworkAttachmentDefinition apps/odd")
    assert "'capabilities' must be an object" in found[0][2]
    assert found[0][2].endswith("the pods naming it cannot start: apps/web")


def conf_dir_with(tmp_path: Path, node_config: dict[str, Any] | None, primary_version: str) -> Path:
    if node_config is not None:
        (tmp_path / "00-multus.conf").write_text(json.dumps(node_config))
    primary = {"cniVersion": primary_version, "name": "cbr0", "plugins": [{"type": "flannel"}]}
    (tmp_path / "10-flannel.conflist").write_text(json.dumps(primary))
    return tmp_path


def test_cni_version_changes_from_what_upstream_wrote(tmp_path: Path) -> None:
    conf_dir = conf_dir_with(tmp_path, {"cniVersion": "0.3.1", "type": "multus-shim"}, "1.0.0")

    found = [f for f in findings(snapshot({}), conf_dir) if f.severity is not Severity.NOTE]

    assert found == [
        Finding(
            Severity.WARNING,
            str(conf_dir / "00-multus.conf"),
            "cniVersion changes from 0.3.1 to 1.0.0 (from the primary config 10-flannel.conflist): every "
            "answer the runtime gets is in that version",
            'set "cniVersion": "0.3.1" in the daemon config to keep it',
        )
    ]


def test_a_node_on_upstreams_thin_plugin(tmp_path: Path) -> None:
    conf_dir = conf_dir_with(tmp_path, {"cniVersion": "0.3.1", "type": "multus"}, "0.3.1")

    found = judged(snapshot({"cniVersion": "0.3.1"}), conf_dir)

    assert [(severity, subject) for severity, subject, _ in found] == [
        (Severity.WARNING, str(conf_dir / "00-multus.conf"))
    ]
    assert "upstream's thin plugin" in found[0][2]


@pytest.mark.parametrize(
    ("runtimes", "severity", "fragment"),
    [
        (
            {"a": "containerd://1.6.20", "b": "containerd://2.1.0"},
            Severity.ERROR,
            "no pod can start on a (containerd://1.6.20)",
        ),
        ({"a": "containerd://2.0.2", "b": "cri-o://1.30.0"}, Severity.WARNING, "needs libcni v1.2.0"),
        ({}, Severity.WARNING, "needs libcni v1.2.0"),
        ({"a": "containerd://v2.2.1"}, Severity.NOTE, "every node runs containerd 2.0 or later"),
    ],
)
def test_cni_version_1_1_0_against_the_nodes_runtimes(
    tmp_path: Path, runtimes: dict[str, str], severity: Severity, fragment: str
) -> None:
    conf_dir = conf_dir_with(tmp_path, {"cniVersion": "1.1.0", "type": "multus-shim"}, "1.1.0")
    nodes = [node(name, runtime) for name, runtime in runtimes.items()]

    found = judged(snapshot({}, nodes=nodes), conf_dir)

    assert [(s, subject) for s, subject, _ in found] == [(severity, str(conf_dir / "00-multus.conf"))]
    assert fragment in found[0][2]
    assert "1.1.0 (from the primary config 10-flannel.conflist)" in found[0][2]


def test_report_lines_and_json() -> None:
    found = [
        Finding(Severity.ERROR, "Pod a/b", "it breaks", "fix it"),
        Finding(Severity.NOTE, "metrics", "for your information"),
    ]

    assert report(found, "text").splitlines() == [
        "ERROR   Pod a/b: it breaks => fix it",
        "NOTE    metrics: for your information",
        "preflight: 1 error(s), 0 warning(s), 1 note(s): something changes",
    ]
    assert json.loads(report(found[1:], "json")) == {
        "changes": False,
        "findings": [
            {"severity": "note", "subject": "metrics", "change": "for your information", "action": ""}
        ],
    }
