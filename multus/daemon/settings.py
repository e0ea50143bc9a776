"""multus-daemon's settings: its config file (upstream Multus's `daemon-config.json` keys and ours) and its
environment, read strictly: a key the daemon does not act on is refused by name, never ignored.

`UPSTREAM_DAEMON_KEYS` says, for every key of upstream Multus v4.3's thick daemon config and of the
`00-multus.conf` it generates, whether the daemon implements it with upstream's meaning or refuses it,
and why; `UPSTREAM_ENVIRONMENT` does the same for upstream's variables. `docs/daemon-config.md` is the
same table for people.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from multus.cni.cache import DEFAULT_CACHE_DIR
from multus.cni.jsontext import MalformedJSON, decode_json
from multus.cni.schema import (
    Field,
    SchemaError,
    boolean,
    dict_of,
    field_names,
    integer,
    nested,
    nullable,
    number,
    path,
    string,
    then,
)
from multus.cni.versions import SUPPORTED_VERSIONS, is_supported
from multus.config import ApiTimeouts, LogSettings, MultusConfig, empty_is_unset, known_level
from multus.daemon.nodeconfig import OWN_CONFIG


class Support(StrEnum):
    IMPLEMENTED = "implemented"
    REFUSED = "refused"


def _never(_: Any) -> bool:
    return False


@dataclass(frozen=True)
class KeySupport:
    support: Support
    note: str  # implemented: what the daemon does with the key; refused: why, and what to do instead
    # For a refused key: whether a value asks for nothing (false, "", disabled), and is accepted so.
    inert: Callable[[Any], bool] = _never

    def refuses(self, value: Any) -> bool:
        return self.support is Support.REFUSED and not self.inert(value)


def _implemented(note: str) -> KeySupport:
    return KeySupport(Support.IMPLEMENTED, note)


def _refused(note: str, inert: Callable[[Any], bool]) -> KeySupport:
    return KeySupport(Support.REFUSED, note, inert)


def _copied(what: str) -> KeySupport:
    return _implemented(f"{what}; copied into 00-multus.conf, so every request carries it")


UPSTREAM_DAEMON_KEYS: Mapping[str, KeySupport] = MappingProxyType(
    {
        # The daemon's own settings (upstream's ControllerNetConf).
        "chrootDir": _refused(
            "delegates run in the daemon's own root: running each one chrooted into the host's root is not "
            "implemented; mount the CNI bin dir and what delegates use at their host paths instead",
            lambda value: value == "",
        ),
        "socketDir": _implemented("the folder of the daemon's socket, multus.sock (default /run/multus)"),
        "logFile": _implemented("the daemon also logs to this file, rotated as logOptions says"),
        "logLevel": _implemented("debug, verbose (the default), info, error or panic"),
        "logToStderr": _implemented("log to stderr (default true; upstream's default is false)"),
        "logOptions": _implemented(
            "rotation of logFile: maxSize (MB, default 100), maxBackups (default 5, 0 keeps all), "
            "maxAge (days, default 5, 0 keeps any age), compress (gzip, default true)"
        ),
        "metricsPort": _implemented(
            "Prometheus /metrics on this TCP port, upstream's multus_server_request_total included; "
            "every address unless metricsAddress narrows it"
        ),
        "enablePprof": _refused(
            "/debug/pprof is Go's profiler: a Python daemon has none to serve; remove the key",
            lambda value: value is False,
        ),
        "connectionLimit": _implemented(
            "how many requests are served at once, further ones wait (our maxConcurrentRequests); at least 1"
        ),
        "perNodeCertificate": _refused(
            "per-node client certificates (a CSR made with bootstrapKubeconfig, kept in certDir) are not "
            "implemented; give the daemon a kubeconfig or run it with its pod's service account",
            lambda value: isinstance(value, dict) and value.get("enabled", False) is False,
        ),
        # The generated 00-multus.conf (upstream's MultusConf).
        "cniVersion": _implemented(
            "00-multus.conf's cniVersion, so the version of every answer the runtime gets "
            "(default: the primary config's)"
        ),
        "clusterNetwork": _implemented(
            "every pod's cluster network (a NAD, a config name in confDir, a folder or a file), in "
            "place of the primary config's path"
        ),
        "cniConfigDir": _implemented("the runtime's CNI conf dir, where 00-multus.conf goes"),
        "multusConfigFile": _implemented(
            '"auto" (the default): write 00-multus.conf from the primary config; a path: copy that file '
            "into cniConfigDir and apply the daemon config's multus keys to every request"
        ),
        "multusMasterCNI": _implemented(
            "the primary config's file name in multusAutoconfigDir, instead of the first config there"
        ),
        "multusAutoconfigDir": _implemented("where the primary config is found (default: cniConfigDir)"),
        "daemonSocketDir": _implemented(
            "the socket folder as the shims on the host see it, written into 00-multus.conf "
            "(default: socketDir)"
        ),
        "auxiliaryCNIChainName": _refused(
            "the auxiliary chain (chained plugins from a subfolder of the CNI conf dir, run after a "
            "passthru plugin) is not implemented",
            lambda value: value == "",
        ),
        "forceCNIVersion": _implemented(
            "rewrite the primary config's cniVersion to cniVersion, which must be set (upstream: for kind)"
        ),
        "overrideNetworkName": _implemented("00-multus.conf takes the primary config's network name"),
        "readinessindicatorfile": _implemented(
            "while this file is missing, 00-multus.conf is removed and the daemon is not ready"
        ),
        "namespaceIsolation": _copied("pods use only NADs of their namespace or globalNamespaces"),
        "globalNamespaces": _copied("namespaces whose NADs every pod may use (a list or a comma list)"),
        "capabilities": _implemented("declared in 00-multus.conf, with the primary config's own"),
        "binDir": _copied("where delegate plugins are looked for first"),
        "cniDir": _copied("where each sandbox's attachments are recorded"),
    }
)

UPSTREAM_ENVIRONMENT: Mapping[str, KeySupport] = MappingProxyType(
    {
        "MULTUS_NODE_NAME": _implemented(
            "the node whose pods the daemon serves; NODE_NAME is read too, the config's nodeName wins"
        ),
    }
)

# Multus config keys the daemon copies into the node config it writes, so every request carries them.
NODE_CONFIG_KEYS = (
    "confDir",
    "cniDir",
    "binDir",
    "defaultNetworks",
    "multusNamespace",
    "systemNamespaces",
    "namespaceIsolation",
    "globalNamespaces",
    "logLevel",
    "logToStderr",
    "logFile",
    "logOptions",
    "logFormat",
    "delegateTimeoutSeconds",
    "readinessTimeoutSeconds",
    "deviceCheckpointFile",
    "podResourcesSocket",
    "daemonWaitSeconds",  # read by the shim: how long an ADD waits for this daemon's /readyz
)
# Where upstream's daemon keeps its node config (upstream's default cniConfigDir).
DEFAULT_CNI_CONFIG_DIR = Path("/etc/cni/net.d")


class ConfigRefused(ValueError):
    """A daemon config the daemon does not run with; the message is one line that names the key."""


def _spoken(value: str) -> str:
    if not is_supported(value):
        raise ValueError(f"must be one of {', '.join(SUPPORTED_VERSIONS)}")
    return value


def _auto_or_file(value: str) -> str:
    if not value:
        raise ValueError('must be "auto" or the path of a CNI config file')
    return value


class DaemonConfig(LogSettings):
    """The daemon config file's keys (upstream's names where upstream has the setting); the multus keys
    of NODE_CONFIG_KEYS that are not settings of the daemon itself are kept as extras."""

    FIELDS: ClassVar[dict[str, Field]] = LogSettings.FIELDS | {
        "log_level": Field(then(string, known_level), "verbose", alias="logLevel"),
        "node_name": Field(string, "", alias="nodeName"),
        "kubeconfig": Field(nullable(path), None, before=empty_is_unset),
        "socket_dir": Field(path, Path("/run/multus"), alias="socketDir"),
        "daemon_socket_dir": Field(nullable(path), None, alias="daemonSocketDir", before=empty_is_unset),
        "max_concurrent": Field(integer(ge=1), 32, alias="maxConcurrentRequests"),
        "connection_limit": Field(nullable(integer(ge=1)), None, alias="connectionLimit"),
        "metrics_port": Field(integer(ge=0, le=65535), 0, alias="metricsPort"),
        "metrics_address": Field(nullable(string), None, alias="metricsAddress"),
        "cni_config_dir": Field(path, DEFAULT_CNI_CONFIG_DIR, alias="cniConfigDir"),
        "multus_config_file": Field(then(string, _auto_or_file), "auto", alias="multusConfigFile"),
        "multus_autoconfig_dir": Field(
            nullable(path), None, alias="multusAutoconfigDir", before=empty_is_unset
        ),
        "multus_master_cni": Field(nullable(string), None, alias="multusMasterCNI", before=empty_is_unset),
        "cluster_network": Field(nullable(string), None, alias="clusterNetwork", before=empty_is_unset),
        "capabilities": Field(dict_of(boolean), factory=dict),
        "force_cni_version": Field(boolean, False, alias="forceCNIVersion"),
        "override_network_name": Field(boolean, False, alias="overrideNetworkName"),
        "readiness_indicator_file": Field(
            nullable(path), None, alias="readinessindicatorfile", before=empty_is_unset
        ),
        "results_dir": Field(path, DEFAULT_CACHE_DIR, alias="resultsDir"),
        "drain_seconds": Field(number(ge=0), 30.0, alias="drainSeconds"),
        # A request's body above this is refused before it is read (a node config with a big prevResult
        # and many delegates is tens of KB).
        "max_request_bytes": Field(integer(ge=1024), 1024 * 1024, alias="maxRequestBytes"),
        "cni_version": Field(
            nullable(then(string, _spoken)), None, alias="cniVersion", before=empty_is_unset
        ),
        # A running pod's interfaces follow its networks annotation (docs/reference.md §10).
        "dynamic_networks": Field(boolean, True, alias="dynamicNetworks"),
        "api": Field(nested(ApiTimeouts), factory=ApiTimeouts.make, alias="apiTimeouts"),
    }
    EXTRA = "allow"
    BY_NAME = True

    node_name: str
    kubeconfig: Path | None
    socket_dir: Path
    daemon_socket_dir: Path | None  # None: socketDir
    max_concurrent: int
    connection_limit: int | None
    metrics_port: int  # 0: no metrics endpoint
    metrics_address: str | None  # None: every address, as upstream
    cni_config_dir: Path
    multus_config_file: str  # "auto" or a file to copy
    multus_autoconfig_dir: Path | None  # None: cniConfigDir
    multus_master_cni: str | None  # None: the first config
    cluster_network: str | None  # None: the primary's path
    capabilities: dict[str, bool]
    force_cni_version: bool
    override_network_name: bool
    readiness_indicator_file: Path | None
    results_dir: Path
    drain_seconds: float
    max_request_bytes: int
    cni_version: str | None  # of 00-multus.conf; None: the primary's
    dynamic_networks: bool
    api: ApiTimeouts

    def check_record(self) -> None:
        if self.force_cni_version and self.cni_version is None:
            raise ValueError(
                "forceCNIVersion: needs cniVersion, the version to write into the primary config"
            )
        own = self.cni_config_dir / OWN_CONFIG
        if self.multus_master_cni and self.primary_folder / self.multus_master_cni == own:
            raise ValueError(f"multusMasterCNI: names the {OWN_CONFIG} the daemon writes")
        both = {"connection_limit", "max_concurrent"} <= self.given
        if both and self.connection_limit != self.max_concurrent:
            raise ValueError("connectionLimit: differs from maxConcurrentRequests, which it sets: give one")

    @property
    def auto(self) -> bool:
        """Whether the daemon writes 00-multus.conf (else it copies multusConfigFile)."""
        return self.multus_config_file == "auto"

    @property
    def primary_folder(self) -> Path:
        return self.multus_autoconfig_dir or self.cni_config_dir

    @property
    def request_bound(self) -> int:
        return self.connection_limit or self.max_concurrent

    @property
    def shim_socket_dir(self) -> Path:
        return self.daemon_socket_dir or self.socket_dir

    def node_config_options(self) -> dict[str, Any]:
        """The multus keys written into 00-multus.conf: NODE_CONFIG_KEYS as given, and the socket folder
        (under our shims' key and, when given, upstream's)."""
        raw = self.to_dict()  # the given fields and the kept unknown keys
        options = {key: raw[key] for key in NODE_CONFIG_KEYS if key in raw}
        options["socketDir"] = str(self.shim_socket_dir)
        if self.daemon_socket_dir is not None:
            options["daemonSocketDir"] = str(self.daemon_socket_dir)
        return {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}

    def request_overrides(self) -> dict[str, Any]:
        """With multusConfigFile a file: the keys upstream's daemon lays over every request's config,
        since the file it copies does not carry them (in "auto" mode 00-multus.conf does)."""
        if self.auto:
            return {}
        overrides = self.node_config_options()
        for key, value in (
            ("cniVersion", self.cni_version),
            ("clusterNetwork", self.cluster_network),
            ("readinessindicatorfile", self.readiness_indicator_file),
        ):
            if value is not None:
                overrides[key] = str(value)
        return overrides


REFUSED_KEYS = frozenset(
    key for key, support in UPSTREAM_DAEMON_KEYS.items() if support.support is Support.REFUSED
)
# Every key the daemon config may hold.
KNOWN_KEYS = frozenset(field_names([DaemonConfig]) | set(NODE_CONFIG_KEYS) | set(UPSTREAM_DAEMON_KEYS))


def read_config(path: Path | None) -> dict[str, Any]:
    """The config file's JSON object, read as strictly as Go reads it; {} without a file."""
    if path is None:
        return {}
    try:
        raw = decode_json(path.read_bytes())
    except OSError as error:
        raise ConfigRefused(f"{path}: {error.strerror or error}") from None
    except MalformedJSON as error:
        raise ConfigRefused(f"{path}: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigRefused(f"{path}: must be a JSON object")
    return raw


def refusals(raw: Mapping[str, Any]) -> list[str]:
    """What the daemon will not run with, one "key: why" each: unknown keys and refused upstream keys
    that ask for something."""
    problems = []
    for key, value in raw.items():
        support = UPSTREAM_DAEMON_KEYS.get(key)
        if support is not None and support.refuses(value):
            problems.append(f"{key}: not supported: {support.note}")
        elif key not in KNOWN_KEYS:
            problems.append(f"{key}: not a daemon config key (docs/daemon-config.md lists them)")
    return problems


def load_config(path: Path | None, environ: Mapping[str, str]) -> DaemonConfig:
    """The daemon's settings from its config file and environment; ConfigRefused names what is wrong."""
    raw = read_config(path)
    problems = refusals(raw)
    if problems:
        raise ConfigRefused(problems[0])
    # Refused keys left here ask for nothing (enablePprof: false, chrootDir: ""): nothing to do.
    raw = {key: value for key, value in raw.items() if key not in REFUSED_KEYS}
    if not raw.get("nodeName"):
        raw["nodeName"] = environ.get("MULTUS_NODE_NAME") or environ.get("NODE_NAME", "")
    try:
        config = DaemonConfig.validate(raw)
        # The multus keys go into every request: a bad one is refused now, not by each pod's ADD.
        MultusConfig.validate(config.node_config_options())
    except SchemaError as error:
        raise ConfigRefused(_first_problem(error)) from None
    if not config.node_name:
        raise ConfigRefused(
            "nodeName: set it in the config, or MULTUS_NODE_NAME or NODE_NAME: the daemon serves one node"
        )
    return config


def _first_problem(error: SchemaError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
