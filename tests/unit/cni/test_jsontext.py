"""Decoding JSON as Go does, with a depth bound, for every layer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multus.cni import DecodeFailure, parse_network_config, parse_result
from multus.cni.jsontext import MalformedJSON, NestedTooDeep, check_depth, decode_json, load_json


def test_decode_json_reads_json() -> None:
    assert decode_json('[{"a": 1}]') == [{"a": 1}]
    assert decode_json(b'{"a": [1]}') == {"a": [1]}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[", "line 1 column 2"),
        ("NaN", "NaN is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ("1" * 5000, "too many digits"),
        (b"\xff", "invalid start byte in utf-8 at byte 0"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        ("\ufeff{}", "byte-order mark"),
        ('{"a": 1}'.encode("utf-16"), "in utf-8 at byte 0"),
        (
            '{"namespaceIsolation": false, "namespaceIsolation": true}',
            "names the key 'namespaceIsolation' twice",
        ),
        (
            '{"plugins": [{"type": "bridge", "ipam": {"type": "a", "type": "b"}}]}',
            "names the key 'type' twice",
        ),
    ],
)
def test_decode_json_names_the_problem(text: str | bytes, problem: str) -> None:
    with pytest.raises(MalformedJSON, match="not valid JSON") as caught:
        decode_json(text)
    assert problem in str(caught.value)
    assert problem in caught.value.reason


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 65 + "]" * 65, '{"a":' * 65 + "1" + "}" * 65])
def test_decode_json_refuses_deep_nesting(text: str) -> None:
    with pytest.raises(NestedTooDeep) as caught:
        decode_json(text)
    assert str(caught.value) == "nested more than 64 levels deep"


def test_decode_json_accepts_nesting_up_to_the_limit() -> None:
    assert decode_json("[" * 64 + "]" * 64) is not None
    assert decode_json('[1, {"a": [2, {"b": null}]}]') == [1, {"a": [2, {"b": None}]}]


@pytest.mark.parametrize("encode", [str, str.encode], ids=["str", "bytes"])
def test_depth_is_counted_in_nesting_not_in_brackets(encode: Any) -> None:
    wide = json.dumps({"list": [[index, {"brackets": "[[{{"}] for index in range(100)]})
    assert len(decode_json(encode(wide))["list"]) == 100
    with pytest.raises(NestedTooDeep):
        decode_json(encode("[" * 65 + "]" * 65))


def test_load_json_says_what_was_read() -> None:
    with pytest.raises(DecodeFailure) as caught:
        load_json("{", "VERSION reply")
    assert (caught.value.msg, caught.value.details) == (
        "VERSION reply is not valid JSON",
        "Expecting property name enclosed in double quotes at line 1 column 2",
    )
    with pytest.raises(DecodeFailure, match=r"^VERSION reply nests deeper than 64 levels$"):
        load_json("[" * 65 + "]" * 65, "VERSION reply")


def test_check_depth_bounds_decoded_values() -> None:
    check_depth(json.loads("[" * 64 + "]" * 64), "config")
    with pytest.raises(DecodeFailure, match=r"^config nests deeper than 64 levels$"):
        check_depth(json.loads("[" * 65 + "]" * 65), "config")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_cni_documents_refuse_what_go_refuses(constant: str) -> None:
    # libcni decodes with Go's encoding/json, which has no NaN or Infinity: neither do we.
    config = f'{{"cniVersion": "1.0.0", "name": "n", "type": "x", "mtu": {constant}}}'
    with pytest.raises(DecodeFailure, match="network config is not valid JSON") as caught:
        parse_network_config(config)
    assert caught.value.details == f"{constant} is not a JSON number"
    with pytest.raises(DecodeFailure, match="result is not valid JSON"):
        parse_result(f'{{"cniVersion": "1.0.0", "dns": {{"x": {constant}}}}}')
