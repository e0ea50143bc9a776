"""The node's CNI config: `00-multus.conf`, put in front of the cluster's own (primary) config.

The container runtime uses the first config of its conf dir, so ours, named to sort first, makes it
call the shim; the shim's requests then name the primary config as `clusterNetwork`. The file is kept
true: rewritten when the primary changes, removed while the readiness indicator file is missing (so the
runtime does not send pods to a node whose cluster network is not up), and written back when it returns.

Its `cniVersion` is the version of every answer the runtime gets, so it must be one the runtime's libcni
reads (before v1.2.0 libcni refuses a 1.1.0 result, after the plugins did their work): the daemon
config's `cniVersion` when set, as upstream does, else the primary's, which the runtime runs already.

With upstream's `multusConfigFile` naming a file instead of "auto", that file is kept copied into the
conf dir, as it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multus.cni.errors import CNIError
from multus.cni.versions import is_supported
from multus.logs import fields, get_logger
from multus.resolution import conf_files, load_conf_file

log = get_logger("nodeconfig")

OWN_CONFIG = "00-multus.conf"
OWN_NAME = "multus-cni-network"
# For a primary without a version we speak: the newest one that libcni of every supported runtime reads.
FALLBACK_VERSION = "1.0.0"


@dataclass
class NodeConfigSettings:
    conf_dir: Path = Path("/etc/cni/net.d")  # the runtime's CNI conf dir, as the daemon sees it
    readiness_indicator_file: Path | None = None
    # Keys copied into the generated config as they are (socketDir, logLevel, namespaceIsolation, ...).
    options: dict[str, Any] = field(default_factory=dict)
    cni_version: str | None = None  # None: the primary's
    autoconfig_dir: Path | None = None  # where the primary is found; None: conf_dir
    master_cni: str | None = None  # the primary's file name there; None: the first valid config
    cluster_network: str | None = None  # what requests name as clusterNetwork; None: the primary's path
    capabilities: dict[str, bool] = field(default_factory=dict)  # declared besides the primary's
    force_cni_version: bool = False  # rewrite the primary's cniVersion to cni_version
    override_network_name: bool = False  # take the primary's name instead of OWN_NAME
    user_file: Path | None = None  # upstream's multusConfigFile as a path: copied, nothing generated
    poll_seconds: float = 1.0


def find_primary(conf_dir: Path) -> Path | None:
    """The first valid CNI config of the folder other than ours."""
    for path in conf_files(conf_dir):
        if path.name == OWN_CONFIG:
            continue
        try:
            load_conf_file(path)
        except CNIError:
            continue
        return path
    return None


def render(primary: Path, settings: NodeConfigSettings) -> dict[str, Any]:
    primary_config = load_conf_file(primary)
    capabilities = dict(settings.capabilities)
    for plugin in primary_config.get("plugins", [primary_config]):
        for name, enabled in (plugin.get("capabilities") or {}).items():
            if enabled is True:
                capabilities[name] = True
    primary_version = primary_config.get("cniVersion")
    if not (isinstance(primary_version, str) and is_supported(primary_version)):
        primary_version = FALLBACK_VERSION
    name = primary_config.get("name") if settings.override_network_name else None
    config: dict[str, Any] = {
        "cniVersion": settings.cni_version or primary_version,
        "name": name if isinstance(name, str) and name else OWN_NAME,
        "type": "multus-shim",
        **settings.options,
        "clusterNetwork": settings.cluster_network or str(primary),
    }
    if capabilities:
        # The runtime sends runtimeConfig only for declared capabilities: declare the primary's.
        config["capabilities"] = capabilities
    if settings.readiness_indicator_file is not None:
        config["readinessindicatorfile"] = str(settings.readiness_indicator_file)
    return config


def _write(path: Path, text: str) -> None:
    """Replaces `path` at once: the runtime never reads half a config."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".multus-", delete=False) as tmp:
        tmp.write(text)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


class NodeConfigWriter:
    def __init__(self, settings: NodeConfigSettings) -> None:
        self.settings = settings
        user_file = settings.user_file
        self.path = settings.conf_dir / (user_file.name if user_file is not None else OWN_CONFIG)
        self._waiting = ""  # why the file is not in place, as last logged
        self.source: Path | None = None  # the primary config (or multusConfigFile) it was last written from

    def in_place(self) -> bool:
        return self.path.exists()

    @property
    def waiting(self) -> str:
        """Why the file is not in place, when it is not; empty otherwise."""
        return self._waiting

    def sync(self) -> bool:
        """Make the file what it should be now; whether the file is in place afterwards."""
        wanted, source = self._wanted()
        if wanted is None:
            return False
        self.source = source
        if not (self.path.exists() and self.path.read_text() == wanted):
            _write(self.path, wanted)
            log.info("node config written", extra=fields(file=str(self.path), source=str(source)))
        self._waiting = ""
        return True

    def _wanted(self) -> tuple[str | None, Path | None]:
        """The file's content and where it comes from; None while it must not be there."""
        settings = self.settings
        if settings.user_file is not None:
            try:
                return settings.user_file.read_text(), settings.user_file
            except FileNotFoundError:
                self._wait(f"{settings.user_file} (multusConfigFile) is missing")
                return None, None
        indicator = settings.readiness_indicator_file
        if indicator is not None and not indicator.exists():
            if self.path.exists():
                self.path.unlink()
                log.info(
                    "node config removed: readiness indicator missing", extra=fields(file=str(indicator))
                )
            return None, None
        primary = self._primary()
        if primary is None:
            return None, None
        if settings.force_cni_version:
            self._force_version(primary)
        return json.dumps(render(primary, settings), indent=2) + "\n", primary

    def _primary(self) -> Path | None:
        folder = self.settings.autoconfig_dir or self.settings.conf_dir
        if self.settings.master_cni is None:
            found = find_primary(folder)
            if found is None:
                self._wait(f"no primary CNI config in {folder}")
            return found
        named = folder / self.settings.master_cni
        try:
            load_conf_file(named)
        except CNIError as error:
            self._wait(f"multusMasterCNI {named}: {error.msg}")
            return None
        return named

    def _force_version(self, primary: Path) -> None:
        """Upstream's forceCNIVersion: the primary config is rewritten in the daemon config's version."""
        config = load_conf_file(primary)
        if config.get("cniVersion") != self.settings.cni_version:
            _write(primary, json.dumps({**config, "cniVersion": self.settings.cni_version}))
            log.info("primary config's cniVersion forced", extra=fields(file=str(primary)))

    def _wait(self, reason: str) -> None:
        """Says once why the file cannot be written, not at every poll."""
        if reason != self._waiting:
            log.error("node config not written", extra=fields(file=str(self.path), error=reason))
            self._waiting = reason

    async def keep_in_sync(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sync)
            except (OSError, CNIError) as error:
                self._wait(str(error))
            await asyncio.sleep(self.settings.poll_seconds)
