"""NetworkAttachmentDefinition objects: names, `spec.config`, resourceName."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multus.cni.errors import InvalidConfig
from multus.k8s.constants import RESOURCE_NAME_ANNOTATION
from multus.k8s.nad import (
    ConfDirConfig,
    InlineConfig,
    NetworkAttachmentDefinition,
    check_nad_name,
    config_plugins,
    nad_name_problem,
    parse_nad,
    parse_nad_config,
)


def nad(
    config: Any = None, *, annotations: dict[str, Any] | None = None, spec: Any = "default"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "macvlan-net", "namespace": "nets"}
    if annotations is not None:
        metadata["annotations"] = annotations
    body: dict[str, Any] = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition"}
    body["metadata"] = metadata
    if spec == "default":
        body["spec"] = {} if config is None else {"config": config}
    elif spec is not None:
        body["spec"] = spec
    return body


def test_single_config_is_read_and_keeps_its_name() -> None:
    parsed = parse_nad(nad(json.dumps({"cniVersion": "1.0.0", "name": "own", "type": "macvlan"})))
    assert parsed == NetworkAttachmentDefinition(
        "nets", "macvlan-net", InlineConfig({"cniVersion": "1.0.0", "name": "own", "type": "macvlan"})
    )
    assert isinstance(parsed.config, InlineConfig)
    assert not parsed.config.is_list
    assert parsed.reference == "nets/macvlan-net"


@pytest.mark.parametrize("name", [None, ""])
def test_missing_or_empty_name_gets_the_nad_name(name: str | None) -> None:
    body: dict[str, Any] = {"type": "macvlan"}
    if name is not None:
        body["name"] = name
    config = parse_nad(nad(json.dumps(body))).config
    assert config == InlineConfig({"type": "macvlan", "name": "macvlan-net"})


def test_config_list_is_detected_and_named() -> None:
    config = parse_nad(
        nad(json.dumps({"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}, {"type": "tuning"}]}))
    )
    assert isinstance(config.config, InlineConfig)
    assert config.config.is_list
    assert config.config.config["name"] == "macvlan-net"


@pytest.mark.parametrize("spec", [None, {}, {"config": None}, {"config": ""}, {"config": "  \n"}])
def test_absent_or_empty_config_means_the_conf_dir(spec: Any) -> None:
    assert parse_nad(nad(spec=spec)).config == ConfDirConfig(network_name="macvlan-net")


def test_resource_name_annotation_is_read_and_trimmed() -> None:
    parsed = parse_nad(nad('{"type": "sriov"}', annotations={RESOURCE_NAME_ANNOTATION: " intel.com/sriov "}))
    assert parsed.resource_name == "intel.com/sriov"


@pytest.mark.parametrize(
    "annotations", [None, {}, {RESOURCE_NAME_ANNOTATION: ""}, {RESOURCE_NAME_ANNOTATION: 5}]
)
def test_no_usable_resource_name_is_none(annotations: dict[str, Any] | None) -> None:
    assert parse_nad(nad('{"type": "sriov"}', annotations=annotations)).resource_name is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "spec.config is not valid JSON: Expecting property name"),
        ("[]", "spec.config must be a JSON object, not []"),
        ('"macvlan"', "spec.config must be a JSON object"),
        ('{"name": "x"}', "has neither 'type' (a single plugin) nor 'plugins' (a list)"),
        ('{"type": "a", "plugins": []}', "has both 'type' and 'plugins'"),
        ('{"type": ""}', "'type' must be a non-empty string"),
        ('{"type": 5}', "'type' must be a non-empty string, not 5"),
        ('{"plugins": []}', "'plugins' must be a non-empty list"),
        ('{"plugins": {"type": "a"}}', "'plugins' must be a non-empty list"),
        ('{"plugins": ["bridge"]}', "plugins[0] must be an object"),
        ('{"plugins": [{"type": "a"}, {}]}', "plugins[1].type must be a non-empty string"),
        ('{"type": "a", "name": 7}', "'name' must be a string, not 7"),
        ('{"type": "a", "mtu": NaN}', "NaN is not a JSON number"),
    ],
)
def test_bad_config_is_an_invalid_config_naming_the_nad(text: str, problem: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        parse_nad(nad(text))
    message = str(caught.value)
    assert message.startswith("NetworkAttachmentDefinition nets/macvlan-net: spec.config ")
    assert problem in message
    assert caught.value.code == 7


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({}, "has no metadata"),
        ({"metadata": {"namespace": "nets"}}, "lacks name or namespace"),
        ({"metadata": {"name": "a"}}, "lacks name or namespace"),
        ({"metadata": {"name": "a", "namespace": "n"}, "spec": "x"}, "n/a: spec must be an object"),
        (
            {"metadata": {"name": "a", "namespace": "n"}, "spec": {"config": {"type": "x"}}},
            "spec.config must be a string",
        ),
    ],
)
def test_malformed_nad_objects_are_refused(obj: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidConfig, match="NetworkAttachmentDefinition") as caught:
        parse_nad(obj)
    assert problem in str(caught.value)


def test_parse_nad_config_alone() -> None:
    assert parse_nad_config(None, namespace="n", name="a") == ConfDirConfig("a")
    assert parse_nad_config('{"type": "x"}', namespace="n", name="a") == InlineConfig(
        {"type": "x", "name": "a"}
    )


def test_nad_names_are_dns1123_labels() -> None:
    check_nad_name("macvlan-net")
    assert nad_name_problem("a" * 63) is None
    for bad in ["", "A", "a.b", "a" * 64, "-a"]:
        assert nad_name_problem(bad) is not None
        with pytest.raises(InvalidConfig, match="NetworkAttachmentDefinition name"):
            check_nad_name(bad)


def test_config_plugins_of_a_single_config_and_a_list() -> None:
    single = {"type": "macvlan"}
    assert config_plugins(single) == [single]
    assert config_plugins(single)[0] is single
    conflist = {"plugins": [{"type": "a"}, {"type": "b"}]}
    assert config_plugins(conflist) == conflist["plugins"]
