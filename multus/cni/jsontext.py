"""Decoding JSON that comes from outside: configs, plugin output, cache files, Kubernetes objects.

There is one decoder for every layer. It reads JSON as Go's encoding/json does, so NaN and Infinity are
refused, and so is any text but UTF-8 (a byte-order mark, UTF-16). It is stricter than Go on two points:
integers beyond Python's digit limit and anything nested deeper than MAX_DEPTH are refused (real
documents nest a handful of levels, and the bound keeps decoding, or any later (recursive) deep copy,
from failing on a hostile document long after it was accepted), and so is an object naming one key twice,
whose meaning depends on which copy a reader keeps.

`decode_json` raises MalformedJSON, a phrase for the caller to wrap in the error that fits its input;
`load_json` raises the CNI layer's DecodeFailure.
"""

from __future__ import annotations

import json

from multus.cni.errors import DecodeFailure

TYPE_CHECKING = False  # without importing typing: see multus.cni.errors
if TYPE_CHECKING:
    from typing import Any

MAX_DEPTH = 64


class MalformedJSON(ValueError):
    """Text that is not JSON as Go's encoding/json reads it; the message is "not valid JSON: <reason>"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not valid JSON: {reason}")
        self.reason = reason


class NestedTooDeep(MalformedJSON):
    """JSON that nests lists and objects deeper than MAX_DEPTH; the message says so, without "not valid"."""

    def __init__(self) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels deep")
        self.args = (self.reason,)


def decode_json(text: bytes | str) -> Any:
    """`json.loads`, refusing what Go refuses (NaN, Infinity) and naming the problem without Python jargon."""
    if isinstance(text, bytes):
        # json.loads would guess UTF-16 or UTF-32, and skip a byte-order mark; Go reads UTF-8 only.
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(f"{exc.reason} in {exc.encoding} at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        raise MalformedJSON("a byte-order mark before the document (Go reads UTF-8 without one)")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NonStandardNumber as exc:
        raise MalformedJSON(f"{exc} is not a JSON number") from None
    except _RepeatedKey as exc:
        raise MalformedJSON(f"an object names the key {exc} twice") from None
    except ValueError:
        # The only other ValueError json.loads raises: an integer beyond Python's digit limit.
        raise MalformedJSON("a number has too many digits") from None
    except RecursionError:
        raise NestedTooDeep from None
    if _brackets(text) > MAX_DEPTH and _too_deep(value):
        raise NestedTooDeep
    return value


def _brackets(text: bytes | str) -> int:
    """At least the document's depth: counted in C, this spares most documents the walk."""
    if isinstance(text, str):
        return text.count("[") + text.count("{")
    return text.count(b"[") + text.count(b"{")


def load_json(data: bytes | str, what: str) -> Any:
    """`decode_json` for the CNI layer: every failure is a DecodeFailure that names `what` was read."""
    try:
        return decode_json(data)
    except NestedTooDeep:
        raise _nests_too_deep(what) from None
    except MalformedJSON as exc:
        raise DecodeFailure(f"{what} is not valid JSON", exc.reason) from None


def check_depth(value: object, what: str) -> None:
    """DecodeFailure when `value` (JSON already decoded) nests lists and objects deeper than MAX_DEPTH."""
    if _too_deep(value):
        raise _nests_too_deep(what)


def _nests_too_deep(what: str) -> DecodeFailure:
    return DecodeFailure(f"{what} nests deeper than {MAX_DEPTH} levels")


def _too_deep(value: object) -> bool:
    """Whether `value` nests lists and objects deeper than MAX_DEPTH, walked without recursion."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    return True
                pending.append((child, depth + 1))
    return False


class _NonStandardNumber(ValueError):
    pass


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(repr(key))
            seen.add(key)
    return value


def _refuse_constant(name: str) -> Any:
    raise _NonStandardNumber(name)
