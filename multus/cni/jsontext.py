"""Decoding JSON that comes from outside (configs, plugin output, cache files).

Every failure is a DecodeFailure, including input nested so deep that decoding or any later copy would
exhaust Python's recursion limit: CNI documents are shallow, so a generous depth bound costs nothing.
"""

from __future__ import annotations

import json
from typing import Any

from multus.cni.errors import DecodeFailure

MAX_DEPTH = 64


def load_json(data: bytes | str, what: str) -> Any:
    try:
        decoded = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeFailure(f"{what} is not valid JSON", str(exc)[:200]) from None
    check_depth(decoded, what)
    return decoded


def check_depth(value: object, what: str) -> None:
    """DecodeFailure when `value` nests lists and objects deeper than MAX_DEPTH."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    raise DecodeFailure(f"{what} nests deeper than {MAX_DEPTH} levels")
                pending.append((child, depth + 1))
