"""Turning pydantic's validation errors into one line that names each bad field."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


def field_path(loc: Sequence[int | str]) -> str:
    """`("plugins", 1, "type")` as `plugins[1].type`; the top level itself is ``""``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{field_path(error['loc']) or '(top level)'}: {message}")
    return "; ".join(problems)
