"""Whether a NetworkAttachmentDefinition is usable, judged with the node side's own parsers.

The node reads a NAD's `spec.config` with `multus.k8s.nad.parse_nad_config` and the resulting CNI config
with `multus.cni.config.parse_network_config` (plugin types, network name, versions, flags, and each
plugin's input as the Go plugins decode it: `multus.cni.ipam`); this module runs the same two, so a NAD
the admission webhook lets through is one the node accepts, and the message a user sees at
`kubectl apply` time is the one the pod would have failed with.

Two additions of ours: the NAD name must be a DNS-1123 label (`multus.k8s.nad.nad_name_problem`; the
API server allows dotted names) and `k8s.v1.cni.cncf.io/resourceName` must be an extended resource name
(`domain/name`; the node passes it to the device plugin API unchecked).

Every judgement returns a verdict and never raises: arbitrary objects come in through the webhook.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from multus.cni.config import parse_network_config
from multus.cni.errors import CNIError, IncompatibleVersion
from multus.k8s.constants import RESOURCE_NAME_ANNOTATION
from multus.k8s.json_boundary import short
from multus.k8s.nad import InlineConfig, config_plugins, nad_name_problem, parse_nad_config

# A qualified name's prefix is a DNS-1123 subdomain; its name part is at most 63 characters.
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_SUBDOMAIN_MAX_LENGTH = 253
_NAME_PART_MAX_LENGTH = 63


@dataclass(frozen=True)
class NadVerdict:
    """What the controller concludes about one NAD: its problems, and what a valid config holds."""

    problems: tuple[str, ...] = ()
    # The plugin types in order (a single config has one); empty when the config lives on the nodes.
    plugin_types: tuple[str, ...] = ()
    # The version the node will run the config at; None when unknown (on-disk config, or invalid).
    cni_version: str | None = None
    # True when `spec.config` is empty: each node uses the file in its confDir named like the NAD.
    config_on_node: bool = False

    @property
    def valid(self) -> bool:
        return not self.problems


def judge_nad(obj: object) -> NadVerdict:
    """Judge a NAD as the API server holds it (a JSON-like dict); any input gets an answer."""
    if not isinstance(obj, Mapping):
        return NadVerdict(problems=(f"a NetworkAttachmentDefinition must be an object, not {short(obj)}",))
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return NadVerdict(problems=(f"metadata must be an object, not {short(metadata)}",))
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        return NadVerdict(problems=(f"metadata lacks a name or namespace: {short(metadata)}",))
    problems = []
    name_problem = nad_name_problem(name)
    if name_problem:
        problems.append(f"NetworkAttachmentDefinition {namespace}/{name}: metadata.name {name_problem}")
    resource_problem = _resource_name_annotation_problem(metadata.get("annotations"))
    if resource_problem:
        problems.append(f"NetworkAttachmentDefinition {namespace}/{name}: {resource_problem}")
    config = _judge_config(obj.get("spec"), namespace=namespace, name=name)
    return NadVerdict(
        problems=(*problems, *config.problems),
        plugin_types=config.plugin_types,
        cni_version=config.cni_version,
        config_on_node=config.config_on_node,
    )


def admission_problems(new: object, old: object | None) -> tuple[str, ...]:
    """Why the API server must refuse writing `new` (over `old` on an update); empty means allow.

    An update that leaves the config and resource name alone is always allowed: it is metadata
    bookkeeping (finalizers, our own annotations), and refusing it would trap a NAD stored before the
    webhook existed, or before a rule got stricter, with no way to remove its finalizer.
    """
    if old is not None and _judged_parts(new) == _judged_parts(old):
        return ()
    return judge_nad(new).problems


def resource_name_problem(value: str) -> str | None:
    """Why `value` is not an extended resource name (`vendor.example/resource`), or None."""
    prefix, slash, name = value.partition("/")
    if not slash:
        return f"{short(value)} lacks a domain prefix (expected <domain>/<name>, e.g. intel.com/sriov)"
    if len(prefix) > _SUBDOMAIN_MAX_LENGTH or _DNS1123_SUBDOMAIN.fullmatch(prefix) is None:
        return f"prefix {short(prefix)} is not a DNS-1123 subdomain"
    if len(name) > _NAME_PART_MAX_LENGTH or _QUALIFIED_NAME_PART.fullmatch(name) is None:
        return (
            f"name {short(name)} must be 1 to {_NAME_PART_MAX_LENGTH} letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _resource_name_annotation_problem(annotations: object) -> str | None:
    if annotations is None:
        return None
    if not isinstance(annotations, Mapping):
        return f"metadata.annotations must be an object, not {short(annotations)}"
    value = annotations.get(RESOURCE_NAME_ANNOTATION)
    # A blank value is read as "no resource" by the node (multus.k8s.nad.resource_name).
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    where = f"metadata.annotations[{RESOURCE_NAME_ANNOTATION}]"
    if not isinstance(value, str):
        return f"{where} must be a string, not {short(value)}"
    problem = resource_name_problem(value.strip())
    return f"{where}: {problem}" if problem else None


def _judge_config(spec: object, *, namespace: str, name: str) -> NadVerdict:
    if spec is not None and not isinstance(spec, Mapping):
        return NadVerdict(
            problems=(f"NetworkAttachmentDefinition {namespace}/{name}: spec must be an object",)
        )
    text = spec.get("config") if spec else None
    if text is not None and not isinstance(text, str):
        return NadVerdict(
            problems=(
                f"NetworkAttachmentDefinition {namespace}/{name}: spec.config must be a string holding "
                f"JSON, not {short(text)}",
            )
        )
    try:
        parsed = parse_nad_config(text, namespace=namespace, name=name)
    except CNIError as error:
        return NadVerdict(problems=(str(error),))
    if not isinstance(parsed, InlineConfig):
        return NadVerdict(config_on_node=True)
    return _judge_inline(parsed.config, where=f"NetworkAttachmentDefinition {namespace}/{name}: spec.config")


def _judge_inline(config: dict[str, Any], *, where: str) -> NadVerdict:
    # parse_nad_config has checked the plugin list and each type's presence, so these exist.
    plugin_types = tuple(plugin["type"] for plugin in config_plugins(config))
    try:
        conflist = parse_network_config(config)
    except IncompatibleVersion as error:
        # The node's message lists the versions but not where they came from.
        fields = "cniVersion/cniVersions" if "cniVersions" in config else "cniVersion"
        return NadVerdict(problems=(f"{where} {fields}: {error}",), plugin_types=plugin_types)
    except CNIError as error:
        return NadVerdict(problems=(f"{where}: {error}",), plugin_types=plugin_types)
    return NadVerdict(
        plugin_types=tuple(plugin.type for plugin in conflist.plugins), cni_version=conflist.version
    )


def _judged_parts(obj: object) -> tuple[object, object]:
    """The parts of a NAD that a judgement reads besides its name: `spec` and the resource annotation."""
    if not isinstance(obj, Mapping):
        return obj, None
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    resource = annotations.get(RESOURCE_NAME_ANNOTATION) if isinstance(annotations, Mapping) else None
    return obj.get("spec"), resource
