"""Where JSON text from Kubernetes objects enters: saying in plain words what is wrong with it.

Callers wrap the sentences these helpers produce into the `CNIError` subclass that fits their input, so
a user never sees a Python traceback or pydantic's own error dump.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from multus.cni.jsontext import MalformedJSON, decode_json
from multus.cni.validation import field_path, short

# The decoder lives in multus.cni.jsontext; the controller still imports it from here.
__all__ = ["MalformedJSON", "decode_json", "describe_validation_error", "invalid", "short"]


def invalid(reason: str) -> PydanticCustomError:
    """A validation failure whose message is exactly `reason` (braces in user input stay literal)."""
    return PydanticCustomError("invalid", "{reason}", {"reason": reason})


def describe_validation_error(exc: ValidationError) -> str:
    """Every failure in `exc` as `field: problem`, joined with '; '."""
    return "; ".join(_describe(error) for error in exc.errors(include_url=False))


def _describe(error: ErrorDetails) -> str:
    path = field_path(error["loc"])
    problem = _problem(error)
    return f'"{path}" {problem}' if path else problem


_TYPE_PROBLEMS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def _problem(error: ErrorDetails) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "invalid":
        return str(context["reason"])
    if kind == "missing":
        return "is required"
    if kind in _TYPE_PROBLEMS:
        return f"{_TYPE_PROBLEMS[kind]}, not {short(error['input'])}"
    if kind == "greater_than_equal":
        return f"must be at least {context['ge']}, not {short(error['input'])}"
    if kind == "less_than_equal":
        return f"must be at most {context['le']}, not {short(error['input'])}"
    return f"has an invalid value {short(error['input'])}"
