"""The CNI specification (0.1.0 to 1.1.0): no Kubernetes and no netlink here.

- `versions`: version strings, choosing one, the VERSION reply.
- `config`: network configs and config lists, lossless, single configs lifted into lists.
- `results`: results of every version and the conversions between them.
- `args`, `environment`, `names`: CNI_ARGS, the `CNI_*` variables, the spec's naming rules.
- `exec`: running one delegate plugin (async, time-limited, never leaving a process behind).
- `conflist`: ADD, CHECK, DEL, STATUS, GC of a config list for one attachment.
- `cache`: the libcni-compatible result cache.
- `errors`: the one error type that leaves this layer.

The names below are imported on first use (PEP 562): the `multus` executable answers VERSION
without loading what a VERSION never needs (the config and result checks, the delegate executor).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # without importing typing: see multus.cni.errors
if TYPE_CHECKING:
    from multus.cni.args import (
        IGNORE_UNKNOWN,
        CNIArgs,
        format_cni_args,
        ignores_unknown,
        parse_cni_args,
        reject_unknown_args,
    )
    from multus.cni.attachment import Attachment, plugin_stdin
    from multus.cni.cache import CACHE_KIND, DEFAULT_CACHE_DIR, CachedAttachment, ResultCache
    from multus.cni.config import (
        DNSConfig,
        IPAMConfig,
        NetworkConfigList,
        PluginConfig,
        load_network_config_file,
        parse_network_config,
    )
    from multus.cni.conflist import ConfigListRunner
    from multus.cni.environment import CNIEnvironment, Command, NothingToDelete, split_search_path
    from multus.cni.errors import (
        CleanupIncomplete,
        ClusterUnavailable,
        CNIError,
        DecodeFailure,
        DelegateFailed,
        DelegateTimeout,
        ErrorCode,
        IncompatibleVersion,
        InterfaceConflict,
        InvalidAnnotation,
        InvalidConfig,
        InvalidEnvironment,
        IOFailure,
        LimitedConnectivity,
        NetworkForbidden,
        NetworkNotFound,
        PluginNotAvailable,
        TryAgainLater,
        UnknownContainer,
        UnsupportedField,
    )
    from multus.cni.exec import DEFAULT_TIMEOUT, DelegateExecutor, PluginRun, find_plugin
    from multus.cni.names import container_id_error, ifname_error, network_name_error, plugin_type_error
    from multus.cni.results import DNS, Interface, IPConfig, Result, Route, parse_result
    from multus.cni.valid_attachments import (
        LEGACY_ATTACHMENTS_KEY,
        VALID_ATTACHMENTS_KEY,
        parse_valid_attachments,
    )
    from multus.cni.versions import (
        LATEST_VERSION,
        SUPPORTED_VERSIONS,
        VersionInfo,
        at_least,
        check_version,
        parse_version,
        pick_version,
        require_supported,
        version_reply,
    )

_SOURCES = {
    "IGNORE_UNKNOWN": "multus.cni.args",
    "CNIArgs": "multus.cni.args",
    "format_cni_args": "multus.cni.args",
    "ignores_unknown": "multus.cni.args",
    "parse_cni_args": "multus.cni.args",
    "reject_unknown_args": "multus.cni.args",
    "Attachment": "multus.cni.attachment",
    "plugin_stdin": "multus.cni.attachment",
    "CACHE_KIND": "multus.cni.cache",
    "DEFAULT_CACHE_DIR": "multus.cni.cache",
    "CachedAttachment": "multus.cni.cache",
    "ResultCache": "multus.cni.cache",
    "DNSConfig": "multus.cni.config",
    "IPAMConfig": "multus.cni.config",
    "NetworkConfigList": "multus.cni.config",
    "PluginConfig": "multus.cni.config",
    "load_network_config_file": "multus.cni.config",
    "parse_network_config": "multus.cni.config",
    "ConfigListRunner": "multus.cni.conflist",
    "CNIEnvironment": "multus.cni.environment",
    "Command": "multus.cni.environment",
    "NothingToDelete": "multus.cni.environment",
    "split_search_path": "multus.cni.environment",
    "CleanupIncomplete": "multus.cni.errors",
    "ClusterUnavailable": "multus.cni.errors",
    "CNIError": "multus.cni.errors",
    "DecodeFailure": "multus.cni.errors",
    "DelegateFailed": "multus.cni.errors",
    "DelegateTimeout": "multus.cni.errors",
    "ErrorCode": "multus.cni.errors",
    "IncompatibleVersion": "multus.cni.errors",
    "InterfaceConflict": "multus.cni.errors",
    "InvalidAnnotation": "multus.cni.errors",
    "InvalidConfig": "multus.cni.errors",
    "InvalidEnvironment": "multus.cni.errors",
    "IOFailure": "multus.cni.errors",
    "LimitedConnectivity": "multus.cni.errors",
    "NetworkForbidden": "multus.cni.errors",
    "NetworkNotFound": "multus.cni.errors",
    "PluginNotAvailable": "multus.cni.errors",
    "TryAgainLater": "multus.cni.errors",
    "UnknownContainer": "multus.cni.errors",
    "UnsupportedField": "multus.cni.errors",
    "DEFAULT_TIMEOUT": "multus.cni.exec",
    "DelegateExecutor": "multus.cni.exec",
    "PluginRun": "multus.cni.exec",
    "find_plugin": "multus.cni.exec",
    "container_id_error": "multus.cni.names",
    "ifname_error": "multus.cni.names",
    "network_name_error": "multus.cni.names",
    "plugin_type_error": "multus.cni.names",
    "DNS": "multus.cni.results",
    "Interface": "multus.cni.results",
    "IPConfig": "multus.cni.results",
    "Result": "multus.cni.results",
    "Route": "multus.cni.results",
    "parse_result": "multus.cni.results",
    "LEGACY_ATTACHMENTS_KEY": "multus.cni.valid_attachments",
    "VALID_ATTACHMENTS_KEY": "multus.cni.valid_attachments",
    "parse_valid_attachments": "multus.cni.valid_attachments",
    "LATEST_VERSION": "multus.cni.versions",
    "SUPPORTED_VERSIONS": "multus.cni.versions",
    "VersionInfo": "multus.cni.versions",
    "at_least": "multus.cni.versions",
    "check_version": "multus.cni.versions",
    "parse_version": "multus.cni.versions",
    "pick_version": "multus.cni.versions",
    "require_supported": "multus.cni.versions",
    "version_reply": "multus.cni.versions",
}


def __getattr__(name: str) -> object:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


__all__ = [
    "CACHE_KIND",
    "DEFAULT_CACHE_DIR",
    "DEFAULT_TIMEOUT",
    "DNS",
    "IGNORE_UNKNOWN",
    "LATEST_VERSION",
    "LEGACY_ATTACHMENTS_KEY",
    "SUPPORTED_VERSIONS",
    "VALID_ATTACHMENTS_KEY",
    "Attachment",
    "CNIArgs",
    "CNIEnvironment",
    "CNIError",
    "CachedAttachment",
    "CleanupIncomplete",
    "ClusterUnavailable",
    "Command",
    "ConfigListRunner",
    "DNSConfig",
    "DecodeFailure",
    "DelegateExecutor",
    "DelegateFailed",
    "DelegateTimeout",
    "ErrorCode",
    "IOFailure",
    "IPAMConfig",
    "IPConfig",
    "IncompatibleVersion",
    "Interface",
    "InterfaceConflict",
    "InvalidAnnotation",
    "InvalidConfig",
    "InvalidEnvironment",
    "LimitedConnectivity",
    "NetworkConfigList",
    "NetworkForbidden",
    "NetworkNotFound",
    "NothingToDelete",
    "PluginConfig",
    "PluginNotAvailable",
    "PluginRun",
    "Result",
    "ResultCache",
    "Route",
    "TryAgainLater",
    "UnknownContainer",
    "UnsupportedField",
    "VersionInfo",
    "at_least",
    "check_version",
    "container_id_error",
    "find_plugin",
    "format_cni_args",
    "ifname_error",
    "ignores_unknown",
    "load_network_config_file",
    "network_name_error",
    "parse_cni_args",
    "parse_network_config",
    "parse_result",
    "parse_valid_attachments",
    "parse_version",
    "pick_version",
    "plugin_stdin",
    "plugin_type_error",
    "reject_unknown_args",
    "require_supported",
    "split_search_path",
    "version_reply",
]
