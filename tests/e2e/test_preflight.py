"""`multusctl preflight` against the real API server, run as the real entry point (.venv/bin/multusctl).

A namespace holds upstream v4.3's shipped daemon ConfigMap (tests/e2e/node_manifests.py), NADs of the
forms upstream documents (macvlan with static IPAM with and without declared capabilities, bridge with
host-local, a network whose pod asks for portMappings no plugin declares, a config with both `type` and
`plugins`) and pods annotated to use them; a folder stands for the node's CNI conf dir, with a primary
config and the 00-multus.conf upstream's daemon wrote. Preflight lists exactly the expected findings and
exits 1; with the ConfigMap fixed and only compatible networks it exits 0; a kubeconfig it cannot use,
or an API server it cannot reach, exit 2 with one line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from multus.k8s.constants import NAD_GROUP, NAD_VERSION, NETWORKS_ANNOTATION
from tests.e2e.node_manifests import UPSTREAM_DAEMON_CONFIG
from tests.testenv import REPO, TestEnv

pytestmark = pytest.mark.e2e

MULTUSCTL = REPO / ".venv" / "bin" / "multusctl"
CONFIG_MAP = "multus-daemon-config"

# Upstream's documented NAD forms (its how-to-use guide), each as spec.config.
NADS: dict[str, dict[str, Any]] = {
    "macvlan-static-ips": {
        "cniVersion": "0.3.1",
        "plugins": [
            {
                "type": "macvlan",
                "capabilities": {"ips": True},
                "master": "eth1",
                "mode": "bridge",
                "ipam": {"type": "static"},
            },
            {"type": "tuning", "capabilities": {"mac": True}},
        ],
    },
    "macvlan-static": {
        "cniVersion": "0.3.1",
        "type": "macvlan",
        "master": "eth1",
        "mode": "bridge",
        "ipam": {"type": "static"},
    },
    "bridge-conf": {
        "cniVersion": "0.3.1",
        "type": "bridge",
        "bridge": "mybr0",
        "ipam": {"type": "host-local", "subnet": "192.168.12.0/24"},
    },
    "web": {
        "cniVersion": "0.3.1",
        "type": "bridge",
        "bridge": "webbr0",
        "ipam": {"type": "host-local", "subnet": "192.168.13.0/24"},
    },
    "both": {"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", "plugins": [{"type": "macvlan"}]},
}
# Pod name -> the NAD it uses and its k8s.v1.cni.cncf.io/networks annotation.
PODS: dict[str, tuple[str, str]] = {
    "static-ips": (
        "macvlan-static-ips",
        json.dumps([{"name": "macvlan-static-ips", "ips": ["10.1.1.101/24"], "mac": "c2:b0:57:49:47:f1"}]),
    ),
    "static": ("macvlan-static", json.dumps([{"name": "macvlan-static", "ips": ["10.1.1.102/24"]}])),
    "bridge": ("bridge-conf", "bridge-conf"),
    "web": ("web", json.dumps([{"name": "web", "portMappings": [{"hostPort": 8080, "containerPort": 80}]}])),
    "both": ("both", "both"),
}
# What upstream's daemon writes in front of a flannel primary, with the shipped ConfigMap.
UPSTREAM_NODE_CONFIG = {
    "cniVersion": "0.3.1",
    "name": "multus-cni-network",
    "type": "multus-shim",
    "logLevel": "verbose",
    "logToStderr": True,
    "clusterNetwork": "/host/etc/cni/net.d/10-flannel.conflist",
}
PRIMARY = {
    "name": "cbr0",
    "cniVersion": "0.3.1",
    "plugins": [
        {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """The node's CNI conf dir as upstream's thick daemon leaves it."""
    folder = tmp_path / "net.d"
    folder.mkdir()
    (folder / "00-multus.conf").write_text(json.dumps(UPSTREAM_NODE_CONFIG))
    (folder / "10-flannel.conflist").write_text(json.dumps(PRIMARY))
    return folder


def apply(env: TestEnv, folder: Path, namespace: str, daemon_config: dict[str, Any], nads: list[str]) -> None:
    """The ConfigMap, the NADs named and the pods using only those, created with kubectl."""
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIG_MAP, "namespace": namespace},
            "data": {"daemon-config.json": json.dumps(daemon_config, indent=4)},
        }
    ]
    for name in nads:
        objects.append(
            {
                "apiVersion": f"{NAD_GROUP}/{NAD_VERSION}",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"config": json.dumps(NADS[name])},
            }
        )
    for name, (network, annotation) in PODS.items():
        if network not in nads:
            continue
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "annotations": {NETWORKS_ANNOTATION: annotation},
                },
                "spec": {"containers": [{"name": "c", "image": "pause"}]},
            }
        )
    manifest = folder / "objects.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    env.kubectl("apply", "-f", str(manifest))


def preflight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MULTUSCTL), "preflight", *args], capture_output=True, text=True, check=False, timeout=120
    )


def scoped(env: TestEnv, namespace: str, conf_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Preflight on the test's namespace only (the session's API server holds other tests' objects)."""
    return preflight(
        f"--kubeconfig={env.kubeconfig}",
        f"--daemon-config-map={namespace}/{CONFIG_MAP}",
        f"--cni-conf-dir={conf_dir}",
        f"--namespace={namespace}",
        *extra,
    )


def test_upstream_install_lists_each_change_and_exits_1(
    apiserver: TestEnv, namespace: str, conf_dir: Path, tmp_path: Path
) -> None:
    apply(apiserver, tmp_path, namespace, UPSTREAM_DAEMON_CONFIG, list(NADS))

    done = scoped(apiserver, namespace, conf_dir, "--output=json")

    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    report = json.loads(done.stdout)
    assert report["changes"] is True
    found = {(f["severity"], f["subject"]): f for f in report["findings"]}
    source = f"ConfigMap {namespace}/{CONFIG_MAP}"
    nad = f"NetworkAttachmentDefinition {namespace}"
    assert sorted(found) == sorted(
        [
            ("error", f"{source} key chrootDir"),
            ("error", f"{source} key socketDir"),
            ("error", f"{nad}/both"),
            ("error", f"Pod {namespace}/web"),
            ("warning", f"{source} key logFormat"),
            ("warning", f"{source} key resultsDir"),
            ("note", f"Pod {namespace}/static"),
            ("note", f"{nad}/macvlan-static-ips"),
            ("note", f"{nad}/macvlan-static"),
            ("note", f"{nad}/bridge-conf"),
            ("note", f"{nad}/web"),
            ("note", "metrics"),
        ]
    )
    assert len(report["findings"]) == 13  # two notes on metrics
    assert [f["severity"] for f in report["findings"]] == ["error"] * 4 + ["warning"] * 2 + ["note"] * 7
    chroot = found[("error", f"{source} key chrootDir")]
    assert (
        "multus-daemon does not start with it: not supported: delegates run in the daemon's own root"
        in chroot["change"]
    )
    assert chroot["action"] == 'remove "chrootDir" from the daemon config'
    assert (
        found[("error", f"{source} key socketDir")]["action"]
        == 'add "daemonSocketDir": "/run/multus", the folder as the host sees it'
    )
    assert found[("warning", f"{source} key resultsDir")]["action"] == (
        'set "resultsDir": "/var/lib/cni/multus" to delete them from what upstream cached'
    )
    both = found[("error", f"{nad}/both")]
    assert "has both 'type' and 'plugins'" in both["change"]
    assert both["change"].endswith(f"the pods naming it cannot start: {namespace}/both")
    assert "upstream ran" in both["action"]
    web = found[("error", f"Pod {namespace}/web")]
    assert '"portMappings" (capability portMappings)' in web["change"]
    assert web["change"].startswith("its ADD fails here, where upstream dropped the request")
    assert (
        "network " + f"{namespace}/macvlan-static: ips reach its plugins as IP=/MAC= in CNI_ARGS"
        in (found[("note", f"Pod {namespace}/static")]["change"])
    )
    assert found[("note", f"{nad}/macvlan-static-ips")]["change"].startswith("its plugins declare ips, mac:")
    assert found[("note", f"{nad}/bridge-conf")]["change"].startswith("its plugins declare no capability:")
    metrics = [f["change"] for f in report["findings"] if f["subject"] == "metrics"]
    assert metrics[0].startswith("multus_server_request_total keeps upstream's name and labels")
    assert metrics[1].startswith("multus-daemon also exports multus_requests_total, ")


def test_text_output_is_one_line_per_finding(
    apiserver: TestEnv, namespace: str, conf_dir: Path, tmp_path: Path
) -> None:
    apply(apiserver, tmp_path, namespace, UPSTREAM_DAEMON_CONFIG, ["web"])

    done = scoped(apiserver, namespace, conf_dir)

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "preflight: 3 error(s), 2 warning(s), 3 note(s): something changes"
    assert lines[0].startswith(
        f"ERROR   ConfigMap {namespace}/{CONFIG_MAP} key chrootDir: multus-daemon does not start with it"
    )
    assert lines[0].endswith(' => remove "chrootDir" from the daemon config')
    assert f"ERROR   Pod {namespace}/web: its ADD fails here" in done.stdout
    assert [line.split()[0] for line in lines[:-1]] == ["ERROR"] * 3 + ["WARNING"] * 2 + ["NOTE"] * 3


def test_a_compatible_cluster_exits_0(
    apiserver: TestEnv, namespace: str, conf_dir: Path, tmp_path: Path
) -> None:
    """Upstream's ConfigMap without chrootDir, with the socket folder as the host sees it, the result
    cache where upstream's delegates left theirs and upstream's log lines; networks whose pods ask only
    for what they declare."""
    daemon_config = {key: value for key, value in UPSTREAM_DAEMON_CONFIG.items() if key != "chrootDir"}
    daemon_config |= {
        "daemonSocketDir": "/run/multus/",
        "resultsDir": "/var/lib/cni/multus",
        "logFormat": "text",
    }
    apply(apiserver, tmp_path, namespace, daemon_config, ["macvlan-static-ips", "bridge-conf"])

    done = scoped(apiserver, namespace, conf_dir, "--output=json")

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["changes"] is False
    assert {f["severity"] for f in report["findings"]} == {"note"}
    assert len(report["findings"]) == 4  # the two NADs' capabilities, the two on metrics


def test_a_missing_config_map_checks_the_daemons_defaults(
    apiserver: TestEnv, namespace: str, conf_dir: Path
) -> None:
    done = scoped(apiserver, namespace, conf_dir, "--output=json")

    assert done.returncode == 1, done.stderr
    found = [(f["severity"], f["subject"], f["change"]) for f in json.loads(done.stdout)["findings"]]
    source = f"ConfigMap {namespace}/{CONFIG_MAP}"
    assert ("note", source, "not found: multus-daemon's defaults were checked instead") in found
    # Without a ConfigMap nothing sets cniVersion: 00-multus.conf takes the primary's, as upstream wrote.
    assert [(severity, subject) for severity, subject, _ in found if severity != "note"] == [
        ("warning", f"{source} key logToStderr"),
        ("warning", f"{source} key logFormat"),
        ("warning", f"{source} key resultsDir"),
    ]


def test_a_kubeconfig_it_cannot_use_exits_2_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [\n")

    done = preflight(f"--kubeconfig={broken}")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"multusctl preflight: kubeconfig {broken}: ")


def test_an_api_server_it_cannot_reach_exits_2_with_one_line(apiserver: TestEnv, tmp_path: Path) -> None:
    kubeconfig = yaml.safe_load(apiserver.kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "kubeconfig"
    dead.write_text(yaml.safe_dump(kubeconfig))

    done = preflight(f"--kubeconfig={dead}")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("multusctl preflight: cannot reach the API server https://127.0.0.1:1: ")
