"""What a node holds, for `multusctl status`: the daemon's `GET /status` on its socket (0600, as `/cni`).

Read-only and built on each request from what the daemon already has: readiness and why not, the watch
caches, the node config, requests in flight, and per pod the attachments its records on disk hold
(the records are the truth: a pod attached before the daemon's last start is listed as well).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multus.attachment_cache import AttachmentCache, ContainerRecord

# Why the daemon is not ready yet; an empty list when it is.
NotReadyReasons = Callable[[], list[str]]


@dataclass
class NodeStatus:
    version: str
    node_name: str
    records: AttachmentCache
    node_config: Path
    # The primary config the node config was last written from, and why it is not in place, if not.
    node_config_source: Callable[[], tuple[Path | None, str]]
    not_ready: NotReadyReasons
    caches: Callable[[], dict[str, dict[str, Any]]]
    in_flight: Callable[[], int]
    started: float = field(default_factory=time.time)

    def document(self) -> dict[str, Any]:
        reasons = self.not_ready()
        return {
            "version": self.version,
            "node": self.node_name,
            "uptimeSeconds": round(time.time() - self.started, 1),
            "ready": not reasons,
            "notReady": reasons,
            "caches": self.caches(),
            "nodeConfig": self._node_config(),
            "inFlight": self.in_flight(),
            "pods": self._pods(),
        }

    def _node_config(self) -> dict[str, Any]:
        source, waiting = self.node_config_source()
        state: dict[str, Any] = {"path": str(self.node_config), "primary": str(source) if source else None}
        try:
            written = json.loads(self.node_config.read_text())
        except (OSError, ValueError) as error:
            return state | {"present": False, "error": waiting or str(error)}
        return state | {
            "present": True,
            "cniVersion": written.get("cniVersion"),
            "clusterNetwork": written.get("clusterNetwork"),
        }

    def _pods(self) -> list[dict[str, Any]]:
        pods = []
        for container_id in self.records.container_ids():
            record = self.records.load(container_id)
            if record is not None:
                pods.append(_pod(record, self.records.path(container_id)))
        return sorted(pods, key=lambda pod: (pod["namespace"], pod["name"], pod["container"]))


def _pod(record: ContainerRecord, path: Path) -> dict[str, Any]:
    try:
        age = round(time.time() - path.stat().st_mtime, 1)
    except OSError:  # removed meanwhile
        age = None
    return {
        "namespace": record.pod_namespace,
        "name": record.pod_name,
        "uid": record.pod_uid,
        "container": record.container_id,
        "netns": record.netns,
        "ageSeconds": age,
        "attachments": [
            {
                "interface": entry.ifname,
                "network": entry.network,
                "default": entry.is_default,
                "ips": [ip.get("address") for ip in (entry.result or {}).get("ips", [])],
                "mac": next(
                    (
                        link.get("mac")
                        for link in (entry.result or {}).get("interfaces", [])
                        if link.get("name") == entry.ifname and link.get("sandbox")
                    ),
                    None,
                ),
            }
            for entry in record.attachments
        ],
    }
