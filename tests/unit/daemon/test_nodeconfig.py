"""The cniVersion of the `00-multus.conf` the daemon writes: the version of every answer the runtime gets,
so one its libcni reads. The daemon config's `cniVersion` wins, else the primary config's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from multus.daemon.main import load_config
from multus.daemon.nodeconfig import NodeConfigSettings, NodeConfigWriter

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
    with pytest.raises(ValidationError) as refused:
        load_config(path, {})
    assert refused.value.errors()[0]["loc"] == ("cniVersion",)
    assert "must be one of 0.1.0" in str(refused.value)
