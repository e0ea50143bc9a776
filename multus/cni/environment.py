"""The CNI execution environment: the `CNI_*` variables a runtime sets for a plugin.

`CNIEnvironment.from_environ` reads them as a plugin receives them and reports every bad or missing
variable at once, each by name. Which variables a command needs follows the spec (1.1.0, section 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from multus.cni.args import CNIArgs, format_cni_args, parse_cni_args
from multus.cni.errors import CNIError, InvalidEnvironment
from multus.cni.names import container_id_error, ifname_error


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
    Command.DEL: ("CNI_CONTAINERID", "CNI_IFNAME"),
    Command.VERSION: (),
    Command.GC: ("CNI_PATH",),
    Command.STATUS: (),
}


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
        problems: list[str] = []
        raw_command = environ.get("CNI_COMMAND", "")
        command = Command(raw_command) if raw_command in Command.__members__ else None
        if command is None:
            detail = (
                "is not set" if not raw_command else f"{raw_command!r} is not one of {', '.join(Command)}"
            )
            problems.append(f"CNI_COMMAND {detail}")
        else:
            problems += [
                f"{name} is required for {command}" for name in _REQUIRED[command] if not environ.get(name)
            ]
        container_id = environ.get("CNI_CONTAINERID", "")
        if container_id and (why := container_id_error(container_id)):
            problems.append(f"CNI_CONTAINERID {why}")
        ifname = environ.get("CNI_IFNAME", "")
        if ifname and (why := ifname_error(ifname)):
            problems.append(f"CNI_IFNAME {why}")
        args: CNIArgs = {}
        try:
            args = parse_cni_args(environ.get("CNI_ARGS", ""))
        except CNIError as exc:
            problems.append(exc.msg)
        if problems or command is None:
            raise InvalidEnvironment("invalid CNI environment: " + "; ".join(problems))
        return cls(
            command=command,
            container_id=container_id,
            netns=environ.get("CNI_NETNS", ""),
            ifname=ifname,
            args=tuple(args.items()),
            path=split_search_path(environ.get("CNI_PATH", "")),
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
