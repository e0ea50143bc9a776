"""Where JSON text from Kubernetes objects enters: decoding it, and saying in plain words what is wrong.

Callers wrap the sentences these helpers produce into the `CNIError` subclass that fits their input, so
a user never sees a Python traceback or pydantic's own error dump.
"""

from __future__ import annotations

import json
import reprlib
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 3


class MalformedJSON(ValueError):
    """The text is not JSON as Go's encoding/json reads it; the message is one sentence."""


# Real annotations and CNI configs nest a handful of levels; a bound keeps later deep copies (which
# recurse) from failing on a hostile document long after it was accepted.
MAX_JSON_DEPTH = 64
_TOO_DEEP = f"nested more than {MAX_JSON_DEPTH} levels deep"


def decode_json(text: str) -> Any:
    """`json.loads`, refusing what Go refuses (NaN, Infinity) and naming the problem without Python jargon."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NonStandardNumber as exc:
        raise MalformedJSON(f"not valid JSON: {exc} is not a JSON number") from None
    except ValueError:
        # The only other ValueError json.loads raises: an integer beyond Python's digit limit.
        raise MalformedJSON("not valid JSON: a number has too many digits") from None
    except RecursionError:
        raise MalformedJSON(_TOO_DEEP) from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise MalformedJSON(_TOO_DEEP)
    return value


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, walked without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_JSON_DEPTH:
                break
            members = item.values() if isinstance(item, dict) else item
            pending.extend((member, level + 1) for member in members)
    return deepest


class _NonStandardNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonStandardNumber(name)


def invalid(reason: str) -> PydanticCustomError:
    """A validation failure whose message is exactly `reason` (braces in user input stay literal)."""
    return PydanticCustomError("invalid", "{reason}", {"reason": reason})


def short(value: object) -> str:
    """A bounded rendering of a user-supplied value for an error message."""
    return _short.repr(value)


def describe_validation_error(exc: ValidationError) -> str:
    """Every failure in `exc` as `field: problem`, joined with '; '."""
    return "; ".join(_describe(error) for error in exc.errors(include_url=False))


def _describe(error: ErrorDetails) -> str:
    path = field_path(error["loc"])
    problem = _problem(error)
    return f'"{path}" {problem}' if path else problem


def field_path(loc: tuple[int | str, ...]) -> str:
    """`("portMappings", 0, "hostPort")` -> `portMappings[0].hostPort`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


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
