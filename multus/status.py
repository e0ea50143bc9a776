"""`multusctl status`: ask the node's daemon what it holds (`GET /status` on its unix socket) and show it
for people, or as JSON. The socket is the shims' (0600): run it as root on the node, or in the daemon's
pod."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

from multus.cni.errors import TryAgainLater

SOCKET_NAME = "multus.sock"
TIMEOUT_SECONDS = 10.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("multus", timeout=TIMEOUT_SECONDS)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_SECONDS)
        self.sock.connect(str(self._path))


def fetch(socket_dir: Path) -> dict[str, Any]:
    path = socket_dir / SOCKET_NAME
    connection = _UnixConnection(path)
    try:
        connection.request("GET", "/status")
        reply = connection.getresponse()
        body = reply.read()
    except OSError as error:
        raise TryAgainLater(
            f"no multus daemon answers on {path}: {error.strerror or error}",
            "run this on the node, as root (the socket is 0600), or give --socket-dir",
        ) from error
    finally:
        connection.close()
    if reply.status != 200:
        raise TryAgainLater(f"the daemon on {path} answered {reply.status}: {body.decode(errors='replace')}")
    document: dict[str, Any] = json.loads(body)
    return document


def only_pod(document: dict[str, Any], pod: str) -> dict[str, Any]:
    namespace, _, name = pod.partition("/")
    return document | {
        "pods": [p for p in document["pods"] if (p["namespace"], p["name"]) == (namespace, name)]
    }


def render(document: dict[str, Any]) -> str:
    uptime = _age(document["uptimeSeconds"])
    lines = [
        f"multus-daemon {document['version']} on node {document['node']}, up {uptime}",
        "ready: yes" if document["ready"] else "ready: no: " + "; ".join(document["notReady"]),
    ]
    if document.get("draining"):
        lines.append("draining: finishing what is in flight before it stops")
    caches = ", ".join(
        f"{kind} {cache['objects']} (listed {cache['lastListed'] or 'not yet'})"
        for kind, cache in document["caches"].items()
    )
    lines.append(f"caches: {caches}; in flight: {document['inFlight']}")
    node = document["nodeConfig"]
    if node["present"]:
        written = f"cniVersion {node['cniVersion']}, cluster network {node['clusterNetwork']}"
        written += f", from {node['primary']}" if node["primary"] else ""
        lines.append(f"node config: {node['path']} ({written})")
    else:
        lines.append(f"node config: {node['path']} missing ({node.get('error', '')})")
    lines.append(f"pods: {len(document['pods'])}")
    for pod in document["pods"]:
        age = _age(pod["ageSeconds"]) if pod["ageSeconds"] is not None else "?"
        lines.append(f"  {pod['namespace']}/{pod['name']}  sandbox {pod['container'][:12]}  age {age}")
        for attachment in pod["attachments"]:
            network = attachment["network"] + (" (cluster network)" if attachment["default"] else "")
            ips = ",".join(ip for ip in attachment["ips"] if ip) or "-"
            lines.append(f"    {attachment['interface']:<10} {network}  {ips}  {attachment['mac'] or '-'}")
    return "\n".join(lines)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
