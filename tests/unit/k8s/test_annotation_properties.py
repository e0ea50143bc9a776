"""Properties over generated input: the annotation parsers fail only with CNI errors, and round-trip."""

from __future__ import annotations

import contextlib
import json
import string
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from multus.cni.errors import CNIError
from multus.k8s.annotations import (
    format_networks_annotation,
    parse_default_network_annotation,
    parse_networks_annotation,
)
from multus.k8s.nad import parse_nad_config
from multus.k8s.selection import NetworkSelection
from multus.k8s.status import format_network_status, parse_network_status, statuses_from_result

# Text biased towards the characters the grammar cares about, plus anything at all.
_GRAMMAR = st.text(alphabet=st.sampled_from([*'abcXYZ09-_./@, \t\n[]{}":\\', "é", "\x00", "\ud800"]))
ANNOTATION_TEXT = st.one_of(st.text(), _GRAMMAR)

_JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_SELECTION_KEYS = st.sampled_from(
    [
        "name",
        "namespace",
        "interface",
        "interfaceRequest",
        "ips",
        "mac",
        "infiniband-guid",
        "portMappings",
        "bandwidth",
        "cni-args",
        "default-route",
        "ipam-claim-reference",
        "deviceID",
    ]
)
SELECTION_LIKE = st.lists(st.dictionaries(_SELECTION_KEYS, JSON_VALUES, max_size=6), max_size=3)


def _only_cni_errors(parse: Callable[[str, str], object], value: str) -> None:
    with contextlib.suppress(CNIError):
        parse(value, "pods")


@settings(max_examples=500)
@given(ANNOTATION_TEXT)
def test_no_string_makes_the_networks_parser_raise_anything_but_a_cni_error(value: str) -> None:
    _only_cni_errors(parse_networks_annotation, value)


@settings(max_examples=300)
@given(ANNOTATION_TEXT)
def test_no_string_makes_the_default_network_parser_raise_anything_but_a_cni_error(value: str) -> None:
    _only_cni_errors(parse_default_network_annotation, value)


@settings(max_examples=300)
@given(SELECTION_LIKE)
def test_no_json_document_makes_the_parser_raise_anything_but_a_cni_error(elements: list[object]) -> None:
    _only_cni_errors(parse_networks_annotation, json.dumps(elements))


@settings(max_examples=300)
@given(st.one_of(ANNOTATION_TEXT, JSON_VALUES.map(json.dumps)))
def test_no_string_makes_the_network_status_parser_raise_anything_but_a_cni_error(value: str) -> None:
    with contextlib.suppress(CNIError):
        parse_network_status(value)


@settings(max_examples=300)
@given(st.one_of(ANNOTATION_TEXT, JSON_VALUES.map(json.dumps)))
def test_no_string_makes_the_nad_config_reader_raise_anything_but_a_cni_error(value: str) -> None:
    with contextlib.suppress(CNIError):
        parse_nad_config(value, namespace="nets", name="a")


_LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
# Interface names the comma form can carry: printable, no separators, 1..15 bytes, not "." or "..".
_IFNAME = st.text(
    alphabet=st.characters(
        codec="utf-8",
        exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cf", "Co", "Cn"),
        exclude_characters=',@/[{":',
    ),
    min_size=1,
    max_size=15,
).filter(lambda name: len(name.encode()) <= 15 and name not in (".", "..") and name.strip() == name)
SELECTIONS = st.lists(
    st.builds(NetworkSelection, name=_LABEL, namespace=_LABEL, interface=st.none() | _IFNAME), min_size=1
)


@given(SELECTIONS)
def test_a_formatted_comma_list_round_trips(selections: list[NetworkSelection]) -> None:
    text = format_networks_annotation(selections)
    assert parse_networks_annotation(text, "unrelated") == selections


@given(SELECTIONS)
def test_the_comma_list_reads_with_whitespace_around_items(selections: list[NetworkSelection]) -> None:
    text = " , ".join(f" {format_networks_annotation([selection])}\t" for selection in selections)
    assert parse_networks_annotation(text, "unrelated") == selections


_PRINTABLE = st.text(alphabet=string.ascii_letters + string.digits + ".:-/", min_size=1, max_size=12)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"name": _PRINTABLE, "interface": _PRINTABLE, "ips": st.lists(_PRINTABLE, max_size=2)},
            optional={"mac": _PRINTABLE, "mtu": st.integers(1, 9000), "default": st.just(True)},
        ),
        max_size=4,
    )
)
def test_network_status_round_trips(entries: list[dict[str, object]]) -> None:
    value = json.dumps([{**entry, "dns": {}} for entry in entries])
    parsed = parse_network_status(value)
    assert parse_network_status(format_network_status(parsed)) == parsed
    assert json.loads(format_network_status(parsed)) == [
        {key: entry[key] for key in ("name", "interface", "ips", "mac", "mtu", "default") if entry.get(key)}
        | {"dns": {}}
        for entry in entries
    ]


_RESULT_MEMBER_KEYS = ["name", "mac", "mtu", "sandbox", "address", "gateway", "interface", "dst", "gw"]
_RESULT_LIKE = st.dictionaries(
    st.sampled_from(["interfaces", "ips", "routes", "dns"]),
    st.one_of(JSON_VALUES, st.lists(st.dictionaries(st.sampled_from(_RESULT_MEMBER_KEYS), JSON_VALUES))),
)


@settings(max_examples=300)
@given(_RESULT_LIKE)
def test_no_result_makes_the_status_builder_raise_anything_but_a_cni_error(result: dict[str, object]) -> None:
    with contextlib.suppress(CNIError):
        statuses_from_result(result, network="nets/a", interface="net1", default=True)
