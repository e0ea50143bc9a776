"""Every check of a snapshot, in one list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from multus.config import MultusConfig
from multus.preflight.daemon_config import (
    config_key_findings,
    daemon_settings,
    decode_config,
    meaning_findings,
)
from multus.preflight.finding import Finding, Severity
from multus.preflight.gather import Snapshot
from multus.preflight.metrics import metric_findings
from multus.preflight.networks import network_findings
from multus.preflight.node_config import node_config_findings


def findings(snapshot: Snapshot, conf_dir: Path | None) -> list[Finding]:
    """Every difference, errors first; `conf_dir` is the node's CNI conf dir (None: not on a node)."""
    source = f"ConfigMap {snapshot.config_map}"
    found: list[Finding] = []
    raw: dict[str, Any] = {}
    unreadable: list[Finding] = []
    if snapshot.config_text is None:
        found.append(
            Finding(
                Severity.NOTE,
                source,
                "not found: multus-daemon's defaults were checked instead",
                "give --daemon-config-map if the daemon config lives elsewhere",
            )
        )
    else:
        raw, unreadable = decode_config(snapshot.config_text, source)
        found += unreadable
    found += config_key_findings(raw, source)
    settings, refused = daemon_settings(raw, source)
    found += refused
    multus = MultusConfig.validate(settings.node_config_options())
    if not (unreadable or refused):  # else these are the defaults, not what the config asks for
        found += meaning_findings(raw, settings, multus, source)
    found += network_findings(snapshot.networks, snapshot.pods, multus)
    found += node_config_findings(settings, conf_dir, snapshot.nodes)
    found += metric_findings(settings)
    order = list(Severity)
    return sorted(found, key=lambda finding: order.index(finding.severity))
