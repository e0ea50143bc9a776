"""The daemon's cluster view: answers from watch caches, asks the API server only on a miss.

The caches keep only what the node side reads of each object (`keep_pod`, `keep_network`): a node's
thousand pods would otherwise hold tens of megabytes of managed fields and specs nobody looks at. What
is kept is a tuple per object with shared strings for namespaces, node names and annotation keys; a
read turns it back into the JSON shape (`show_pod`, `show_network`), which costs microseconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from multus.k8s.constants import NAD_PLURAL, NETWORK_STATUS_ANNOTATION, NODE_READ_ANNOTATION_PREFIXES
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
            "pods",
            lambda: api.client,
            pods_path(),
            keep_pod,
            show_pod,
            fieldSelector=f"spec.nodeName={node_name}",
        )
        self.networks = WatchCache(NAD_PLURAL, lambda: api.client, nads_path(), keep_network, show_network)
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


Annotations = tuple[tuple[str, str], ...]


class CachedPod(NamedTuple):
    """What the node side reads of a pod (`Pod.from_object`): one tuple where the JSON took three dicts."""

    namespace: str | None
    name: str | None
    uid: str | None
    annotations: Annotations
    deletion_timestamp: str | None
    node_name: str | None


class CachedNetwork(NamedTuple):
    """What the node side reads of a NAD: its name, the annotations it reads (`resourceName`) and spec."""

    namespace: str | None
    name: str | None
    annotations: Annotations
    spec: tuple[tuple[str, Any], ...]


def _interned(text: str | None) -> str | None:
    return None if text is None else sys.intern(text)


def _read_annotations(meta: dict[str, Any], *, presence: frozenset[str] = frozenset()) -> Annotations:
    """The annotations with the node side's prefixes (not last-applied-configuration and the like); of
    those in `presence` only that they are there, as an empty value. Keys are shared between objects."""
    return tuple(
        (sys.intern(key), "" if key in presence else value)
        for key, value in (meta.get("annotations") or {}).items()
        if key.startswith(NODE_READ_ANNOTATION_PREFIXES)
    )


# The daemon reads only whether a pod has a network-status (orchestrator/report.py, daemon/dynamic.py),
# and its text is the largest part of an attached pod's annotations.
_POD_PRESENCE = frozenset({NETWORK_STATUS_ANNOTATION})


def keep_pod(pod: dict[str, Any]) -> CachedPod:
    meta = pod.get("metadata") or {}
    return CachedPod(
        _interned(meta.get("namespace")),
        meta.get("name"),
        meta.get("uid"),
        _read_annotations(meta, presence=_POD_PRESENCE),
        meta.get("deletionTimestamp"),
        _interned((pod.get("spec") or {}).get("nodeName")),
    )


def show_pod(pod: CachedPod) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": pod.namespace,
            "name": pod.name,
            "uid": pod.uid,
            "annotations": dict(pod.annotations),
            "deletionTimestamp": pod.deletion_timestamp,
        },
        "spec": {"nodeName": pod.node_name},
    }


def keep_network(nad: dict[str, Any]) -> CachedNetwork:
    meta = nad.get("metadata") or {}
    return CachedNetwork(
        _interned(meta.get("namespace")),
        meta.get("name"),
        _read_annotations(meta),
        # The same config in several namespaces is held once.
        tuple(
            (key, sys.intern(value) if isinstance(value, str) else value)
            for key, value in (nad.get("spec") or {}).items()
        ),
    )


def show_network(nad: CachedNetwork) -> dict[str, Any]:
    return {
        "metadata": {"namespace": nad.namespace, "name": nad.name, "annotations": dict(nad.annotations)},
        "spec": dict(nad.spec),
    }
