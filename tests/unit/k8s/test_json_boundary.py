"""Turning validation failures into plain sentences."""

from __future__ import annotations

from typing import ClassVar

import pytest

from multus.cni import jsontext
from multus.cni.schema import (
    Field,
    Record,
    SchemaError,
    boolean,
    dict_of,
    integer,
    invalid,
    list_of,
    literal,
    string,
    then,
)
from multus.k8s import json_boundary
from multus.k8s.json_boundary import describe_validation_error, short


def test_the_decoder_is_the_cni_layers() -> None:
    # The controller imports the decoder from here; it is the one in multus.cni.jsontext.
    assert (json_boundary.MalformedJSON, json_boundary.decode_json) == (
        jsontext.MalformedJSON,
        jsontext.decode_json,
    )


def _no_braces(value: str) -> str:
    if "{" in value:
        raise invalid(f"{value} has a brace")
    return value


class _Sample(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "count": Field(integer()),
        "label": Field(string, ""),
        "flags": Field(list_of(string), factory=list),
        "child": Field(dict_of(integer()), factory=dict),
        "on": Field(boolean, False),
        "port": Field(integer(ge=1, le=65535), 1),
        "mode": Field(literal("fast", "slow"), "fast"),
        "word": Field(then(string, _no_braces), ""),
    }


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
        ({"count": 1, "port": 0}, '"port" must be at least 1, not 0'),
        ({"count": 1, "port": 65536}, '"port" must be at most 65535, not 65536'),
        ({"count": 1, "mode": "medium"}, "\"mode\" has an invalid value 'medium'"),
        ({"count": 1, "word": "{x}"}, '"word" {x} has a brace'),
        (
            {"count": True, "label": None},
            '"count" must be an integer, not True; "label" must be a string, not None',
        ),
    ],
)
def test_describe_validation_error_speaks_plainly(data: dict[str, object], sentence: str) -> None:
    with pytest.raises(SchemaError) as caught:
        _Sample.validate(data)
    described = describe_validation_error(caught.value)
    assert described == sentence


def test_a_problem_of_the_whole_object_has_no_field_name() -> None:
    with pytest.raises(SchemaError) as caught:
        _Sample.validate(["count"])
    assert describe_validation_error(caught.value) == "must be an object, not ['count']"


def test_short_bounds_long_and_deep_values() -> None:
    assert len(short("x" * 1000)) < 80
    deep: list[object] = []
    for _ in range(10_000):
        deep = [deep]
    assert len(short(deep)) < 80
