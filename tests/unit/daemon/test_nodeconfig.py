"""The `00-multus.conf` the daemon writes. Its cniVersion is the version of every answer the runtime
gets, so one its libcni reads: the daemon config's `cniVersion` wins, else the primary config's. The
primary is found, and the file shaped, as upstream's daemon config keys say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from multus.daemon.nodeconfig import OWN_CONFIG, NodeConfigSettings, NodeConfigWriter
from multus.daemon.settings import ConfigRefused, load_config

BRIDGE = {"type": "bridge", "bridge": "cni0"}


def written_version(conf_dir: Path, primary: dict[str, Any], setting: str | None = None) -> Any:
    (conf_dir / "10-primary.conflist").write_text(json.dumps(primary))
    writer = NodeConfigWriter(NodeConfigSettings(conf_dir=conf_dir, cni_version=setting))
    assert writer.sync()
    return json.loads(writer.path.read_text())["cniVersion"]


@pytest.mark.parametrize(
    ("primary", "setting", "expected"),
    [
        ({"cniVersion": "0.4.0", "name": "p", "plugins": [BRIDGE]}, None, "0.4.0"),  # a list's top level
        ({"cniVersion": "1.1.0", "name": "p", "plugins": [{**BRIDGE, "cniVersion": "0.3.1"}]}, None, "1.1.0"),
        ({"cniVersion": "1.1.0", "name": "p", "plugins": [BRIDGE]}, "1.0.0", "1.0.0"),  # the setting wins
        ({"cniVersion": "0.3.1", "name": "p", "type": "bridge"}, None, "0.3.1"),  # a single config
        # No version we speak: the newest that every runtime's libcni reads.
        ({"name": "p", "type": "bridge"}, None, "1.0.0"),
        ({"cniVersion": "2.0.0", "name": "p", "plugins": [BRIDGE]}, None, "1.0.0"),
        ({"cniVersion": 1, "name": "p", "plugins": [BRIDGE]}, None, "1.0.0"),
    ],
    ids=["list", "list-not-its-plugins", "setting", "single", "none", "unknown", "not-a-string"],
)
def test_the_node_config_speaks_the_setting_or_the_primary_version(
    tmp_path: Path, primary: dict[str, Any], setting: str | None, expected: str
) -> None:
    assert written_version(tmp_path, primary, setting) == expected


def test_the_daemon_config_takes_a_cni_version_it_speaks_and_refuses_others(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"nodeName": "n", "cniVersion": "1.0.0"}))
    assert load_config(path, {}).cni_version == "1.0.0"
    path.write_text(json.dumps({"nodeName": "n"}))
    assert load_config(path, {}).cni_version is None

    path.write_text(json.dumps({"nodeName": "n", "cniVersion": "1.2.0"}))
    with pytest.raises(ConfigRefused, match=r"^cniVersion: must be one of 0\.1\.0"):
        load_config(path, {})


def written(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    writer = NodeConfigWriter(NodeConfigSettings(conf_dir=tmp_path / "net.d", **settings))
    assert writer.sync()
    assert writer.in_place()
    loaded: dict[str, Any] = json.loads(writer.path.read_text())
    return loaded


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """The runtime's conf dir (empty) and another folder holding two primary configs."""
    conf_dir, auto_dir = tmp_path / "net.d", tmp_path / "auto"
    conf_dir.mkdir()
    auto_dir.mkdir()
    (auto_dir / "10-first.conflist").write_text(json.dumps(PRIMARY))
    second = {"cniVersion": "0.4.0", "name": "second", "type": "bridge", "capabilities": {"mac": True}}
    (auto_dir / "20-second.conf").write_text(json.dumps(second))
    return conf_dir, auto_dir


PRIMARY = {
    "cniVersion": "1.0.0",
    "name": "first",
    "plugins": [BRIDGE, {"type": "portmap", "capabilities": {"portMappings": True}}],
}


def test_the_primary_comes_from_multus_autoconfig_dir_or_multus_master_cni(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    _, auto_dir = folders
    assert written(tmp_path, autoconfig_dir=auto_dir)["clusterNetwork"] == str(auto_dir / "10-first.conflist")
    named = written(tmp_path, autoconfig_dir=auto_dir, master_cni="20-second.conf")
    assert (named["clusterNetwork"], named["cniVersion"]) == (str(auto_dir / "20-second.conf"), "0.4.0")

    missing = NodeConfigWriter(
        NodeConfigSettings(conf_dir=tmp_path / "net.d", autoconfig_dir=auto_dir, master_cni="30-none.conf")
    )
    (tmp_path / "net.d" / OWN_CONFIG).unlink()
    assert not missing.sync()
    assert not missing.in_place()


def test_upstreams_generator_keys_shape_the_node_config(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    _, auto_dir = folders
    config = written(
        tmp_path,
        autoconfig_dir=auto_dir,
        cluster_network="cluster-nad",
        override_network_name=True,
        capabilities={"bandwidth": True, "portMappings": False},
    )
    assert config["clusterNetwork"] == "cluster-nad"
    assert config["name"] == "first"
    # The daemon config's capabilities, with the primary's enabled ones added (upstream's merge).
    assert config["capabilities"] == {"bandwidth": True, "portMappings": True}
    assert written(tmp_path, autoconfig_dir=auto_dir)["name"] == "multus-cni-network"


def test_force_cni_version_rewrites_the_primary(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    _, auto_dir = folders
    config = written(tmp_path, autoconfig_dir=auto_dir, cni_version="0.3.1", force_cni_version=True)
    assert config["cniVersion"] == "0.3.1"
    assert json.loads((auto_dir / "10-first.conflist").read_text()) == {**PRIMARY, "cniVersion": "0.3.1"}
    assert json.loads((auto_dir / "20-second.conf").read_text())["cniVersion"] == "0.4.0"  # not the primary


def test_a_multus_config_file_path_is_copied_as_it_is(tmp_path: Path) -> None:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    user_file = tmp_path / "mine" / "05-multus.conf"
    writer = NodeConfigWriter(NodeConfigSettings(conf_dir=conf_dir, user_file=user_file))
    assert writer.path == conf_dir / "05-multus.conf"
    assert not writer.sync()  # not there yet
    assert not writer.in_place()
    user_file.parent.mkdir()
    user_file.write_text('{"cniVersion": "1.0.0", "name": "mine", "type": "multus-shim"}\n')
    assert writer.sync()
    assert writer.path.read_text() == user_file.read_text()
    assert not (conf_dir / OWN_CONFIG).exists()
