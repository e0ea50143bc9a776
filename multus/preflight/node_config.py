"""The node's checks: the cniVersion 00-multus.conf will carry, against the one upstream wrote and the
runtimes' libcni, and upstream's thin plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from multus.cni.errors import CNIError
from multus.cni.versions import at_least
from multus.daemon.nodeconfig import FALLBACK_VERSION, OWN_CONFIG, NodeConfigSettings, find_primary, render
from multus.daemon.settings import DaemonConfig
from multus.preflight.finding import Finding, Severity
from multus.resolution import load_conf_file


def node_config_findings(
    settings: DaemonConfig, conf_dir: Path | None, nodes: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    """The cniVersion 00-multus.conf will carry, against the one upstream wrote and the runtimes' libcni;
    a node on upstream's thin plugin."""
    version, origin = settings.cni_version, "the daemon config's cniVersion"
    subject = str(conf_dir / OWN_CONFIG) if conf_dir is not None else OWN_CONFIG
    found: list[Finding] = []
    current: dict[str, Any] | None = None
    if conf_dir is not None:
        current = _read_conf(conf_dir / OWN_CONFIG, found)
        if version is None:
            named = settings.multus_master_cni
            primary = conf_dir / named if named else find_primary(conf_dir)
            if primary is not None and _read_conf(primary, found) is not None:
                version = render(primary, NodeConfigSettings())["cniVersion"]
                origin = f"from the primary config {primary.name}"
    if current is not None and current.get("type") == "multus":
        found.append(
            Finding(
                Severity.WARNING,
                subject,
                "the node runs upstream's thin plugin (type multus); multus-py's DaemonSet is thick and "
                "replaces this file with one for multus-shim",
                "read the thin-mode note of docs/migrating-from-multus.md",
            )
        )
    if version is None:
        where = f"{conf_dir} holds no primary config" if conf_dir is not None else "no CNI conf dir was read"
        found.append(
            Finding(
                Severity.NOTE,
                subject,
                f"cniVersion: the primary config's, and {where}",
                "run preflight on a node, with --cni-conf-dir if the runtime's is not /etc/cni/net.d",
            )
        )
        return found
    was = current.get("cniVersion") if current is not None else None
    if isinstance(was, str) and was != version:
        found.append(
            Finding(
                Severity.WARNING,
                subject,
                f"cniVersion changes from {was} to {version} ({origin}): every answer the runtime gets "
                "is in that version",
                f'set "cniVersion": "{was}" in the daemon config to keep it',
            )
        )
    if not at_least(FALLBACK_VERSION, version):
        found.append(_libcni_finding(subject, version, origin, nodes))
    return found


def _read_conf(path: Path, found: list[Finding]) -> dict[str, Any] | None:
    """A CNI config file; None when it is absent, or unreadable (then a finding says so)."""
    if not path.exists():
        return None
    try:
        return load_conf_file(path)
    except CNIError as error:
        found.append(Finding(Severity.WARNING, str(path), f"unreadable: {error}", "check the file"))
        return None


def _libcni_finding(subject: str, version: str, origin: str, nodes: Sequence[Mapping[str, Any]]) -> Finding:
    """libcni before v1.2.0 refuses results newer than FALLBACK_VERSION, after the plugins ran."""
    runtimes = {
        str((node.get("metadata") or {}).get("name")): str(
            ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
        )
        for node in nodes
    }
    old = [
        f"{name} ({runtime})" for name, runtime in sorted(runtimes.items()) if _containerd_major(runtime) == 1
    ]
    unknown = [name for name, runtime in runtimes.items() if (_containerd_major(runtime) or 0) < 1]
    keep = f'set "cniVersion": "{FALLBACK_VERSION}" in the daemon config'
    if old:
        return Finding(
            Severity.ERROR,
            subject,
            f"cniVersion {version} ({origin}): the runtime's libcni (containerd 1.x: before v1.2.0) "
            f"refuses such results after the plugins ran, so no pod can start on {', '.join(old)}",
            keep,
        )
    if unknown or not runtimes:
        return Finding(
            Severity.WARNING,
            subject,
            f"cniVersion {version} ({origin}) needs libcni v1.2.0 or later in the runtime (containerd 2.0 "
            "or later); before it, libcni refuses such results after the plugins ran",
            f"check the runtimes of {', '.join(sorted(unknown)) or 'the nodes'}, or {keep}",
        )
    return Finding(
        Severity.NOTE,
        subject,
        f"cniVersion {version} ({origin}): every node runs containerd 2.0 or later, whose libcni reads it",
    )


def _containerd_major(runtime: str) -> int | None:
    """The major version of `containerd://1.6.20`; None for another runtime or an odd version."""
    kind, _, version = runtime.partition("://")
    major = version.lstrip("v").split(".", 1)[0]
    return int(major) if kind == "containerd" and major.isdigit() else None
