"""The NAD judgement: one verdict per rule, what a valid config reports, and when an update is re-judged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.validation import NadVerdict, admission_problems, judge_nad, resource_name_problem
from multus.cni.config import parse_network_config
from multus.cni.errors import InvalidConfig

RESOURCE = "k8s.v1.cni.cncf.io/resourceName"


def nad(
    config: object = None, *, name: str = "net", annotations: dict[str, Any] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "namespace": "ns"}, "spec": {}}
    if config is not None:
        obj["spec"]["config"] = config if isinstance(config, str) else json.dumps(config)
    if annotations is not None:
        obj["metadata"]["annotations"] = annotations
    return obj


def test_single_plugin_config_reports_type_and_version() -> None:
    assert judge_nad(nad({"cniVersion": "0.4.0", "type": "macvlan"})) == NadVerdict(
        plugin_types=("macvlan",), cni_version="0.4.0"
    )


def test_config_list_reports_types_in_order() -> None:
    verdict = judge_nad(nad({"cniVersion": "1.1.0", "plugins": [{"type": "bridge"}, {"type": "portmap"}]}))
    assert verdict.valid
    assert verdict.plugin_types == ("bridge", "portmap")
    assert verdict.cni_version == "1.1.0"


def test_cni_versions_list_picks_the_highest_supported() -> None:
    verdict = judge_nad(nad({"cniVersions": ["0.3.1", "1.0.0", "9.0.0"], "type": "bridge"}))
    assert verdict.cni_version == "1.0.0"


def test_missing_version_is_the_implicit_one_the_node_uses() -> None:
    assert judge_nad(nad({"type": "bridge"})).cni_version == "0.1.0"


@pytest.mark.parametrize("config", [None, "", "  \n"])
def test_empty_config_is_valid_and_lives_on_the_node(config: str | None) -> None:
    assert judge_nad(nad(config)) == NadVerdict(config_on_node=True)


def test_list_without_name_is_valid() -> None:
    assert judge_nad(nad({"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]})).valid


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("{", "spec.config is not valid JSON"),
        ('"text"', "spec.config must be a JSON object, not 'text'"),
        ({"cniVersion": "1.0.0"}, "has neither 'type' (a single plugin) nor 'plugins' (a list)"),
        ({"type": "a", "plugins": [{"type": "b"}]}, "has both 'type' and 'plugins'"),
        ({"plugins": "bridge"}, "'plugins' must be a non-empty list, not 'bridge'"),
        ({"plugins": [{"type": "bridge"}, "x"]}, "plugins[1] must be an object"),
        ({"plugins": [{"type": ""}]}, "plugins[0].type must be a non-empty string"),
        ({"type": 7}, "'type' must be a non-empty string, not 7"),
        ({"type": "bridge", "name": 5}, "'name' must be a string, not 5"),
        ({"cniVersion": "2.0.0", "type": "bridge"}, "cniVersion: none of the configured versions 2.0.0 is"),
        ({"cniVersion": "1.0", "type": "bridge"}, "cniVersion '1.0' is not a version"),
        ({"cniVersion": 1, "type": "bridge"}, "cniVersion: Input should be a valid string"),
        (
            {"cniVersions": ["3.0.0"], "type": "bridge"},
            "cniVersion/cniVersions: none of the configured versions",
        ),
        ({"cniVersions": "1.0.0", "type": "bridge"}, "cniVersions: Input should be a valid list"),
        (
            {"cniVersion": "1.0.0", "type": "/usr/bin/bridge"},
            "type: '/usr/bin/bridge' must be a plain file name",
        ),
        (
            {"plugins": [{"type": "bridge"}, {"type": ".."}]},
            "plugins[1].type: '..' must be a plain file name",
        ),
        ({"type": "bridge", "name": "-dash"}, "name: '-dash' must start with a letter or digit"),
    ],
)
def test_each_config_rule_names_its_field(config: object, expected: str) -> None:
    verdict = judge_nad(nad(config))
    assert not verdict.valid
    assert verdict.cni_version is None
    assert any(expected in problem for problem in verdict.problems), verdict.problems
    assert all(
        problem.startswith("NetworkAttachmentDefinition ns/net: spec.config") for problem in verdict.problems
    )


@pytest.mark.parametrize(
    ("ipam", "field"),
    [
        ({"type": "host-local", "ranges": [[{"subnet": "bogus"}]]}, "ipam.ranges[0][0].subnet"),
        ({"type": "host-local", "ranges": [[{"subnet": "10.1.0.1/24"}]]}, "ipam.ranges[0][0].subnet"),
        ({"type": "host-local"}, "ipam: has no IP ranges"),
        ({"type": "host-local", "subnet": "10.1.0.0/24", "routes": [{"dst": "x"}]}, "ipam.routes[0].dst"),
        ({"type": "static", "addresses": [{"address": "10.1.0.5"}]}, "ipam.addresses[0].address"),
        ("host-local", "ipam"),
        ({"type": 5}, "ipam.type"),
    ],
)
def test_ipam_its_plugin_would_refuse_is_refused_with_the_nodes_message(ipam: object, field: str) -> None:
    # One parser: what a node answers a pod on this NAD, the webhook answers `kubectl apply`.
    config = {"cniVersion": "1.0.0", "name": "net", "type": "bridge", "ipam": ipam}
    (problem,) = judge_nad(nad(config)).problems
    with pytest.raises(InvalidConfig) as node:
        parse_network_config(config)
    assert problem == f"NetworkAttachmentDefinition ns/net: spec.config: {node.value.msg}"
    assert f"invalid network config: {field}" in problem


@pytest.mark.parametrize(
    ("plugin", "field"),
    [
        ({"type": "macvlan", "mode": "l2"}, "mode"),
        ({"type": "macvlan", "mtu": -1}, "mtu"),
        ({"type": "ipvlan", "mode": "bridge"}, "mode"),
        ({"type": "vlan", "master": "eth0", "vlanId": 5000}, "vlanId"),
        ({"type": "ptp", "mtu": 65536}, "mtu"),
        ({"type": "tuning", "args": {"cni": {"mtu": -1}}}, "args.cni.mtu"),
        ({"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.1.0.0/31"}}, "ipam.range"),
        (
            {"type": "macvlan", "ipam": {"type": "dhcp", "request": [{"option": "x"}]}},
            "ipam.request[0].option",
        ),
    ],
)
def test_plugin_keys_its_plugin_would_refuse_are_refused_with_the_nodes_message(
    plugin: dict[str, Any], field: str
) -> None:
    config = {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "tuning"}, plugin]}
    (problem,) = judge_nad(nad(config)).problems
    with pytest.raises(InvalidConfig) as node:
        parse_network_config(config)
    assert problem == f"NetworkAttachmentDefinition ns/net: spec.config: {node.value.msg}"
    assert f"invalid network config: plugins[1].{field}: " in problem


def test_a_network_name_longer_than_253_characters_is_refused() -> None:
    assert judge_nad(nad({"type": "bridge", "name": "n" * 253})).valid
    (problem,) = judge_nad(nad({"type": "bridge", "name": "n" * 254})).problems
    assert "name: is 254 characters long, longer than 253" in problem


def test_name_must_be_a_dns_label() -> None:
    (problem,) = judge_nad(nad({"type": "bridge"}, name="a.b")).problems
    assert problem.startswith(
        "NetworkAttachmentDefinition ns/a.b: metadata.name 'a.b' is not a DNS-1123 label"
    )


def test_independent_problems_are_all_reported() -> None:
    config = {"cniVersion": "1.0.0", "name": "a b", "plugins": [{"type": "x/y"}]}
    verdict = judge_nad(nad(config, name="Net", annotations={RESOURCE: "no-prefix"}))

    name, resource, config_problems = verdict.problems
    assert "metadata.name 'Net'" in name
    assert f"metadata.annotations[{RESOURCE}]" in resource
    # The config's own problems come in one sentence, as the node's parser reports them.
    assert "name: 'a b' must start" in config_problems
    assert "plugins[0].type: 'x/y' must be a plain file name" in config_problems


@pytest.mark.parametrize(
    "value", ["intel.com/sriov_netdevice", "example.org/a.b-c_d", "x/Y", " intel.com/sriov "]
)
def test_well_formed_resource_names_pass(value: str) -> None:
    assert judge_nad(nad({"type": "sriov"}, annotations={RESOURCE: value})).valid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sriov", "lacks a domain prefix"),
        ("/sriov", "prefix '' is not a DNS-1123 subdomain"),
        ("Intel.com/sriov", "prefix 'Intel.com' is not a DNS-1123 subdomain"),
        ("intel.com/", "name '' must be 1 to 63"),
        ("intel.com/a/b", "name 'a/b' must be 1 to 63"),
        ("intel.com/" + "a" * 64, "must be 1 to 63"),
        ("a" * 254 + "/x", "is not a DNS-1123 subdomain"),
    ],
)
def test_malformed_resource_names_are_explained(value: str, expected: str) -> None:
    problem = resource_name_problem(value)
    assert problem is not None
    assert expected in problem


def test_blank_resource_name_is_no_resource_as_on_the_node() -> None:
    assert judge_nad(nad({"type": "bridge"}, annotations={RESOURCE: "  "})).valid


def test_non_string_resource_name_is_refused() -> None:
    (problem,) = judge_nad(nad({"type": "bridge"}, annotations={RESOURCE: 3})).problems
    assert f"metadata.annotations[{RESOURCE}] must be a string, not 3" in problem


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([], "must be an object"),
        ({}, "metadata must be an object"),
        ({"metadata": {"name": "n"}}, "metadata lacks a name or namespace"),
        ({"metadata": {"name": "n", "namespace": "ns"}, "spec": "x"}, "spec must be an object"),
        (
            {"metadata": {"name": "n", "namespace": "ns"}, "spec": {"config": {"type": "b"}}},
            "must be a string",
        ),
        ({"metadata": {"name": "n", "namespace": "ns", "annotations": []}}, "metadata.annotations must be"),
    ],
)
def test_malformed_objects_get_an_answer(obj: object, expected: str) -> None:
    verdict = judge_nad(obj)
    assert not verdict.valid
    assert any(expected in problem for problem in verdict.problems), verdict.problems


def test_update_is_judged_only_when_config_or_resource_changes() -> None:
    stored_invalid = nad({"cniVersion": "1.0.0"})
    with_finalizer = nad({"cniVersion": "1.0.0"})
    with_finalizer["metadata"]["finalizers"] = ["example.com/keep"]

    assert admission_problems(with_finalizer, stored_invalid) == ()
    assert admission_problems(stored_invalid, None) != ()

    valid = nad({"cniVersion": "1.0.0", "type": "bridge"})
    retyped = nad({"cniVersion": "1.0.0", "type": "../x"})
    assert admission_problems(retyped, valid) != ()
    bad_resource = nad({"cniVersion": "1.0.0", "type": "bridge"}, annotations={RESOURCE: "x"})
    assert admission_problems(bad_resource, valid) != ()
