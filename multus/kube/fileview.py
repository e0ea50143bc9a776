"""A cluster made of YAML files: pods and NetworkAttachmentDefinitions in a folder, no API server.

Every `*.yaml`/`*.yml`/`*.json` file under the folder may hold several documents; documents of other
kinds are ignored. What the meta-plugin writes back (network-status, Events) goes to a state folder when
one is given, so that separate CNI invocations (ADD, then DEL) see each other's writes; otherwise it is
kept in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from multus.cni.errors import InvalidConfig, UnknownContainer
from multus.k8s.constants import NAD_KIND, NETWORK_STATUS_ANNOTATION
from multus.k8s.view import EventType, Pod


class FileView:
    def __init__(self, folder: Path, state: Path | None = None) -> None:
        self.folder = folder
        self.state = state
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.networks: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[dict[str, str]] = []
        self._load()

    def _load(self) -> None:
        if not self.folder.is_dir():
            raise InvalidConfig(f"cluster folder {self.folder} does not exist")
        for path in sorted(self.folder.rglob("*")):
            if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
                continue
            try:
                documents = list(yaml.safe_load_all(path.read_text()))
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                raise InvalidConfig(f"cannot read {path}", str(error)) from error
            for doc in documents:
                if not isinstance(doc, dict):
                    continue
                meta = doc.get("metadata") or {}
                key = (meta.get("namespace") or "default", meta.get("name") or "")
                if doc.get("kind") == "Pod":
                    meta.setdefault("uid", f"file-{key[0]}-{key[1]}")
                    self.pods[key] = doc
                elif doc.get("kind") == NAD_KIND:
                    self.networks[key] = doc

    async def get_pod(self, namespace: str, name: str, *, fresh: bool = False) -> Pod | None:
        return self._pod(namespace, name)  # always fresh: the state folder is read each time

    def _pod(self, namespace: str, name: str) -> Pod | None:
        obj = self.pods.get((namespace, name))
        if obj is None:
            return None
        pod = Pod.from_object(obj)
        path = self._status_path(pod)
        if path is not None and path.exists():
            pod.annotations[NETWORK_STATUS_ANNOTATION] = path.read_text()
        return pod

    async def get_network(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.networks.get((namespace, name))

    async def write_network_status(self, pod: Pod, status: str | None) -> None:
        stored = self.pods.get((pod.namespace, pod.name))
        if stored is None:
            return
        stored_uid = stored["metadata"]["uid"]
        if pod.uid and stored_uid != pod.uid:
            raise UnknownContainer(
                f"pod {pod.namespace}/{pod.name} has UID {stored_uid}, the runtime asked for {pod.uid}"
            )
        annotations = stored["metadata"].setdefault("annotations", {})
        path = self._status_path(pod)
        if status is None:
            annotations.pop(NETWORK_STATUS_ANNOTATION, None)
            if path is not None:
                path.unlink(missing_ok=True)
            return
        annotations[NETWORK_STATUS_ANNOTATION] = status
        self._write_state(path, status)

    async def record_event(self, pod: Pod, kind: EventType, reason: str, message: str) -> None:
        event = {
            "namespace": pod.namespace,
            "pod": pod.name,
            "type": kind,
            "reason": reason,
            "message": message,
        }
        self.events.append(event)
        if self.state is not None:
            self.state.mkdir(parents=True, exist_ok=True)
            with (self.state / "events.jsonl").open("a") as log:
                log.write(json.dumps(event) + "\n")

    async def close(self) -> None:
        """Files hold no connection: nothing to release."""

    def network_status(self, namespace: str, name: str) -> str | None:
        """The network-status last written for a pod, if any."""
        pod = self._pod(namespace, name)
        return None if pod is None else pod.annotations.get(NETWORK_STATUS_ANNOTATION)

    def _status_path(self, pod: Pod) -> Path | None:
        if self.state is None:
            return None
        return self.state / "pods" / pod.namespace / f"{pod.name}.network-status.json"

    def _write_state(self, path: Path | None, text: str) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
            tmp.write(text)
        os.replace(tmp.name, path)
