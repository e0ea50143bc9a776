"""The daemon's cluster view: answers from watch caches, asks the API server only on a miss.

The caches keep only what the node side reads of each object (`keep_pod`, `keep_network`): a node's
thousand pods would otherwise hold tens of megabytes of managed fields and specs nobody looks at.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from multus.k8s.constants import NAD_PLURAL, NODE_READ_ANNOTATION_PREFIXES
from multus.k8s.view import EventType, Pod
from multus.kube.apiview import ApiView
from multus.kube.paths import nads_path, pods_path
from multus.kube.watchcache import WatchCache

# How long a NAD that a live GET found absent is believed absent without asking again. A NAD created
# meanwhile still counts at once: it reaches the cache by the watch, and the cache is asked first.
ABSENT_SECONDS = 30.0
ABSENT_LIMIT = 4096


class CacheView:
    """Pods of this node and every NAD, from caches; writes and cache misses go to `api`.

    A pod the cache has not seen yet (its watch event may still be on the way) is read live, with the
    API view's timeout and retries, and so is one asked for `fresh`. So is a NAD, except one the API said
    is absent a moment ago: a `clusterNetwork` named after a conf file is looked up as a NAD first on
    every ADD, and a steady-state ADD must not read.
    """

    def __init__(self, api: ApiView, node_name: str, on_miss: Callable[[], None] = lambda: None) -> None:
        self.api = api
        # `api.client` is looked up for each request, so reloaded credentials reach the watches too.
        self.pods = WatchCache(
            "pods", lambda: api.client, pods_path(), keep_pod, fieldSelector=f"spec.nodeName={node_name}"
        )
        self.networks = WatchCache(NAD_PLURAL, lambda: api.client, nads_path(), keep_network)
        self.misses = 0
        self._on_miss = on_miss
        self._absent: dict[tuple[str, str], float] = {}  # NADs a live GET did not find, and when

    def start(self) -> None:
        self.pods.start()
        self.networks.start()

    def stop(self) -> None:
        self.pods.stop()
        self.networks.stop()

    async def close(self) -> None:
        self.stop()
        await self.api.close()

    @property
    def synced(self) -> bool:
        return self.pods.synced.is_set() and self.networks.synced.is_set()

    async def get_pod(self, namespace: str, name: str, *, fresh: bool = False) -> Pod | None:
        if not fresh:
            cached = self.pods.get(namespace, name)
            if cached is not None:
                return Pod.from_object(cached)
            self.misses += 1
            self._on_miss()
        return await self.api.get_pod(namespace, name)

    async def get_network(self, namespace: str, name: str) -> dict[str, Any] | None:
        cached = self.networks.get(namespace, name)
        if cached is not None:
            return cached
        # Absent from the cache may mean "created a moment ago": ask before failing the pod.
        key = (namespace, name)
        asked = self._absent.get(key)
        if asked is not None and time.monotonic() - asked < ABSENT_SECONDS:
            return None
        self.misses += 1
        self._on_miss()
        found = await self.api.get_network(namespace, name)
        if len(self._absent) >= ABSENT_LIMIT:
            self._absent.clear()
        if found is None:
            self._absent[key] = time.monotonic()
        else:
            self._absent.pop(key, None)
        return found

    async def write_network_status(self, pod: Pod, status: str | None) -> None:
        await self.api.write_network_status(pod, status)

    async def record_event(self, pod: Pod, kind: EventType, reason: str, message: str) -> None:
        await self.api.record_event(pod, kind, reason, message)


def _read_annotations(meta: dict[str, Any]) -> dict[str, str]:
    return {
        key: value
        for key, value in (meta.get("annotations") or {}).items()
        if key.startswith(NODE_READ_ANNOTATION_PREFIXES)  # not last-applied-configuration and the like
    }


def keep_pod(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return {
        "metadata": {
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "annotations": _read_annotations(meta),
            "deletionTimestamp": meta.get("deletionTimestamp"),
        },
        "spec": {"nodeName": (pod.get("spec") or {}).get("nodeName")},
    }


def keep_network(nad: dict[str, Any]) -> dict[str, Any]:
    meta = nad.get("metadata") or {}
    return {
        "metadata": {
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "annotations": _read_annotations(meta),
        },
        "spec": nad.get("spec") or {},
    }
