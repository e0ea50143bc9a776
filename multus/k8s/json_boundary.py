"""Where JSON text from Kubernetes objects enters: saying in plain words what is wrong with it.

Callers wrap the sentences these helpers produce into the `CNIError` subclass that fits their input, so
a user never sees a Python traceback or the schema's own list of problems.
"""

from __future__ import annotations

from multus.cni.jsontext import MalformedJSON, decode_json
from multus.cni.schema import Problem, SchemaError
from multus.cni.validation import field_path, short

# The decoder lives in multus.cni.jsontext; the controller still imports it from here.
__all__ = ["MalformedJSON", "decode_json", "describe_validation_error", "short"]


def describe_validation_error(exc: SchemaError) -> str:
    """Every problem in `exc` as `field: problem`, joined with '; '."""
    return "; ".join(_describe(problem) for problem in exc.errors())


def _describe(problem: Problem) -> str:
    path = field_path(problem["loc"])
    sentence = _sentence(problem)
    return f'"{path}" {sentence}' if path else sentence


_TYPE_PROBLEMS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
}


def _sentence(problem: Problem) -> str:
    kind = problem["type"]
    context = problem.get("ctx") or {}
    if kind == "invalid":
        return str(context["reason"])
    if kind == "missing":
        return "is required"
    if kind in _TYPE_PROBLEMS:
        return f"{_TYPE_PROBLEMS[kind]}, not {short(problem['input'])}"
    if kind == "greater_than_equal":
        return f"must be at least {context['ge']}, not {short(problem['input'])}"
    if kind == "less_than_equal":
        return f"must be at most {context['le']}, not {short(problem['input'])}"
    return f"has an invalid value {short(problem['input'])}"
