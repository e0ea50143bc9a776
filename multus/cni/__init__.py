"""The CNI specification (0.1.0 to 1.1.0): no Kubernetes and no netlink here.

- `versions`: version strings, choosing one, the VERSION reply.
- `config`: network configs and config lists, lossless, single configs lifted into lists.
- `results`: results of every version and the conversions between them.
- `args`, `environment`, `names`: CNI_ARGS, the `CNI_*` variables, the spec's naming rules.
- `exec`: running one delegate plugin (async, time-limited, never leaving a process behind).
- `conflist`: ADD, CHECK, DEL, STATUS, GC of a config list for one attachment.
- `cache`: the libcni-compatible result cache.
- `errors`: the one error type that leaves this layer.
"""

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
