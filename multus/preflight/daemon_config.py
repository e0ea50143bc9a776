"""The daemon config's checks: keys multus-daemon refuses, values it refuses, and values (or their
absence) that mean something else than upstream's."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from multus.cni.jsontext import MalformedJSON, decode_json
from multus.config import MultusConfig
from multus.daemon.settings import ConfigRefused, DaemonConfig, load_config, refusals
from multus.preflight.finding import Finding, Severity

# Upstream's shims look for the daemon's socket here unless 00-multus.conf names daemonSocketDir.
UPSTREAM_SHIM_SOCKET_DIR = Path("/run/multus")


def decode_config(text: str, source: str) -> tuple[dict[str, Any], list[Finding]]:
    """The config's JSON object, read as the daemon reads it; {} and an error when it is not one."""
    try:
        raw = decode_json(text)
    except MalformedJSON as error:
        raw, problem = None, str(error)
    else:
        problem = "must be a JSON object"
    if isinstance(raw, dict):
        return raw, []
    change = f"multus-daemon refuses the daemon config and does not start: {problem}"
    return {}, [Finding(Severity.ERROR, source, change, "fix the JSON")]


def config_key_findings(raw: Mapping[str, Any], source: str) -> list[Finding]:
    """Keys multus-daemon refuses: upstream's keys it does not implement, and keys it does not know."""
    found = []
    for key, value in raw.items():
        for problem in refusals({key: value}):
            why = problem.removeprefix(f"{key}: ")
            found.append(
                Finding(
                    Severity.ERROR,
                    f"{source} key {key}",
                    f"multus-daemon does not start with it: {why}",
                    f'remove "{key}" from the daemon config',
                )
            )
    return found


def daemon_settings(raw: Mapping[str, Any], source: str) -> tuple[DaemonConfig, list[Finding]]:
    """The settings multus-daemon would run with: `raw` without the keys it refuses (reported by
    `config_key_findings`); its defaults, and an error, when it refuses a value too."""
    runnable = {key: value for key, value in raw.items() if not refusals({key: value})}
    try:
        return _load(runnable), []
    except ConfigRefused as error:
        change = f"multus-daemon refuses the daemon config and does not start: {error}"
        return _load({}), [Finding(Severity.ERROR, source, change, "fix the value (docs/daemon-config.md)")]


def _load(raw: Mapping[str, Any]) -> DaemonConfig:
    # Through the daemon's own loader, which reads a file; the node name is the daemon's environment's.
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(raw, file)
        file.flush()
        return load_config(Path(file.name), {"MULTUS_NODE_NAME": "preflight"})


def meaning_findings(
    raw: Mapping[str, Any], settings: DaemonConfig, multus: MultusConfig, source: str
) -> list[Finding]:
    """Keys multus-daemon implements whose value, or absence, means something else than upstream's."""
    found = []
    if "daemonSocketDir" not in raw and settings.socket_dir != UPSTREAM_SHIM_SOCKET_DIR:
        found.append(
            Finding(
                Severity.ERROR,
                f"{source} key socketDir",
                f"the shims look for the daemon's socket in {settings.socket_dir}, the folder 00-multus.conf "
                f"names (upstream's look in {UPSTREAM_SHIM_SOCKET_DIR}, daemonSocketDir's default): where "
                "that folder is the daemon container's only, every pod's ADD fails with code 11",
                f'add "daemonSocketDir": "{UPSTREAM_SHIM_SOCKET_DIR}", the folder as the host sees it',
            )
        )
    if "logToStderr" not in raw:
        found.append(
            Finding(
                Severity.WARNING,
                f"{source} key logToStderr",
                "unset: multus-daemon logs to stderr (its default is true, upstream's false)",
                'set "logToStderr": false to keep upstream\'s',
            )
        )
    if "logFormat" not in raw:
        found.append(
            Finding(
                Severity.WARNING,
                f"{source} key logFormat",
                "unset: multus-daemon logs one JSON object per line (upstream logs text lines)",
                'set "logFormat": "text" for upstream\'s lines',
            )
        )
    if settings.results_dir != multus.cni_dir:
        found.append(
            Finding(
                Severity.WARNING,
                f"{source} key resultsDir",
                f"upstream cached its delegates' results in {multus.cni_dir}/results (its cniDir); "
                f"multus-daemon reads {settings.results_dir}/results, so it deletes the pods upstream added "
                "by rebuilding their attachments from the pod and its NADs as they are then, and what "
                "cannot be rebuilt (the pod already gone, a NAD deleted) leaks its addresses "
                '(docs/migrating-from-multus.md, "Pods upstream added")',
                f'set "resultsDir": "{multus.cni_dir}" to delete them from what upstream cached',
            )
        )
    return found
