"""Decoding JSON (already parsed) into Go types the way Go's encoding/json does, to find what a Go plugin
would refuse in its input before the plugin runs.

A schema is built from decoders, one per Go type, each taking the JSON value and where it sits, and
giving the Go value or raising `Refused`. What encoding/json does, and these do too:
- object keys match struct fields case-insensitively (an exact match first; the long s U+017F and the
  Kelvin sign U+212A fold to `s` and `k`), every matching key is decoded in order (a struct or map into
  what the keys before it decoded), and unknown keys are ignored;
- `null` leaves a value as it was (a pointer, slice or map becomes nil), except for a type with its own
  UnmarshalJSON, which gets the `null` (`types.IPNet` then fails);
- integers must be integral JSON numbers within int64; strings, booleans, lists and objects must be
  exactly that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from multus.cni.validation import short

_INT64 = range(-(2**63), 2**63)


class Refused(ValueError):
    """A value a Go plugin cannot decode: where it sits (`ipam.ranges[0][0].subnet`) and why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class _Keep:
    """What a decoder gives for `null` where Go leaves the value as it was."""


KEEP = _Keep()
Decoder = Callable[[object, str], Any]


def string(value: object, where: str) -> object:
    if value is None or isinstance(value, str):
        return KEEP if value is None else value
    raise Refused(where, f"must be a string, not {short(value)}")


def integer(value: object, where: str) -> object:
    if value is None:
        return KEEP
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT64:
        return value
    raise Refused(where, f"must be an integer, not {short(value)}")


def boolean(value: object, where: str) -> object:
    if value is None or isinstance(value, bool):
        return KEEP if value is None else value
    raise Refused(where, f"must be true or false, not {short(value)}")


def anything(value: object, where: str) -> object:
    return value


def text(parse: Callable[[str], object], what: str) -> Decoder:
    """A type decoded from a JSON string by UnmarshalText (net.IP): `null` and "" are its zero (None)."""

    def decode(value: object, where: str) -> object:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            parsed = parse(value)
            if parsed is not None:
                return parsed
        raise Refused(where, f"{short(value)} is not {what}")

    return decode


def json_text(parse: Callable[[str], object], what: str) -> Decoder:
    """A type with its own UnmarshalJSON that reads a string (types.IPNet): `null` and "" are refused."""

    def decode(value: object, where: str) -> object:
        parsed = parse(value) if isinstance(value, str) else None
        if parsed is None:
            raise Refused(where, f"{short(value)} is not {what}")
        return parsed

    return decode


def pointer(inner: Decoder) -> Decoder:
    def decode(value: object, where: str) -> object:
        return None if value is None else inner(value, where)

    return decode


def list_of(item: Decoder) -> Decoder:
    def decode(value: object, where: str) -> object:
        if value is None:
            return None
        if not isinstance(value, list):
            raise Refused(where, f"must be a list, not {short(value)}")
        decoded = (item(element, f"{where}[{index}]") for index, element in enumerate(value))
        return [None if element is KEEP else element for element in decoded]

    return decode


def map_of(item: Decoder) -> Decoder:
    def decode(value: object, where: str) -> object:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise Refused(where, f"must be an object, not {short(value)}")
        return {key: item(element, f"{where}.{key}") for key, element in value.items()}

    return decode


def struct(fields: Mapping[str, Decoder]) -> Decoder:
    """A Go struct whose JSON keys are `fields`' keys, in declaration order (the first of two fields
    whose names fold alike takes a key that matches neither exactly)."""
    folded: dict[str, str] = {}
    for name in fields:
        folded.setdefault(fold(name), name)

    def decode(value: object, where: str) -> object:
        if value is None:
            return KEEP
        if not isinstance(value, dict):
            raise Refused(where, f"must be an object, not {short(value)}")
        decoded: dict[str, Any] = {}
        for key, element in value.items():
            name = key if key in fields else folded.get(fold(key))
            if name is None:
                continue
            result = fields[name](element, f"{where}.{key}" if where else key)
            if isinstance(result, dict) and isinstance(decoded.get(name), dict):
                decoded[name] = {**decoded[name], **result}  # a struct or map is decoded into, not replaced
            elif result is not KEEP:
                decoded[name] = result
        return decoded

    return decode


# The non-ASCII letters whose simple case folding (which encoding/json compares) holds an ASCII one.
_FOLDS_INTO_ASCII = str.maketrans({"\u212a": "k", "\u017f": "s"})


def fold(key: str) -> str:
    """A key as encoding/json compares it with an (ASCII) field name."""
    return key.translate(_FOLDS_INTO_ASCII).lower()
