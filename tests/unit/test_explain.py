"""`multusctl explain` as a person runs it: a table by default, JSON or YAML on request, and errors that
name the file or the namespace they come from. Run on the examples' clusters (the file-backed view)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MULTUSCTL = Path(sys.executable).parent / "multusctl"


def explain(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MULTUSCTL), "explain", *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def on_example(example: str, *args: str) -> subprocess.CompletedProcess[str]:
    folder = EXAMPLES / example
    return explain(
        "demo/web",
        "--cluster-folder",
        str(folder),
        "--config",
        str(EXAMPLES / "multus.conf"),
        "--conf-dir",
        str(EXAMPLES / "net.d"),
        *args,
    )


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()]


def test_the_table_shows_each_attachment_with_what_it_asks_for() -> None:
    shown = on_example("03-static-ip-mac")

    assert shown.returncode == 0, shown.stderr
    assert rows(shown.stdout) == [
        ["INTERFACE", "NETWORK", "PLUGINS", "IPS", "MAC", "DEFAULT-ROUTE", "DEVICE"],
        ["eth0", "cluster", "(cluster", "network)", "bridge", "-", "-", "-", "-"],
        ["net1", "demo/uplink", "macvlan", "10.250.3.10/24,fd00:250:3::10/64", "02:00:00:00:03:10", "-", "-"],
    ]


def test_default_route_and_config_lists_are_shown() -> None:
    assert rows(on_example("04-default-route").stdout)[2] == [
        "net1",
        "demo/blue",
        "bridge",
        "-",
        "-",
        "10.250.1.1",
        "-",
    ]
    assert rows(on_example("05-config-list").stdout)[2][2] == "bridge,tuning,portmap"


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_machines_get_every_delegate_config(output: str) -> None:
    shown = on_example("01-comma-form", "-o", output)

    assert shown.returncode == 0, shown.stderr
    documents = json.loads(shown.stdout) if output == "json" else yaml.safe_load(shown.stdout)
    assert [(d["interface"], d["network"], d["plugins"]) for d in documents] == [
        ("eth0", "cluster", ["bridge"]),
        ("net1", "demo/blue", ["bridge"]),
        ("green0", "demo/green", ["bridge"]),
    ]
    assert documents[1]["config"]["type"] == "bridge"


def test_a_missing_pod_is_named_with_its_namespace_and_where_it_was_looked_for() -> None:
    shown = explain(
        "demo/nope",
        "--cluster-folder",
        str(EXAMPLES / "01-comma-form"),
        "--config",
        str(EXAMPLES / "multus.conf"),
    )

    assert shown.returncode == 1
    folder = EXAMPLES / "01-comma-form"
    assert (
        shown.stderr.strip()
        == f"multusctl: pod nope not found in namespace demo (read from cluster folder {folder})"
    )


def test_without_a_config_the_message_names_the_file_it_looked_for(tmp_path: Path) -> None:
    shown = explain(
        "demo/web", "--cluster-folder", str(EXAMPLES / "01-comma-form"), "--cni-conf-dir", str(tmp_path)
    )

    assert shown.returncode == 1
    assert f"no multus config: {tmp_path / '00-multus.conf'} does not exist" in shown.stderr


def test_the_nodes_own_config_is_read_from_the_conf_dir(tmp_path: Path) -> None:
    node = json.loads((EXAMPLES / "multus.conf").read_text()) | {"confDir": str(EXAMPLES / "net.d")}
    (tmp_path / "00-multus.conf").write_text(json.dumps(node))

    shown = explain(
        "demo/web", "--cluster-folder", str(EXAMPLES / "01-comma-form"), "--cni-conf-dir", str(tmp_path)
    )

    assert shown.returncode == 0, shown.stderr
    assert [row[0] for row in rows(shown.stdout)] == ["INTERFACE", "eth0", "net1", "green0"]


def test_without_a_cluster_the_message_says_how_to_give_one() -> None:
    shown = explain("demo/web", "--config", str(EXAMPLES / "multus.conf"), env={"PATH": "/usr/bin:/bin"})

    assert shown.returncode == 1
    assert (
        "explain needs a cluster: give --cluster-folder DIR or --kubeconfig FILE, set $KUBECONFIG"
        in shown.stderr
    )
