"""Pydantic's errors as one line that names each bad field."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from multus.cni.validation import describe, field_path


def test_field_path_reads_like_json_access() -> None:
    assert field_path(("portMappings", 0, "hostPort")) == "portMappings[0].hostPort"
    assert field_path(()) == ""
    assert field_path((3,)) == "[3]"
    assert field_path(("plugins", 1, "type")) == "plugins[1].type"


class _Sample(BaseModel):
    names: list[str]

    @field_validator("names")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must not be empty")
        return value


def test_describe_names_each_field_and_the_top_level() -> None:
    with pytest.raises(ValidationError) as caught:
        _Sample.model_validate({"names": ["a", 2]})
    assert describe(caught.value) == "names[1]: Input should be a valid string"
    with pytest.raises(ValidationError) as caught:
        _Sample.model_validate({"names": []})
    assert describe(caught.value) == "names: must not be empty"
    with pytest.raises(ValidationError) as caught:
        _Sample.model_validate([])
    assert describe(caught.value).startswith("(top level): ")
