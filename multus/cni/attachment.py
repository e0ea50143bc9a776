"""One interface of a container on one network, and what each plugin of the network reads on stdin."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multus.cni.args import format_cni_args
from multus.cni.config import NetworkConfigList, PluginConfig
from multus.cni.environment import CNIEnvironment, Command
from multus.cni.errors import InvalidConfig, InvalidEnvironment
from multus.cni.names import container_id_error, ifname_error
from multus.cni.results import Result


@dataclass(frozen=True)
class Attachment:
    """One interface of one container on one network: who, where, and the runtime's arguments."""

    container_id: str
    ifname: str
    netns: str = ""
    cni_args: tuple[tuple[str, str], ...] = ()
    capability_args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [
            f"{name} {why}"
            for name, why in (
                ("CNI_CONTAINERID", container_id_error(self.container_id)),
                ("CNI_IFNAME", ifname_error(self.ifname)),
                ("CNI_NETNS", "must not contain NUL" if "\0" in self.netns else None),
            )
            if why
        ]
        if problems:
            raise InvalidEnvironment("invalid attachment: " + "; ".join(problems))
        format_cni_args(self.cni_args)  # refuses pairs that CNI_ARGS cannot carry
        try:
            json.dumps(self.capability_args)
        except (TypeError, ValueError) as exc:
            raise InvalidConfig(f"runtimeConfig capability arguments are not JSON: {exc}") from None

    def environment(self, command: Command) -> CNIEnvironment:
        if command in (Command.ADD, Command.CHECK) and not self.netns:
            raise InvalidEnvironment(f"CNI_NETNS is required for {command}")
        return CNIEnvironment(command, self.container_id, self.netns, self.ifname, self.cni_args)


def plugin_stdin(
    conflist: NetworkConfigList,
    plugin: PluginConfig,
    *,
    prev_result: Result | Mapping[str, Any] | None = None,
    capability_args: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """The config one plugin of the list reads on stdin (libcni's buildOneConfig). A `prev_result` given
    as a mapping is taken to be in the list's version already."""
    config = plugin.stdin_base(conflist.name, conflist.version)
    if isinstance(prev_result, Result):
        config["prevResult"] = prev_result.convert_to(conflist.version).to_dict()
    elif prev_result is not None:
        config["prevResult"] = dict(prev_result)
    declared = plugin.declared_capabilities
    granted = {key: value for key, value in (capability_args or {}).items() if key in declared}
    if granted:
        config["runtimeConfig"] = {**(plugin.runtime_config or {}), **granted}
    config.update(extra or {})
    return json.dumps(config).encode()
