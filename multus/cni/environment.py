"""The CNI execution environment: the `CNI_*` variables a runtime sets for a plugin.

`CNIEnvironment.from_environ` reads them as a plugin receives them and reports every bad or missing
variable at once, each by name. Which variables a command needs follows the spec (1.1.0, section 2),
except that DEL is lenient (see `from_environ`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from multus.cni.args import CNIArgs, format_cni_args, parse_cni_args
from multus.cni.errors import CNIError, InvalidEnvironment
from multus.cni.names import container_id_error, ifname_error
from multus.cni.validation import short


class Command(StrEnum):
    ADD = "ADD"
    DEL = "DEL"
    CHECK = "CHECK"
    VERSION = "VERSION"
    GC = "GC"
    STATUS = "STATUS"


_REQUIRED: dict[Command, tuple[str, ...]] = {
    Command.ADD: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    Command.CHECK: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    # The spec wants CNI_IFNAME too; a DEL undoes what the container's record holds, so it goes without.
    Command.DEL: ("CNI_CONTAINERID",),
    Command.VERSION: (),
    Command.GC: ("CNI_PATH",),
    Command.STATUS: (),
}
# Linux's limits on a path and on each name in it, in bytes.
_PATH_MAX, _NAME_MAX = 4096, 255
# What a DEL leaves out, rather than refuse, when it breaks the rule ADD enforces.
_LEFT_OUT_BY_DEL = ("CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")


class NothingToDelete(InvalidEnvironment):
    """A DEL whose CNI_CONTAINERID no ADD accepts, so nothing can have been made under it: the caller
    answers success (the runtime retries a failed DEL for ever) and touches nothing (no path may be
    built from such an ID)."""


@dataclass(frozen=True)
class CNIEnvironment:
    command: Command
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: tuple[tuple[str, str], ...] = ()
    path: tuple[str, ...] = ()

    @property
    def args_dict(self) -> CNIArgs:
        return dict(self.args)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CNIEnvironment:
        """The environment of a request, every bad variable named in one InvalidEnvironment.

        A DEL is read leniently, since a DEL that fails is retried for ever: a CNI_NETNS, CNI_IFNAME,
        CNI_ARGS or CNI_PATH entry that ADD refuses is left out (the DEL undoes what the container's
        record holds, which has its own), and a CNI_CONTAINERID that ADD refuses raises NothingToDelete.
        """
        values = {name: environ.get(name, "") for name in _VARIABLES}
        raw_command = environ.get("CNI_COMMAND", "")
        command = Command(raw_command) if raw_command in Command.__members__ else None
        problems: dict[str, str] = {}
        if command is None:
            problems["CNI_COMMAND"] = (
                "is not set"
                if not raw_command
                else f"{short(raw_command)} is not one of {', '.join(Command)}"
            )
        else:
            problems |= {
                name: f"is required for {command}" for name in _REQUIRED[command] if not values[name]
            }
        for name, check in _CHECKS.items():
            if values[name] and (why := check(values[name])):
                problems[name] = why
        args: CNIArgs = {}
        try:
            args = parse_cni_args(values["CNI_ARGS"])
        except CNIError as exc:
            problems["CNI_ARGS"] = exc.msg.removeprefix("CNI_ARGS: ")
        if command == Command.DEL:
            for name in _LEFT_OUT_BY_DEL:
                if problems.pop(name, None) is not None:
                    values[name] = ""
        if problems:
            listed = "; ".join(f"{name} {why}" for name, why in problems.items())
            error = NothingToDelete if command == Command.DEL else InvalidEnvironment
            raise error(f"invalid CNI environment: {listed}")
        assert command is not None  # a problem otherwise
        return cls(
            command=command,
            container_id=values["CNI_CONTAINERID"],
            netns=values["CNI_NETNS"],
            ifname=values["CNI_IFNAME"],
            args=tuple(args.items()),
            path=split_search_path(values["CNI_PATH"]),
        )

    def to_environ(self) -> dict[str, str]:
        """The variables to give a plugin; empty ones are left out rather than set to ''."""
        values = {
            "CNI_COMMAND": str(self.command),
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_ARGS": format_cni_args(self.args),
            "CNI_PATH": os.pathsep.join(self.path),
        }
        return {name: value for name, value in values.items() if value}


def split_search_path(value: str) -> tuple[str, ...]:
    return tuple(entry for entry in value.split(os.pathsep) if entry)


def _no_nul(value: str) -> str | None:
    # A path with NUL cannot be opened (nor handed to a plugin); it can only come through the socket.
    return "must not contain NUL" if "\0" in value else None


def _netns_error(value: str) -> str | None:
    """What makes CNI_NETNS a path no namespace can be at (whether one is there is the caller's to find)."""
    if why := _no_nul(value):
        return why
    if not value.startswith("/"):
        return f"{short(value)} must be an absolute path"
    encoded = value.encode(errors="surrogateescape")
    if len(encoded) >= _PATH_MAX or any(len(part) > _NAME_MAX for part in encoded.split(b"/")):
        return f"{short(value)} is longer than a path (or one of its names) may be"
    return None


_VARIABLES = ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")
_CHECKS: dict[str, Callable[[str], str | None]] = {
    "CNI_CONTAINERID": container_id_error,
    "CNI_IFNAME": ifname_error,
    "CNI_NETNS": _netns_error,
    "CNI_PATH": _no_nul,
}
