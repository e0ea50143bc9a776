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
from pathlib import Path
from typing import Any, ClassVar

from multus.cni import validation
from multus.cni.errors import DecodeFailure, InvalidConfig, IOFailure
from multus.cni.ipam import plugin_config_problem
from multus.cni.jsontext import check_depth, load_json
from multus.cni.names import network_name_error, plugin_type_error
from multus.cni.schema import (
    Field,
    Record,
    SchemaError,
    any_dict,
    boolean,
    dict_of,
    list_of,
    nested,
    nullable,
    string,
    then,
)
from multus.cni.versions import pick_version

TYPE_CHECKING = False  # without importing typing's extras at run time
if TYPE_CHECKING:
    from typing import Self


def _libcni_flag(value: object) -> object:
    # libcni reads list flags as a JSON boolean or the strings "true"/"false" in any case.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _plain_file_name(value: str) -> str:
    if why := plugin_type_error(value):
        raise ValueError(why)
    return value


def _valid_network_name(value: str) -> str:
    if why := network_name_error(value):
        raise ValueError(why)
    return value


_strings = nullable(list_of(string))


class _Lossless(Record):
    """Keys the spec defines are checked; every other key is kept, and `to_dict` gives back exactly the
    keys that were given (declared ones in declaration order, then the others as they came)."""

    EXTRA = "allow"
    BY_NAME = True
    FROZEN = True


class IPAMConfig(_Lossless):
    FIELDS: ClassVar[dict[str, Field]] = {"type": Field(nullable(string), None)}

    type: str | None


class DNSConfig(_Lossless):
    FIELDS: ClassVar[dict[str, Field]] = {
        "nameservers": Field(_strings, None),
        "domain": Field(nullable(string), None),
        "search": Field(_strings, None),
        "options": Field(_strings, None),
    }

    nameservers: list[str] | None
    domain: str | None
    search: list[str] | None
    options: list[str] | None


class PluginConfig(_Lossless):
    """One plugin's configuration object (or a whole single-plugin network config)."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "type": Field(then(string, _plain_file_name)),
        "name": Field(nullable(string), None),
        "cni_version": Field(nullable(string), None, alias="cniVersion"),
        "cni_versions": Field(_strings, None, alias="cniVersions"),
        "capabilities": Field(nullable(dict_of(boolean)), None),
        "runtime_config": Field(nullable(any_dict), None, alias="runtimeConfig"),
        "args": Field(nullable(any_dict), None),
        "prev_result": Field(nullable(any_dict), None, alias="prevResult"),
        "ipam": Field(nullable(nested(IPAMConfig)), None),
        "dns": Field(nullable(nested(DNSConfig)), None),
    }

    type: str
    name: str | None
    cni_version: str | None
    cni_versions: list[str] | None
    capabilities: dict[str, bool] | None
    runtime_config: dict[str, Any] | None
    args: dict[str, Any] | None
    prev_result: dict[str, Any] | None
    ipam: IPAMConfig | None
    dns: DNSConfig | None

    @property
    def declared_capabilities(self) -> frozenset[str]:
        return frozenset(name for name, enabled in (self.capabilities or {}).items() if enabled)

    def stdin_base(self, network: str, version: str) -> dict[str, Any]:
        """The config as the plugin reads it in a list named `network` run at `version` (libcni's
        buildOneConfig), before prevResult and runtimeConfig are added."""
        return {**self.to_dict(), "name": network, "cniVersion": version}


class NetworkConfigList(_Lossless):
    FIELDS: ClassVar[dict[str, Field]] = {
        "name": Field(then(string, _valid_network_name)),
        "cni_version": Field(nullable(string), None, alias="cniVersion"),
        "cni_versions": Field(_strings, None, alias="cniVersions"),
        "disable_check": Field(boolean, False, alias="disableCheck", before=_libcni_flag),
        "disable_gc": Field(boolean, False, alias="disableGC", before=_libcni_flag),
        "load_only_inlined_plugins": Field(
            boolean, False, alias="loadOnlyInlinedPlugins", before=_libcni_flag
        ),
        "plugins": Field(list_of(nested(PluginConfig)), factory=list),
    }

    name: str
    cni_version: str | None
    cni_versions: list[str] | None
    disable_check: bool
    disable_gc: bool
    load_only_inlined_plugins: bool
    plugins: list[PluginConfig]

    version: str
    """The version every plugin of the list runs at: the best of `cniVersion` and `cniVersions`, chosen
    when the list is made, so a list without a version we speak is never made."""
    _source: bytes | None
    """The bytes this list was parsed from, which the result cache stores as libcni does."""

    @classmethod
    def _build(cls, values: Mapping[str, Any], given: frozenset[str], extra: dict[str, Any]) -> Self:
        conflist = super()._build(values, given, extra)
        object.__setattr__(conflist, "version", pick_version(conflist.cni_version, conflist.cni_versions))
        object.__setattr__(conflist, "_source", None)
        return conflist

    @property
    def declared_capabilities(self) -> frozenset[str]:
        return frozenset().union(*(plugin.declared_capabilities for plugin in self.plugins))

    def to_bytes(self) -> bytes:
        return self._source if self._source is not None else json.dumps(self.to_dict()).encode()

    def _parsed_from(self, source: bytes | str) -> None:
        object.__setattr__(self, "_source", source.encode() if isinstance(source, str) else source)

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
        conflist._parsed_from(data)
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
        conflist._parsed_from(source)
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
        return PluginConfig.validate(raw)
    except SchemaError as exc:
        raise InvalidConfig(f"invalid {where}: {validation.describe(exc)}") from None


def _validated_list(raw: Mapping[str, Any], *, single: bool = False) -> NetworkConfigList:
    """The list, with every plugin's input checked as the Go plugins read it (`multus.cni.ipam`);
    `single` names fields as in the single config the list was lifted from."""
    try:
        conflist = NetworkConfigList.validate(raw)
    except SchemaError as exc:
        raise InvalidConfig(f"invalid network config: {validation.describe(exc)}") from None
    version = conflist.version
    for index, plugin in enumerate(conflist.plugins):
        refused = plugin_config_problem(plugin.stdin_base(conflist.name, version), version)
        if refused is not None:
            where = refused.where if single else f"plugins[{index}].{refused.where}"
            raise InvalidConfig(f"invalid network config: {where}: {refused.problem}")
    return conflist
