"""Error messages about input: one line that names each bad field, with bounded renderings of values."""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multus.cni.schema import SchemaError

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 3


def short(value: object) -> str:
    """A bounded rendering of a user-supplied value for an error message."""
    return _short.repr(value)


def field_path(loc: Sequence[int | str]) -> str:
    """`("plugins", 1, "type")` as `plugins[1].type`; the top level itself is ``""``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def describe(exc: SchemaError) -> str:
    """Every problem of a refused object, each after the field it is in."""
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{field_path(error['loc']) or '(top level)'}: {message}")
    return "; ".join(problems)
