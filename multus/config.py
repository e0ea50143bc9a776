"""The meta-plugin's own CNI config: upstream Multus's keys and defaults, read from the CNI stdin."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
)

from multus.cni.errors import InvalidConfig
from multus.cni.jsontext import load_json
from multus.cni.versions import reply_version as reply_version  # noqa: PLC0414  the daemon imports it from here
from multus.cni.versions import require_supported
from multus.k8s.namespaces import DEFAULT_GLOBAL_NAMESPACES, NamespacePolicy, parse_global_namespaces
from multus.kubelet.checkpoint import DEFAULT_CHECKPOINT
from multus.kubelet.pod_resources import DEFAULT_SOCKET
from multus.logs import LEVELS, Rotation, configure

# Every model here validates on first use, not at import (`defer_build`): building one costs milliseconds,
# and the in-process plugin is a new process per pod operation that uses only some of them.


class ApiTimeouts(BaseModel):
    """How long and how often to try the API server; upstream hard-codes these.

    Numbers and booleans here and in MultusConfig are strict, as Go's encoding/json reads them:
    `"namespaceIsolation": "yes"` is refused, not read as true."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    request: StrictFloat = Field(10.0, gt=0, alias="requestSeconds")
    retries: StrictInt = Field(3, ge=0)
    backoff: StrictFloat = Field(0.2, gt=0, alias="backoffSeconds")


class LogOptions(BaseModel):
    """Rotation of `logFile`, upstream's `logOptions`; a key left out takes upstream's default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)

    max_size: StrictInt = Field(Rotation.max_megabytes, ge=0, alias="maxSize")  # MB; 0: the default
    max_backups: StrictInt = Field(Rotation.max_backups, ge=0, alias="maxBackups")  # 0: keep all
    max_age: StrictInt = Field(Rotation.max_age_days, ge=0, alias="maxAge")  # days; 0: keep any age
    compress: StrictBool = Rotation.compress

    def rotation(self) -> Rotation:
        return Rotation(self.max_size, self.max_backups, self.max_age, self.compress)


class LogSettings(BaseModel):
    """Upstream's log keys, and our `logFormat`: the in-process plugin's config and the daemon's read them
    alike."""

    model_config = ConfigDict(defer_build=True)

    log_level: str = Field("error", alias="logLevel")
    log_file: Path | None = Field(None, alias="logFile")
    log_to_stderr: StrictBool = Field(True, alias="logToStderr")
    log_options: LogOptions = Field(default_factory=LogOptions, alias="logOptions")
    log_format: Literal["json", "text"] = Field("json", alias="logFormat")

    @field_validator("log_file", mode="before")
    @classmethod
    def _no_log_file(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in LEVELS:
            raise ValueError(f"must be one of {', '.join(LEVELS)}")
        return value.lower()

    def configure_logging(self) -> None:
        configure(
            self.log_level,
            self.log_file,
            self.log_to_stderr,
            log_format=self.log_format,
            rotation=self.log_options.rotation(),
        )


class MultusConfig(LogSettings):
    """Keys named as upstream names them, so an existing `00-multus.conf` works unchanged.

    Unknown keys are kept (`extra="allow"`) because runtimes add their own (`runtimeConfig`, `prevResult`)
    and because an upstream config may carry options the meta-plugin leaves to others
    (`daemonSocketDir`, read by upstream's shim).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)

    cni_version: str = Field("1.1.0", alias="cniVersion")
    name: str = "multus-cni-network"
    type: str = "multus"
    kubeconfig: Path | None = None
    conf_dir: Path = Field(Path("/etc/cni/multus/net.d"), alias="confDir")
    cni_dir: Path = Field(Path("/var/lib/cni/multus"), alias="cniDir")
    bin_dir: Path = Field(Path("/opt/cni/bin"), alias="binDir")
    cluster_network: str | None = Field(None, alias="clusterNetwork")
    default_networks: list[str] = Field(default_factory=list, alias="defaultNetworks")
    delegates: list[dict[str, Any]] = Field(default_factory=list)
    multus_namespace: str = Field("kube-system", alias="multusNamespace")
    system_namespaces: list[str] = Field(default_factory=lambda: ["kube-system"], alias="systemNamespaces")
    namespace_isolation: StrictBool = Field(False, alias="namespaceIsolation")
    global_namespaces: list[str] = Field(default_factory=list, alias="globalNamespaces")
    readiness_indicator_file: Path | None = Field(None, alias="readinessindicatorfile")
    readiness_timeout: StrictFloat = Field(30.0, ge=0, alias="readinessTimeoutSeconds")
    retry_delete_on_error: StrictBool = Field(False, alias="retryDeleteOnError")
    delegate_timeout: StrictFloat = Field(60.0, gt=0, alias="delegateTimeoutSeconds")
    api: ApiTimeouts = Field(default_factory=ApiTimeouts, alias="apiTimeouts")
    device_checkpoint: Path = Field(DEFAULT_CHECKPOINT, alias="deviceCheckpointFile")
    pod_resources_socket: Path = Field(DEFAULT_SOCKET, alias="podResourcesSocket")
    cluster_folder: Path | None = Field(None, alias="clusterFolder")
    state_folder: Path | None = Field(None, alias="stateFolder")

    @field_validator("global_namespaces", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # Upstream documents a comma-delimited string; a JSON list is accepted as well.
        if isinstance(value, str):
            return sorted(parse_global_namespaces(value)) if value.strip() else []
        return value

    @field_validator("readiness_indicator_file", "kubeconfig", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

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
        config = MultusConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise InvalidConfig(
            f"network config: {field}: {first['msg']}", f"{error.error_count()} problem(s)"
        ) from error
    # The ADD's reply is converted to it once every delegate has run: too late to find it unusable.
    require_supported(config.cni_version, "network config: cniVersion")
    return Stdin(config, MappingProxyType(raw))
