"""The meta-plugin's own CNI config: upstream Multus's keys and defaults, read from the CNI stdin."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from multus.cni.errors import InvalidConfig
from multus.cni.jsontext import load_json
from multus.cni.schema import (
    Field,
    Record,
    SchemaError,
    any_dict,
    boolean,
    integer,
    list_of,
    literal,
    nested,
    nullable,
    number,
    path,
    string,
    then,
)
from multus.cni.versions import reply_version as reply_version  # noqa: PLC0414  the daemon imports it from here
from multus.cni.versions import require_supported
from multus.k8s.namespaces import DEFAULT_GLOBAL_NAMESPACES, NamespacePolicy, parse_global_namespaces
from multus.kubelet.checkpoint import DEFAULT_CHECKPOINT
from multus.kubelet.pod_resources import DEFAULT_SOCKET
from multus.logs import LEVELS, Rotation, configure


class ApiTimeouts(Record):
    """How long and how often to try the API server; upstream hard-codes these.

    Numbers and booleans here and in MultusConfig are strict, as Go's encoding/json reads them:
    `"namespaceIsolation": "yes"` is refused, not read as true."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "request": Field(number(gt=0), 10.0, alias="requestSeconds"),
        "retries": Field(integer(ge=0), 3),
        "backoff": Field(number(gt=0), 0.2, alias="backoffSeconds"),
    }
    EXTRA = "forbid"
    BY_NAME = True

    request: float
    retries: int
    backoff: float


class LogOptions(Record):
    """Rotation of `logFile`, upstream's `logOptions`; a key left out takes upstream's default."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "max_size": Field(integer(ge=0), Rotation.max_megabytes, alias="maxSize"),  # MB; 0: the default
        "max_backups": Field(integer(ge=0), Rotation.max_backups, alias="maxBackups"),  # 0: keep all
        "max_age": Field(integer(ge=0), Rotation.max_age_days, alias="maxAge"),  # days; 0: keep any age
        "compress": Field(boolean, Rotation.compress),
    }
    EXTRA = "forbid"
    BY_NAME = True
    FROZEN = True

    max_size: int
    max_backups: int
    max_age: int
    compress: bool

    def rotation(self) -> Rotation:
        return Rotation(self.max_size, self.max_backups, self.max_age, self.compress)


def empty_is_unset(value: Any) -> Any:
    return None if value == "" else value  # as Go reads an omitted string


def known_level(value: str) -> str:
    if value.lower() not in LEVELS:
        raise ValueError(f"must be one of {', '.join(LEVELS)}")
    return value.lower()


class LogSettings(Record):
    """Upstream's log keys, and our `logFormat`: the in-process plugin's config and the daemon's read them
    alike."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "log_level": Field(then(string, known_level), "error", alias="logLevel"),
        "log_file": Field(nullable(path), None, alias="logFile", before=empty_is_unset),
        "log_to_stderr": Field(boolean, True, alias="logToStderr"),
        "log_options": Field(nested(LogOptions), factory=LogOptions.make, alias="logOptions"),
        "log_format": Field(literal("json", "text"), "json", alias="logFormat"),
    }

    log_level: str
    log_file: Path | None
    log_to_stderr: bool
    log_options: LogOptions
    log_format: Literal["json", "text"]

    def configure_logging(self) -> None:
        configure(
            self.log_level,
            self.log_file,
            self.log_to_stderr,
            log_format=self.log_format,
            rotation=self.log_options.rotation(),
        )


def _comma_list(value: Any) -> Any:
    # Upstream documents a comma-delimited string; a JSON list is accepted as well.
    if isinstance(value, str):
        return sorted(parse_global_namespaces(value)) if value.strip() else []
    return value


class MultusConfig(LogSettings):
    """Keys named as upstream names them, so an existing `00-multus.conf` works unchanged.

    Unknown keys are kept (`EXTRA = "allow"`) because runtimes add their own (`runtimeConfig`,
    `prevResult`) and because an upstream config may carry options the meta-plugin leaves to others
    (`daemonSocketDir`, read by upstream's shim).
    """

    FIELDS: ClassVar[dict[str, Field]] = LogSettings.FIELDS | {
        "cni_version": Field(string, "1.1.0", alias="cniVersion"),
        "name": Field(string, "multus-cni-network"),
        "type": Field(string, "multus"),
        "kubeconfig": Field(nullable(path), None, before=empty_is_unset),
        "conf_dir": Field(path, Path("/etc/cni/multus/net.d"), alias="confDir"),
        "cni_dir": Field(path, Path("/var/lib/cni/multus"), alias="cniDir"),
        "bin_dir": Field(path, Path("/opt/cni/bin"), alias="binDir"),
        "cluster_network": Field(nullable(string), None, alias="clusterNetwork"),
        "default_networks": Field(list_of(string), factory=list, alias="defaultNetworks"),
        "delegates": Field(list_of(any_dict), factory=list),
        "multus_namespace": Field(string, "kube-system", alias="multusNamespace"),
        "system_namespaces": Field(
            list_of(string), factory=lambda: ["kube-system"], alias="systemNamespaces"
        ),
        "namespace_isolation": Field(boolean, False, alias="namespaceIsolation"),
        "global_namespaces": Field(
            list_of(string), factory=list, alias="globalNamespaces", before=_comma_list
        ),
        "readiness_indicator_file": Field(
            nullable(path), None, alias="readinessindicatorfile", before=empty_is_unset
        ),
        "readiness_timeout": Field(number(ge=0), 30.0, alias="readinessTimeoutSeconds"),
        "retry_delete_on_error": Field(boolean, False, alias="retryDeleteOnError"),
        "delegate_timeout": Field(number(gt=0), 60.0, alias="delegateTimeoutSeconds"),
        "api": Field(nested(ApiTimeouts), factory=ApiTimeouts.make, alias="apiTimeouts"),
        "device_checkpoint": Field(path, DEFAULT_CHECKPOINT, alias="deviceCheckpointFile"),
        "pod_resources_socket": Field(path, DEFAULT_SOCKET, alias="podResourcesSocket"),
        "cluster_folder": Field(nullable(path), None, alias="clusterFolder"),
        "state_folder": Field(nullable(path), None, alias="stateFolder"),
    }
    EXTRA = "allow"
    BY_NAME = True
    FROZEN = True

    cni_version: str
    name: str
    type: str
    kubeconfig: Path | None
    conf_dir: Path
    cni_dir: Path
    bin_dir: Path
    cluster_network: str | None
    default_networks: list[str]
    delegates: list[dict[str, Any]]
    multus_namespace: str
    system_namespaces: list[str]
    namespace_isolation: bool
    global_namespaces: list[str]
    readiness_indicator_file: Path | None
    readiness_timeout: float
    retry_delete_on_error: bool
    delegate_timeout: float
    api: ApiTimeouts
    device_checkpoint: Path
    pod_resources_socket: Path
    cluster_folder: Path | None
    state_folder: Path | None

    @property
    def namespace_policy(self) -> NamespacePolicy:
        return NamespacePolicy(
            isolation=self.namespace_isolation,
            global_namespaces=frozenset(self.global_namespaces) or DEFAULT_GLOBAL_NAMESPACES,
            system_namespaces=frozenset(self.system_namespaces),
        )


@dataclass(frozen=True)
class Stdin:
    """The runtime's stdin, parsed once: our config, and the document itself for what only some
    commands read (the runtime's `runtimeConfig`, GC's list of valid attachments). Shared between
    requests with the same bytes: read it, never change it."""

    config: MultusConfig
    document: Mapping[str, Any]

    @property
    def runtime_config(self) -> Mapping[str, Any]:
        given = self.document.get("runtimeConfig")
        return given if isinstance(given, dict) else {}


def parse_config(stdin: bytes) -> MultusConfig:
    """The config from the runtime's stdin; every problem names the key at fault."""
    return read_stdin(stdin).config


def read_stdin(stdin: bytes) -> Stdin:
    """The runtime's stdin, config and document; every problem names the key at fault.

    The config is frozen, so the same bytes share one: the daemon gets its node's config with nearly
    every request, and validating it costs more than a lookup."""
    return _read_stdin(bytes(stdin))


@functools.lru_cache(maxsize=32)
def _read_stdin(stdin: bytes) -> Stdin:
    raw = load_json(stdin, "the network config on stdin")
    if not isinstance(raw, dict):
        raise InvalidConfig("the network config on stdin must be a JSON object")
    try:
        config = MultusConfig.validate(raw)
    except SchemaError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidConfig(
            f"network config: {field}: {first['msg']}", f"{error.error_count()} problem(s)"
        ) from error
    # The ADD's reply is converted to it once every delegate has run: too late to find it unusable.
    require_supported(config.cni_version, "network config: cniVersion")
    return Stdin(config, MappingProxyType(raw))
