"""A refused object's problems as one line that names each bad field."""

from __future__ import annotations

from typing import ClassVar

import pytest

from multus.cni.schema import Field, Record, SchemaError, list_of, string, then
from multus.cni.validation import describe, field_path


def test_field_path_reads_like_json_access() -> None:
    assert field_path(("portMappings", 0, "hostPort")) == "portMappings[0].hostPort"
    assert field_path(()) == ""
    assert field_path((3,)) == "[3]"
    assert field_path(("plugins", 1, "type")) == "plugins[1].type"


def _not_empty(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must not be empty")
    return value


class _Sample(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "names": Field(then(list_of(string), _not_empty)),
        "owner": Field(string, ""),
    }

    names: list[str]
    owner: str


def test_describe_names_each_field_and_the_top_level() -> None:
    with pytest.raises(SchemaError) as caught:
        _Sample.validate({"names": ["a", 2]})
    assert describe(caught.value) == "names[1]: Input should be a valid string"
    with pytest.raises(SchemaError) as caught:
        _Sample.validate({"names": []})
    assert describe(caught.value) == "names: must not be empty"
    with pytest.raises(SchemaError) as caught:
        _Sample.validate({"names": [3], "owner": None})
    assert describe(caught.value) == (
        "names[0]: Input should be a valid string; owner: Input should be a valid string"
    )
    with pytest.raises(SchemaError) as caught:
        _Sample.validate([])
    assert describe(caught.value) == "(top level): Input should be a valid dictionary or instance of _Sample"
