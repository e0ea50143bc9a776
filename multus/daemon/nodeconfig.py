"""The node's CNI config: `00-multus.conf`, put in front of the cluster's own (primary) config.

The container runtime uses the first config of its conf dir, so ours, named to sort first, makes it
call the shim; the shim's requests then name the primary config as `clusterNetwork`. The file is kept
true: rewritten when the primary changes, removed while the readiness indicator file is missing (so the
runtime does not send pods to a node whose cluster network is not up), and written back when it returns.

Its `cniVersion` is the version of every answer the runtime gets, so it must be one the runtime's libcni
reads (before v1.2.0 libcni refuses a 1.1.0 result, after the plugins did their work): the daemon
config's `cniVersion` when set, as upstream does, else the primary's, which the runtime runs already.
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
# For a primary without a version we speak: the newest one that libcni of every supported runtime reads.
FALLBACK_VERSION = "1.0.0"


@dataclass
class NodeConfigSettings:
    conf_dir: Path = Path("/host/etc/cni/net.d")  # the runtime's CNI conf dir, as the daemon sees it
    readiness_indicator_file: Path | None = None
    # Keys copied into the generated config as they are (socketDir, logLevel, namespaceIsolation, ...).
    options: dict[str, Any] = field(default_factory=dict)
    cni_version: str | None = None  # None: the primary's
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
    capabilities: dict[str, bool] = {}
    for plugin in primary_config.get("plugins", [primary_config]):
        for name, enabled in (plugin.get("capabilities") or {}).items():
            if enabled is True:
                capabilities[name] = True
    primary_version = primary_config.get("cniVersion")
    if not (isinstance(primary_version, str) and is_supported(primary_version)):
        primary_version = FALLBACK_VERSION
    config: dict[str, Any] = {
        "cniVersion": settings.cni_version or primary_version,
        "name": "multus-cni-network",
        "type": "multus-shim",
        **settings.options,
        "clusterNetwork": str(primary),
    }
    if capabilities:
        # The runtime sends runtimeConfig only for declared capabilities: declare the primary's.
        config["capabilities"] = capabilities
    if settings.readiness_indicator_file is not None:
        config["readinessindicatorfile"] = str(settings.readiness_indicator_file)
    return config


class NodeConfigWriter:
    def __init__(self, settings: NodeConfigSettings) -> None:
        self.settings = settings
        self.path = settings.conf_dir / OWN_CONFIG

    def sync(self) -> bool:
        """Make the file what it should be now; whether the file is in place afterwards."""
        indicator = self.settings.readiness_indicator_file
        if indicator is not None and not indicator.exists():
            if self.path.exists():
                self.path.unlink()
                log.info(
                    "node config removed: readiness indicator missing", extra=fields(file=str(indicator))
                )
            return False
        primary = find_primary(self.settings.conf_dir)
        if primary is None:
            return False
        wanted = json.dumps(render(primary, self.settings), indent=2) + "\n"
        if self.path.exists() and self.path.read_text() == wanted:
            return True
        with tempfile.NamedTemporaryFile(
            "w", dir=self.settings.conf_dir, prefix=".multus-", delete=False
        ) as tmp:
            tmp.write(wanted)
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, self.path)
        log.info("node config written", extra=fields(file=str(self.path), primary=str(primary)))
        return True

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    async def keep_in_sync(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sync)
            except (OSError, CNIError) as error:
                log.error("node config not written", extra=fields(file=str(self.path), error=str(error)))
            await asyncio.sleep(self.settings.poll_seconds)
