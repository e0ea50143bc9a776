"""Network configs and config lists: lossless, lifted into lists, errors that name the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multus.cni import (
    DecodeFailure,
    IncompatibleVersion,
    InvalidConfig,
    IOFailure,
    NetworkConfigList,
    PluginConfig,
    load_network_config_file,
    parse_network_config,
)
from multus.cni.schema import field_names

CONFLIST: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "cniVersions": ["0.4.0", "1.1.0"],
    "name": "dbnet",
    "disableCheck": True,
    "disableGC": False,
    "loadOnlyInlinedPlugins": True,
    "vendor.example/owner": {"team": "net", "ids": [1, 2.5, None, True]},
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": True,
            "args": {"cni": {"labels": ["a"]}},
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.230.0.0/16"}]], "dataDir": "/tmp/x"},
            "dns": {"nameservers": ["10.230.0.1"], "domain": "example.org", "x-custom": 1},
        },
        {"type": "tuning", "sysctl": {"net.core.somaxconn": "500"}, "capabilities": {"mac": True}},
        {
            "type": "portmap",
            "capabilities": {"portMappings": True, "bandwidth": False},
            "runtimeConfig": {"static": 1},
            "prevResult": {"cniVersion": "1.0.0"},
        },
    ],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=10,
)
# Keys the spec defines, under their JSON names (the models' field names are Python's).
SPEC_KEYS = field_names([PluginConfig]) | {"cniVersion"}
unknown_keys = st.dictionaries(
    st.text(min_size=1).filter(lambda key: key not in SPEC_KEYS),
    json_values,
    max_size=4,
)


def test_config_list_is_lossless() -> None:
    data = json.dumps(CONFLIST)
    conflist = parse_network_config(data)
    assert conflist.to_dict() == CONFLIST
    assert conflist.to_bytes() == data.encode()
    assert conflist.version == "1.1.0"
    assert conflist.disable_check
    assert conflist.plugins[1].declared_capabilities == {"mac"}
    assert conflist.declared_capabilities == {"mac", "portMappings"}
    assert conflist.plugins[0].ipam is not None
    assert conflist.plugins[0].ipam.type == "host-local"
    with pytest.raises(AttributeError, match="frozen"):
        conflist.name = "other"


@given(unknown_keys, unknown_keys)
def test_unknown_keys_survive_anywhere(top: dict[str, Any], inner: dict[str, Any]) -> None:
    # A plugin whose own keys nobody checks: Go's case-insensitive decoding would read "IPMASQ" as ptp's
    # ipMasq, and refuse it rightly.
    data = {**top, "name": "net", "cniVersion": "0.4.0", "plugins": [{**inner, "type": "vendor-plugin"}]}
    data = json.loads(json.dumps(data))
    assert parse_network_config(data).to_dict() == data


def test_single_config_is_lifted_into_a_list() -> None:
    single = {"cniVersion": "0.3.1", "name": "macnet", "type": "macvlan", "master": "eth1", "ipam": {}}
    conflist = parse_network_config(json.dumps(single).encode())
    assert conflist.to_dict() == {"name": "macnet", "cniVersion": "0.3.1", "plugins": [single]}
    assert conflist.version == "0.3.1"
    assert json.loads(conflist.to_bytes()) == conflist.to_dict()
    assert NetworkConfigList.from_plugin(conflist.plugins[0]) == conflist


def test_flags_accept_libcni_strings() -> None:
    conflist = parse_network_config({**CONFLIST, "disableCheck": "TRUE", "disableGC": "false"})
    assert conflist.disable_check
    assert not conflist.disable_gc
    with pytest.raises(InvalidConfig, match="disableGC: 'yes' is not true or false"):
        parse_network_config({**CONFLIST, "disableGC": "yes"})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": 5}, "name"),
        ({"name": "-bad"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"plugins": "bridge"}, "plugins"),
        ({"plugins": [{"type": "bridge"}, {"bridge": "x"}]}, "plugins[1].type"),
        ({"plugins": [{"type": "../../bin/sh"}]}, "plugins[0].type"),
        ({"plugins": [{"type": ""}]}, "plugins[0].type"),
        ({"plugins": [{"type": "bridge", "capabilities": {"mac": "yes"}}]}, "plugins[0].capabilities.mac"),
        ({"plugins": [{"type": "bridge", "ipam": {"type": 3}}]}, "plugins[0].ipam.type"),
        ({"plugins": [{"type": "bridge", "dns": {"search": "a"}}]}, "plugins[0].dns.search"),
        ({"plugins": [{"type": "bridge", "runtimeConfig": []}]}, "plugins[0].runtimeConfig"),
        ({"cniVersions": "1.0.0"}, "cniVersions"),
    ],
)
def test_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConfig, match=f"^invalid network config: {re.escape(field)}:"):
        parse_network_config({**CONFLIST, **change})


def test_every_problem_is_named_and_fields_are_read_under_their_attribute_names_too() -> None:
    config = {
        "name": "n",
        "cniVersion": "1.0.0",
        "disable_check": "maybe",
        "plugins": [{"type": "bridge", "cni_version": 5, "dns": {"domain": 1}}],
    }
    with pytest.raises(InvalidConfig) as refused:
        parse_network_config(config)
    assert refused.value.msg == (
        "invalid network config: disable_check: 'maybe' is not true or false; "
        "plugins[0].cni_version: Input should be a valid string; "
        "plugins[0].dns.domain: Input should be a valid string"
    )


def test_version_errors() -> None:
    with pytest.raises(InvalidConfig, match="cniVersion 'one' is not a version"):
        parse_network_config({**CONFLIST, "cniVersion": "one", "cniVersions": None})
    with pytest.raises(IncompatibleVersion):
        parse_network_config({**CONFLIST, "cniVersion": "0.9.0", "cniVersions": ["3.0.0"]})


def test_a_single_config_needs_a_name() -> None:
    with pytest.raises(InvalidConfig, match=r"^invalid network config: name:"):
        parse_network_config({"cniVersion": "1.0.0", "type": "bridge"})
    with pytest.raises(InvalidConfig, match=r"^invalid network config: type:"):
        parse_network_config({"cniVersion": "1.0.0", "name": "n", "type": "a/b"})


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"{", DecodeFailure),
        (b"[]", DecodeFailure),
        (b"\xff", DecodeFailure),
        (b'{"name": "n", "cniVersion": "1.0.0"}', InvalidConfig),
        (b'{"name": "n", "cniVersion": "1.0.0", "plugins": []}', InvalidConfig),
    ],
)
def test_undecodable_or_empty_configs(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_network_config(data)


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_file_gets_plugins_from_the_network_folder(tmp_path: Path) -> None:
    listed = {"cniVersion": "1.0.0", "name": "dbnet", "plugins": [{"type": "bridge"}]}
    conf = _write(tmp_path / "10-db.conflist", listed)
    _write(tmp_path / "dbnet" / "20-second.conf", {"type": "portmap"})
    _write(tmp_path / "dbnet" / "10-first.conf", {"type": "tuning"})
    (tmp_path / "dbnet" / "ignored.json").write_text("{}")
    assert [plugin.type for plugin in load_network_config_file(conf).plugins] == [
        "bridge",
        "tuning",
        "portmap",
    ]

    inlined_only = _write(tmp_path / "11-db.conflist", {**listed, "loadOnlyInlinedPlugins": True})
    assert [plugin.type for plugin in load_network_config_file(inlined_only).plugins] == ["bridge"]
    assert load_network_config_file(inlined_only).to_bytes() == inlined_only.read_bytes()

    from_folder_only = _write(tmp_path / "12-db.conflist", {"cniVersion": "1.0.0", "name": "dbnet"})
    assert [plugin.type for plugin in load_network_config_file(from_folder_only).plugins] == [
        "tuning",
        "portmap",
    ]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(IOFailure, match="cannot read network config"):
        load_network_config_file(tmp_path / "missing.conflist")
    nothing = _write(tmp_path / "a.conflist", {"cniVersion": "1.0.0", "name": "empty"})
    with pytest.raises(InvalidConfig, match="has no plugins"):
        load_network_config_file(nothing)
    strict = _write(
        tmp_path / "b.conflist", {"cniVersion": "1.0.0", "name": "n", "loadOnlyInlinedPlugins": True}
    )
    with pytest.raises(InvalidConfig, match="loadOnlyInlinedPlugins is true but there is no `plugins` list"):
        load_network_config_file(strict)
    _write(tmp_path / "n2" / "bad.conf", {"type": 7})
    bad_folder = _write(
        tmp_path / "c.conflist", {"cniVersion": "1.0.0", "name": "n2", "plugins": [{"type": "a"}]}
    )
    with pytest.raises(InvalidConfig, match=r"bad.conf: type:"):
        load_network_config_file(bad_folder)


def test_single_config_file_is_not_extended(tmp_path: Path) -> None:
    single = _write(tmp_path / "10-mac.conf", {"cniVersion": "0.4.0", "name": "mac", "type": "macvlan"})
    _write(tmp_path / "mac" / "extra.conf", {"type": "tuning"})
    assert [plugin.type for plugin in load_network_config_file(single).plugins] == ["macvlan"]


@pytest.mark.parametrize("depth", [65, 5000, 100_000])
def test_hostile_nesting_is_a_decode_failure(depth: int) -> None:
    deep = "[" * depth + "]" * depth
    text = f'{{"name": "n", "cniVersion": "1.0.0", "type": "x", "deep": {deep}}}'
    with pytest.raises(DecodeFailure, match="network config"):
        parse_network_config(text)
    with pytest.raises(DecodeFailure, match="nests deeper than 64 levels"):
        parse_network_config(
            {"name": "n", "cniVersion": "1.0.0", "type": "x", "deep": json.loads("[" * 70 + "]" * 70)}
        )


def test_reasonable_nesting_is_fine() -> None:
    nested = json.loads("[" * 60 + "]" * 60)
    config = {"name": "n", "cniVersion": "1.0.0", "plugins": [{"type": "x", "deep": nested}]}
    assert parse_network_config(json.dumps(config)).to_dict() == config
