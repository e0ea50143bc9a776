"""NetworkAttachmentDefinition objects: their names, their `spec.config`, and their device resource.

Choices where the spec is silent:
- A `spec.config` that is absent, empty or only whitespace means "use the on-disk config": YAML block
  scalars easily leave a lone newline, and it cannot be valid JSON anyway.
- A config with both `type` and `plugins` is refused as ambiguous (upstream silently treats it as a
  single config and drops the plugin list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multus.cni.errors import InvalidConfig
from multus.cni.jsontext import MalformedJSON, decode_json
from multus.k8s.constants import RESOURCE_NAME_ANNOTATION
from multus.k8s.json_boundary import short
from multus.k8s.names import dns1123_label_problem


@dataclass(frozen=True)
class InlineConfig:
    """The NAD's own CNI config (single or list), with `name` filled in when the NAD left it out."""

    config: dict[str, Any] = field(hash=False)

    @property
    def is_list(self) -> bool:
        return "plugins" in self.config


@dataclass(frozen=True)
class ConfDirConfig:
    """The NAD has no config: use the file in `confDir` whose JSON `name` equals `network_name`."""

    network_name: str


@dataclass(frozen=True)
class NetworkAttachmentDefinition:
    namespace: str
    name: str
    config: InlineConfig | ConfDirConfig
    # The device-plugin resource (`k8s.v1.cni.cncf.io/resourceName`) whose device the delegate gets.
    resource_name: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.namespace}/{self.name}"


def nad_name_problem(name: str) -> str | None:
    return dns1123_label_problem(name)


def check_nad_name(name: str) -> None:
    problem = nad_name_problem(name)
    if problem:
        raise InvalidConfig(f"NetworkAttachmentDefinition name {problem}")


def parse_nad(obj: Mapping[str, Any]) -> NetworkAttachmentDefinition:
    """Read a NAD object as the API returns it (a JSON-like dict)."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise InvalidConfig(f"NetworkAttachmentDefinition has no metadata: {short(obj)}")
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not name or not isinstance(namespace, str) or not namespace:
        raise InvalidConfig(
            f"NetworkAttachmentDefinition metadata lacks name or namespace: {short(metadata)}"
        )
    reference = f"{namespace}/{name}"
    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise InvalidConfig(
            f"NetworkAttachmentDefinition {reference}: spec must be an object, not {short(spec)}"
        )
    raw_config = spec.get("config")
    if raw_config is not None and not isinstance(raw_config, str):
        raise InvalidConfig(
            f"NetworkAttachmentDefinition {reference}: spec.config must be a string holding JSON, "
            f"not {short(raw_config)}"
        )
    return NetworkAttachmentDefinition(
        namespace=namespace,
        name=name,
        config=parse_nad_config(raw_config, namespace=namespace, name=name),
        resource_name=resource_name(metadata),
    )


def parse_nad_config(text: str | None, *, namespace: str, name: str) -> InlineConfig | ConfDirConfig:
    """`spec.config` of NAD `namespace/name`: its JSON with `name` defaulted, or the on-disk marker."""
    if text is None or not text.strip():
        return ConfDirConfig(network_name=name)

    def fail(problem: str) -> InvalidConfig:
        return InvalidConfig(f"NetworkAttachmentDefinition {namespace}/{name}: spec.config {problem}")

    try:
        config = decode_json(text)
    except MalformedJSON as exc:
        raise fail(f"is {exc}") from None
    if not isinstance(config, dict):
        raise fail(f"must be a JSON object, not {short(config)}")
    has_type, has_plugins = "type" in config, "plugins" in config
    if has_type and has_plugins:
        raise fail("has both 'type' and 'plugins'; a config is either a single plugin or a list")
    if not has_type and not has_plugins:
        raise fail("has neither 'type' (a single plugin) nor 'plugins' (a list)")
    try:
        config_plugins(config)
    except InvalidConfig as exc:
        raise fail(exc.msg) from None
    configured_name = config.get("name")
    if configured_name is None or configured_name == "":
        config["name"] = name
    elif not isinstance(configured_name, str):
        raise fail(f"'name' must be a string, not {short(configured_name)}")
    return InlineConfig(config)


def config_plugins(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The plugin configs of a CNI config: itself when single, its `plugins` when a list."""
    if "plugins" not in config:
        _check_plugin_type(config.get("type"), "'type'")
        return [config]
    plugins = config["plugins"]
    if not isinstance(plugins, list) or not plugins:
        raise InvalidConfig(f"'plugins' must be a non-empty list, not {short(plugins)}")
    for index, plugin in enumerate(plugins):
        if not isinstance(plugin, dict):
            raise InvalidConfig(f"plugins[{index}] must be an object, not {short(plugin)}")
        _check_plugin_type(plugin.get("type"), f"plugins[{index}].type")
    return plugins


def _check_plugin_type(value: object, where: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidConfig(f"{where} must be a non-empty string, not {short(value)}")


def resource_name(metadata: Mapping[str, Any]) -> str | None:
    """The NAD's `k8s.v1.cni.cncf.io/resourceName` annotation, trimmed; None when absent or blank."""
    annotations = metadata.get("annotations")
    if not isinstance(annotations, Mapping):
        return None
    value = annotations.get(RESOURCE_NAME_ANNOTATION)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()
