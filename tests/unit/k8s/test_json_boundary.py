"""Turning validation failures into plain sentences."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from multus.cni import jsontext
from multus.k8s import json_boundary
from multus.k8s.json_boundary import describe_validation_error, short


def test_the_decoder_is_the_cni_layers() -> None:
    # The controller imports the decoder from here; it is the one in multus.cni.jsontext.
    assert (json_boundary.MalformedJSON, json_boundary.decode_json) == (
        jsontext.MalformedJSON,
        jsontext.decode_json,
    )


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
