"""Dynamic networks: a running pod of this node whose `k8s.v1.cni.cncf.io/networks` annotation changes
gets its interfaces changed to follow (`multus.orchestrator.dynamic`), with no other component.

The pod watch tells of every change; a change of the annotation (or, on the watch's first list, a pod
already attached) queues the pod. One pod is worked on at a time per pod, serialised with the CNI
requests of its sandbox; changes that arrive meanwhile are folded into one more pass, which reads the
pod as it is then. The sandbox is found from the attachment records on disk, so a daemon restarted
between two changes, or while the annotation changed, catches up from its first list of pods.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from multus.attachment_cache import AttachmentCache, ContainerRecord
from multus.cni.errors import CNIError
from multus.config import MultusConfig
from multus.k8s.constants import DEFAULT_NETWORK_ANNOTATION, NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from multus.k8s.view import ClusterView
from multus.logs import fields, get_logger
from multus.orchestrator.dynamic import apply_changes
from multus.orchestrator.parts import Parts

log = get_logger("dynamic")

PodKey = tuple[str, str]
# The sandbox's lock, as the server holds it for the container's CNI requests.
Admission = Callable[[str], AbstractAsyncContextManager[None]]
PartsFor = Callable[[MultusConfig], Parts]
NodeConfig = Callable[[], MultusConfig]


class DynamicNetworks:
    def __init__(
        self, config: NodeConfig, view: ClusterView, admitted: Admission, parts_for: PartsFor
    ) -> None:
        self._config = config
        self._view = view
        self._admitted = admitted
        self._parts_for = parts_for
        self._running: dict[PodKey, asyncio.Task[None]] = {}
        self._again: set[PodKey] = set()

    def pod_changed(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """From the pod watch: `old` is None on the first list and for a new pod, `new` None once the
        pod is gone."""
        if new is None:
            return
        annotations = (new.get("metadata") or {}).get("annotations") or {}
        if old is None:
            # Seen for the first time: only a pod attached already can have changed unseen.
            if NETWORK_STATUS_ANNOTATION not in annotations:
                return
        elif _networks(old) == _networks(new):
            return  # our own network-status writes, labels, the pod's status...
        meta = new.get("metadata") or {}
        self.queue((meta.get("namespace") or "", meta.get("name") or ""))

    def queue(self, pod: PodKey) -> None:
        if pod in self._running:
            self._again.add(pod)
            return
        task = asyncio.create_task(self._follow(pod), name=f"dynamic-{pod[0]}/{pod[1]}")
        self._running[pod] = task

    async def idle(self) -> None:
        """Until no change is being applied (tests, and draining)."""
        while self._running:
            await asyncio.wait(set(self._running.values()))

    async def _follow(self, pod: PodKey) -> None:
        try:
            while True:
                self._again.discard(pod)
                await self._apply(pod)
                if pod not in self._again:
                    return
        finally:
            del self._running[pod]

    async def _apply(self, key: PodKey) -> None:
        context = {"pod": f"{key[0]}/{key[1]}"}
        try:
            pod = await self._view.get_pod(*key)
            if pod is None or pod.terminating:
                return
            config = self._config()
            records = AttachmentCache(config.cni_dir)
            container_id = await asyncio.to_thread(_sandbox_of, records, pod.namespace, pod.name, pod.uid)
            if container_id is None:
                return  # no sandbox attached yet: its ADD reads the annotation as it is
            async with self._admitted(container_id):
                record = records.load(container_id)  # again: a DEL may have come first
                if record is None:
                    return
                changes = await apply_changes(config, self._parts_for(config), pod, record)
            if changes:
                added = ", ".join(f"{a.network} ({a.ifname})" for a in changes.add)
                removed = ", ".join(f"{e.network} ({e.ifname})" for e in changes.remove)
                log.info(
                    "networks changed",
                    extra=fields(**context, container=container_id, added=added, removed=removed),
                )
        except CNIError as error:  # said on the pod too
            log.warning("networks not changed", extra=fields(**context, error=str(error)))
        except OSError as error:  # the node config, between two writes of it: the next change retries
            log.warning(
                "networks not changed: node config unreadable", extra=fields(**context, error=str(error))
            )
        except Exception as error:  # a bug: the watch must go on
            log.exception("dynamic networks failed", extra=fields(**context, error=str(error)))


def _sandbox_of(records: AttachmentCache, namespace: str, name: str, uid: str) -> str | None:
    """The container whose record is this pod's and whose namespace still exists."""
    for container_id in records.container_ids():
        record = records.load(container_id)
        if record is not None and _is_sandbox_of(record, namespace, name, uid):
            return container_id
    return None


def _is_sandbox_of(record: ContainerRecord, namespace: str, name: str, uid: str) -> bool:
    same = (record.pod_namespace, record.pod_name) == (namespace, name) and (
        not record.pod_uid or record.pod_uid == uid
    )
    return same and bool(record.netns) and os.path.exists(record.netns)


def _networks(pod: dict[str, Any]) -> tuple[object, object]:
    """What the pod asks of its networks: the annotations a change of which is acted on (the cluster
    network's, to be refused)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations.get(NETWORKS_ANNOTATION), annotations.get(DEFAULT_NETWORK_ANNOTATION)
