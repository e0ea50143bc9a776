"""The usage index: which pods use which NAD, kept from one list-and-watch of every pod.

kopf's own index would give each pod a worker task, a per-object memory and a readiness toggle, and
its start-up wait wakes every waiting pod each time one more is indexed: at tens of thousands of pods
that is hundreds of megabytes and minutes of CPU. Here `multus.kube.watchcache` lists pods in pages and
follows a watch, each pod is kept as its reference and the NADs it uses (strings shared with the index),
and each pod event writes the usage of the NADs it joined or left through the `UsageWriter`.

The initial listing writes nothing: the NAD handlers count every NAD once it is complete (`synced`).
Only the active replica writes: kopf pauses its handlers while a peer with a higher priority lives, and
says so in its peering log, which `PeeringActivity` follows. While paused the index is kept current and
the NADs that changed are remembered, to be written once this replica takes over.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from controller.usage import NetworkKey, PodReference, networks_in_use
from multus.kube.rest import RestClient
from multus.kube.watchcache import WatchCache

PODS_PATH = "/api/v1/pods"
# Pods per list request: a page of 500 is a few megabytes of JSON, gone before the next; the watch
# cache's default (100, sized for a node's pods) would take 500 requests for 50,000 pods.
LIST_PAGE = 500
KOPF_PEERING_LOGGER = "kopf._core.engines.peering"
logger = logging.getLogger(__name__)

# A pod as kept: its reference and the NADs it uses; one shared value for every pod that uses none.
KeptPod = tuple[PodReference, tuple[NetworkKey, ...]]
UNUSED: KeptPod = ("", ())


class PodUsage:
    """The pods of the cluster by NAD. `write` refreshes one NAD's usage from `index`; `forget` makes the
    writer forget what it wrote (controller.usage_writer)."""

    def __init__(
        self,
        client: Callable[[], RestClient],
        write: Callable[[NetworkKey, dict[NetworkKey, set[PodReference]]], Awaitable[None]],
        forget: Callable[[], None],
        *,
        active: bool,
    ) -> None:
        self.index: dict[NetworkKey, set[PodReference]] = {}
        self._write = write
        self._forget = forget
        self.active = active  # whether this replica writes usage (kopf peering)
        self._pending: set[NetworkKey] = set()  # changed while this replica was paused
        self._queued: set[NetworkKey] = set()  # a write is scheduled and has not read the index yet
        self._tasks: set[asyncio.Task[None]] = set()
        # One tuple per NAD, shared by every pod that uses it.
        self._keys: dict[NetworkKey, NetworkKey] = {}
        self.cache = WatchCache("pods", client, PODS_PATH, self._keep, _show, page=LIST_PAGE)
        self.cache.on_change = self._changed

    @property
    def synced(self) -> asyncio.Event:
        """Set once every pod has been listed (the index is complete)."""
        return self.cache.synced

    def start(self) -> None:
        self.cache.start()

    async def stop(self) -> None:
        self.cache.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def set_active(self, active: bool) -> None:
        """Whether this replica writes usage. On pausing, the writer forgets what it wrote (the other
        replica writes now); on taking over, write what changed meanwhile."""
        self.active = active
        if not active:
            self._forget()
        else:
            pending, self._pending = self._pending, set()
            self._refresh(pending)

    def _keep(self, pod: dict[str, Any]) -> KeptPod:
        used = networks_in_use(pod)
        if not used:
            return UNUSED
        shared = self._keys
        networks = tuple(shared.setdefault(key, (sys.intern(key[0]), sys.intern(key[1]))) for key in used)
        return next(iter(used.values())), networks

    def _changed(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        left = frozenset(before["networks"] if before is not None else ())
        joined = frozenset(after["networks"] if after is not None else ())
        if left == joined:
            return
        for key in left - joined:
            users = self.index.get(key)
            if users is not None:
                users.discard(before["pod"] if before is not None else "")
                if not users:
                    del self.index[key]
        for key in joined - left:
            self.index.setdefault(key, set()).add(after["pod"] if after is not None else "")
        # The initial listing: the NAD handlers count once it is complete.
        if self.synced.is_set():
            self._refresh(left ^ joined)

    def _refresh(self, keys: Iterable[NetworkKey]) -> None:
        if not self.active:
            self._pending.update(keys)
            return
        for key in keys:
            if key not in self._queued:  # the write already scheduled will read this change too
                self._queued.add(key)
                task = asyncio.get_running_loop().create_task(self._write_one(key))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _write_one(self, key: NetworkKey) -> None:
        self._queued.discard(key)
        try:
            await self._write(key, self.index)
        except Exception as error:  # one NAD's failure must not stop the others'
            logger.warning("cannot update the usage of NAD %s/%s: %s", *key, error)


def _show(kept: KeptPod) -> dict[str, Any]:
    return {"pod": kept[0], "networks": kept[1]}


class PeeringActivity(logging.Filter):
    """Follows kopf's peering log: paused while a peer with a higher (or the same) priority lives."""

    def __init__(self, usage: PodUsage) -> None:
        super().__init__()
        self.usage = usage

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith(("Pausing operations", "Pausing all operators")):
            self.usage.set_active(False)
        elif message.startswith("Resuming operations"):
            self.usage.set_active(True)
        return True


def follow_peering(usage: PodUsage) -> None:
    logging.getLogger(KOPF_PEERING_LOGGER).addFilter(PeeringActivity(usage))
