"""Decoding JSON as Go does, and turning validation failures into plain sentences."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from multus.k8s.json_boundary import MalformedJSON, decode_json, describe_validation_error, field_path, short


def test_decode_json_reads_json() -> None:
    assert decode_json('[{"a": 1}]') == [{"a": 1}]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[", "line 1 column 2"),
        ("NaN", "NaN is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ("1" * 5000, "too many digits"),
    ],
)
def test_decode_json_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(MalformedJSON, match="not valid JSON") as caught:
        decode_json(text)
    assert problem in str(caught.value)


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 65 + "]" * 65, '{"a":' * 65 + "1" + "}" * 65])
def test_decode_json_refuses_deep_nesting(text: str) -> None:
    with pytest.raises(MalformedJSON, match="nested more than 64 levels deep"):
        decode_json(text)


def test_decode_json_accepts_nesting_up_to_the_limit() -> None:
    assert decode_json("[" * 64 + "]" * 64) is not None
    assert decode_json('[1, {"a": [2, {"b": null}]}]') == [1, {"a": [2, {"b": None}]}]


def test_field_path_reads_like_json_access() -> None:
    assert field_path(("portMappings", 0, "hostPort")) == "portMappings[0].hostPort"
    assert field_path(()) == ""
    assert field_path((3,)) == "[3]"


class _Sample(BaseModel):
    model_config = ConfigDict(strict=True)

    count: int
    label: str = ""
    flags: list[str] = []
    child: dict[str, int] = {}
    on: bool = False


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({}, '"count" is required'),
        ({"count": "1"}, "\"count\" must be an integer, not '1'"),
        ({"count": 1, "label": 5}, '"label" must be a string, not 5'),
        ({"count": 1, "flags": "x"}, "\"flags\" must be a list, not 'x'"),
        ({"count": 1, "child": []}, '"child" must be an object, not []'),
        ({"count": 1, "on": "yes"}, "\"on\" must be true or false, not 'yes'"),
        ({"count": 1, "child": {"a": 1.5}}, '"child.a" must be an integer, not 1.5'),
    ],
)
def test_describe_validation_error_speaks_plainly(data: dict[str, object], sentence: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Sample.model_validate(data)
    described = describe_validation_error(caught.value)
    assert described == sentence
    assert "pydantic" not in described


def test_short_bounds_long_and_deep_values() -> None:
    assert len(short("x" * 1000)) < 80
    deep: list[object] = []
    for _ in range(10_000):
        deep = [deep]
    assert len(short(deep)) < 80
