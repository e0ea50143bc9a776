"""CNI_ARGS: `KEY=VALUE` pairs joined by `;`, as runtimes pass them to plugins.

Read as the Go plugins read them (`types.LoadArgs`), since the pairs reach them: every `;`-separated
part must split on `=` into exactly a key and a value, so a value holding `=` and an empty part (`a;;b`,
a trailing `;`) are refused; a plugin refuses them on DEL as on ADD, and a DEL that can never succeed
is retried by the runtime for ever. Order carries no meaning and a later duplicate key wins, as in
libcni. `IgnoreUnknown=1` tells a plugin to accept keys it does not know.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from multus.cni.errors import InvalidEnvironment
from multus.cni.validation import short

IGNORE_UNKNOWN = "IgnoreUnknown"
_TRUE, _FALSE = ("1", "true"), ("0", "false")

CNIArgs = dict[str, str]


def parse_cni_args(text: str) -> CNIArgs:
    """The pairs of a CNI_ARGS string; the empty string has none."""
    parsed: CNIArgs = {}
    if not text:
        return parsed
    for index, pair in enumerate(text.split(";")):
        parts = pair.split("=")
        if len(parts) != 2 or not parts[0] or "\0" in pair:
            raise InvalidEnvironment(
                f"CNI_ARGS: pair {index} {short(pair)} is not KEY=VALUE (one '=', a non-empty key, no NUL)"
            )
        parsed[parts[0]] = parts[1]
    return parsed


def format_cni_args(args: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    pairs = args.items() if isinstance(args, Mapping) else args
    formatted = []
    for key, value in pairs:
        if not key or "=" in key or ";" in key or "\0" in key:
            raise InvalidEnvironment(f"CNI_ARGS: key {short(key)} must be non-empty without '=', ';' or NUL")
        if ";" in value or "=" in value or "\0" in value:
            raise InvalidEnvironment(f"CNI_ARGS: value of {key} must not contain ';', '=' or NUL")
        formatted.append(f"{key}={value}")
    return ";".join(formatted)


def ignores_unknown(args: Mapping[str, str]) -> bool:
    """Whether `IgnoreUnknown` is set, read like the Go plugins do (1/true/0/false, any case)."""
    value = args.get(IGNORE_UNKNOWN)
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise InvalidEnvironment(
        f"CNI_ARGS: {IGNORE_UNKNOWN}={short(value)} is not a boolean (1, true, 0, false)"
    )


def reject_unknown_args(args: Mapping[str, str], known: Collection[str]) -> None:
    """Refuse keys outside `known`, unless the runtime set `IgnoreUnknown`."""
    unknown = sorted(key for key in args if key not in known and key != IGNORE_UNKNOWN)
    if unknown and not ignores_unknown(args):
        raise InvalidEnvironment(
            f"CNI_ARGS: unknown key(s) {', '.join(unknown)} and {IGNORE_UNKNOWN} not set"
        )
