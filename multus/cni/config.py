"""Network configurations and configuration lists, kept lossless.

A config is someone else's JSON: plugins read keys we have never heard of. The models here check the
keys the spec defines and keep every other key untouched, and `to_dict` gives back exactly the keys
that came in (a flag written as the string "true", which libcni accepts, comes back as `true`).

A single plugin config (one with `type` and no `plugins`) is lifted into a list of one, as libcni does,
so everything downstream handles lists only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
)

from multus.cni import validation
from multus.cni.errors import DecodeFailure, InvalidConfig, IOFailure
from multus.cni.ipam import plugin_config_problem
from multus.cni.jsontext import check_depth, load_json
from multus.cni.names import network_name_error, plugin_type_error
from multus.cni.versions import pick_version


def _libcni_flag(value: object) -> object:
    # libcni reads list flags as a JSON boolean or the strings "true"/"false" in any case.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


_Flag = Annotated[StrictBool, BeforeValidator(_libcni_flag)]


class _Lossless(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)

    def to_dict(self) -> dict[str, Any]:
        """Exactly the keys that were given, under their JSON names."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class IPAMConfig(_Lossless):
    type: StrictStr | None = None


class DNSConfig(_Lossless):
    nameservers: list[StrictStr] | None = None
    domain: StrictStr | None = None
    search: list[StrictStr] | None = None
    options: list[StrictStr] | None = None


class PluginConfig(_Lossless):
    """One plugin's configuration object (or a whole single-plugin network config)."""

    type: StrictStr
    name: StrictStr | None = None
    cni_version: StrictStr | None = Field(None, alias="cniVersion")
    cni_versions: list[StrictStr] | None = Field(None, alias="cniVersions")
    capabilities: dict[str, StrictBool] | None = None
    runtime_config: dict[str, Any] | None = Field(None, alias="runtimeConfig")
    args: dict[str, Any] | None = None
    prev_result: dict[str, Any] | None = Field(None, alias="prevResult")
    ipam: IPAMConfig | None = None
    dns: DNSConfig | None = None

    @field_validator("type")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if why := plugin_type_error(value):
            raise ValueError(why)
        return value

    @property
    def declared_capabilities(self) -> frozenset[str]:
        return frozenset(name for name, enabled in (self.capabilities or {}).items() if enabled)

    def stdin_base(self, network: str, version: str) -> dict[str, Any]:
        """The config as the plugin reads it in a list named `network` run at `version` (libcni's
        buildOneConfig), before prevResult and runtimeConfig are added."""
        return {**self.to_dict(), "name": network, "cniVersion": version}


class NetworkConfigList(_Lossless):
    name: StrictStr
    cni_version: StrictStr | None = Field(None, alias="cniVersion")
    cni_versions: list[StrictStr] | None = Field(None, alias="cniVersions")
    disable_check: _Flag = Field(False, alias="disableCheck")
    disable_gc: _Flag = Field(False, alias="disableGC")
    load_only_inlined_plugins: _Flag = Field(False, alias="loadOnlyInlinedPlugins")
    plugins: list[PluginConfig] = Field(default_factory=list)

    # The bytes this list was parsed from, which the result cache stores as libcni does.
    _source: bytes | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _valid_network_name(cls, value: str) -> str:
        if why := network_name_error(value):
            raise ValueError(why)
        return value

    @cached_property
    def version(self) -> str:
        """The version every plugin of the list runs at: the best of `cniVersion` and `cniVersions`."""
        return pick_version(self.cni_version, self.cni_versions)

    @property
    def declared_capabilities(self) -> frozenset[str]:
        return frozenset().union(*(plugin.declared_capabilities for plugin in self.plugins))

    def to_bytes(self) -> bytes:
        return self._source if self._source is not None else json.dumps(self.to_dict()).encode()

    @classmethod
    def from_plugin(cls, plugin: PluginConfig) -> NetworkConfigList:
        """A single network config lifted into a list of one (libcni's ConfListFromConf)."""
        lifted: dict[str, Any] = {"name": plugin.name, "plugins": [plugin.to_dict()]}
        if plugin.cni_version is not None:
            lifted["cniVersion"] = plugin.cni_version
        if plugin.cni_versions is not None:
            lifted["cniVersions"] = plugin.cni_versions
        return _validated_list(lifted, single=True)


def parse_network_config(data: bytes | str | Mapping[str, Any]) -> NetworkConfigList:
    """A config list from JSON (bytes, text or decoded), lifting a single plugin config into a list.

    Raises DecodeFailure for text that is not a JSON object, InvalidConfig naming the field for any
    key that breaks the spec, IncompatibleVersion when no configured version is supported.
    """
    raw = _decode(data)
    conflist = _parse_raw(raw)
    if not conflist.plugins:
        raise InvalidConfig("network config has no plugins: set `plugins` (a list) or `type`")
    if isinstance(data, bytes | str) and "plugins" in raw:
        conflist._source = data.encode() if isinstance(data, str) else data
    return conflist


def load_network_config_file(path: Path) -> NetworkConfigList:
    """A config list from a file, adding `<dir>/<name>/*.conf` plugins as libcni does.

    A list (a file without a top-level `type`) gets the plugins of that folder appended in file name
    order, unless `loadOnlyInlinedPlugins` is set.
    """
    source = _read(path)
    raw = _decode(source)
    conflist = _parse_raw(raw)
    is_list = "type" not in raw or "plugins" in raw
    if is_list and "plugins" in raw:
        conflist._source = source
    if conflist.load_only_inlined_plugins and "plugins" not in raw:
        raise InvalidConfig(f"{path}: loadOnlyInlinedPlugins is true but there is no `plugins` list")
    if is_list and not conflist.load_only_inlined_plugins:
        files = _plugin_files(path, conflist.name)
        if files:
            extra = [_parse_plugin(_decode(_read(file)), str(file)).to_dict() for file in files]
            conflist = _validated_list({**conflist.to_dict(), "plugins": [*raw.get("plugins", []), *extra]})
    if not conflist.plugins:
        raise InvalidConfig(f"{path}: network {conflist.name!r} has no plugins")
    return conflist


def _plugin_files(path: Path, network: str) -> list[Path]:
    folder = path.parent / network
    return sorted(file for file in folder.glob("*.conf") if file.is_file()) if folder.is_dir() else []


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IOFailure(f"cannot read network config {path}", exc.strerror or str(exc)) from None


def _decode(data: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(data, Mapping):
        decoded: object = dict(data)
        check_depth(decoded, "network config")
    else:
        decoded = load_json(data, "network config")
    if not isinstance(decoded, dict):
        raise DecodeFailure(f"network config must be a JSON object, not {type(decoded).__name__}")
    return decoded


def _parse_raw(raw: dict[str, Any]) -> NetworkConfigList:
    if "plugins" in raw or "type" not in raw:
        return _validated_list(raw)
    return NetworkConfigList.from_plugin(_parse_plugin(raw, "network config"))


def _parse_plugin(raw: object, where: str) -> PluginConfig:
    try:
        return PluginConfig.model_validate(raw)
    except ValidationError as exc:
        raise InvalidConfig(f"invalid {where}: {validation.describe(exc)}") from None


def _validated_list(raw: Mapping[str, Any], *, single: bool = False) -> NetworkConfigList:
    """The list, with every plugin's input checked as the Go plugins read it (`multus.cni.ipam`);
    `single` names fields as in the single config the list was lifted from."""
    try:
        conflist = NetworkConfigList.model_validate(raw)
    except ValidationError as exc:
        raise InvalidConfig(f"invalid network config: {validation.describe(exc)}") from None
    version = conflist.version  # chosen now, so a bad one fails the parse
    for index, plugin in enumerate(conflist.plugins):
        refused = plugin_config_problem(plugin.stdin_base(conflist.name, version), version)
        if refused is not None:
            where = refused.where if single else f"plugins[{index}].{refused.where}"
            raise InvalidConfig(f"invalid network config: {where}: {refused.problem}")
    return conflist
