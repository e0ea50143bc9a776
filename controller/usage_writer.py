"""Writing each NAD's pod count and pod list, from the usage index, one write at a time per NAD.

Two kinds of handlers update a NAD's usage: pod events (for the NADs a pod joined or left) and the
NAD's own handlers (when the controller starts, or the NAD is created or changed). Each write reads
the index right before it goes out, and writes for one NAD are serialised, so the last write always
carries the newest count: no handler can overwrite a fresh count with one it computed earlier. The
usage fields are therefore never part of the patch kopf applies after a NAD handler returns.

A write that would repeat the status is skipped: the writer remembers what it last wrote to each NAD,
which is the status as long as this replica is the active one (nobody else writes usage then), and
otherwise compares with the status the NAD's handler saw. A NAD handler's body may predate a pod
event's write, so without the memory a restart amid pod events could write a NAD twice.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

from controller.status import usage_fields
from controller.usage import NetworkKey, PodReference, Usage, summarise
from multus.kube.errors import NotFound
from multus.kube.paths import nad_status_path
from multus.kube.rest import MERGE_PATCH, RestClient

# PATCHes in flight at once: each one more needs a TLS connection of its own (a buffer of up to 256 KiB),
# and a handful keep up with a thousand pod events a second.
CONCURRENT_WRITES = 8


class UsageWriter:
    """The one writer of `podCount` and `pods` in the controller; it keeps a lock per NAD being written."""

    def __init__(self, api: RestClient, listed_pods: int) -> None:
        self.api = api
        self.listed_pods = listed_pods
        # A lock lives while some write holds or awaits it, so idle NADs cost nothing.
        self._locks: weakref.WeakValueDictionary[NetworkKey, asyncio.Lock] = weakref.WeakValueDictionary()
        self._written: dict[NetworkKey, Usage] = {}
        self._requests = asyncio.Semaphore(CONCURRENT_WRITES)

    def forget(self, key: NetworkKey | None = None) -> None:
        """Forget what was written to NAD `key` (deleted), or to every NAD (another replica takes over)."""
        if key is None:
            self._written.clear()
        else:
            self._written.pop(key, None)

    async def write(
        self,
        key: NetworkKey,
        index: Mapping[NetworkKey, Any],
        known_status: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the usage of NAD `key` as `index` (the kopf usage index) has it now.

        A write that would repeat this writer's last one is skipped, and so is one that would not change
        `known_status` (the NAD's status as its handler saw it) when this writer has not written it yet.
        """
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            users: list[PodReference] = list(index.get(key, ()))
            usage = summarise(users, self.listed_pods)
            fields = usage_fields(usage)
            written = self._written.get(key)
            if written == usage or (
                written is None
                and known_status is not None
                and all(known_status.get(name) == value for name, value in fields.items())
            ):
                return
            try:
                async with self._requests:
                    await self.api.request(
                        "PATCH", nad_status_path(*key), body={"status": fields}, content_type=MERGE_PATCH
                    )
            except NotFound:  # a pod's network-status may name a NAD deleted since: nothing to update
                self._written.pop(key, None)
            else:
                self._written[key] = usage
