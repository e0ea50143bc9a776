"""Watch-backed caches of API objects, so a steady-state ADD reads nothing from the API server.

Each cache lists its objects once (in pages of `LIST_PAGE`), then follows a watch from the list's
resourceVersion. When the watch (or a page's continue token) expires (`Gone`) it lists again at once;
when listing or watching fails it lists again after a pause that doubles per failure (1 s to 30 s,
with jitter, so a node's caches and the nodes of a cluster do not retry in step), back to 1 s once a
watch runs in good order again. Objects are kept keyed by `(namespace, name)`, cut down by `keep` to
what the owner reads and stored in whatever compact form `keep` returns; `show` turns that back into
JSON (a dict) for readers (`multus.kube.cacheview` says why).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from multus.kube.backoff import Backoff
from multus.kube.errors import ApiError, Gone
from multus.kube.rest import RestClient
from multus.logs import fields, get_logger

log = get_logger("watchcache")

Key = tuple[str, str]
Kept = TypeVar("Kept")
Sleep = Callable[[float], Awaitable[None]]
# Told of each object that changed: (before, after) as shown; before None if new, after None if gone.
OnChange = Callable[[dict[str, Any] | None, dict[str, Any] | None], None]

WATCH_SECONDS = 300  # the server ends each watch after this; we then resume from the last version
IDLE_SECONDS = 150  # no byte for this long (not even a bookmark): the connection died silently
# Seconds after the first failure, and the bound. Full jitter (each pause anywhere between 0 and its
# ceiling): every node's watches break at the same moment when the API server restarts, and pauses cut
# by at most half still woke most of 200 watches in the second it came back (benchmarks/RESULTS.md); the
# low bound keeps the last of them within 10 s of its return.
RETRY_PAUSE, RETRY_PAUSE_MAX, RETRY_JITTER = 1.0, 10.0, 1.0
# Objects per list request. A node's thousand pods listed at once are ten megabytes of JSON and some
# sixty of parsed objects, which the process keeps as RSS long after; a page is cut down before the next.
LIST_PAGE = 100


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    # One string per namespace, not one per object: a node's pods share a handful of namespaces.
    return sys.intern(meta.get("namespace") or ""), meta.get("name") or ""


class WatchCache(Generic[Kept]):
    """One kind of object at `path` (a list URL), filtered by `params` (e.g. a field selector).

    `client` is called for every request, so credentials reloaded meanwhile take effect. `backoff`,
    `sleep`, `watch_seconds` and `page` are there for tests, which replace the pauses, shorten the
    watches and list in small pages.
    """

    def __init__(
        self,
        kind: str,
        client: Callable[[], RestClient],
        path: str,
        keep: Callable[[dict[str, Any]], Kept],
        show: Callable[[Kept], dict[str, Any]],
        *,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        watch_seconds: int = WATCH_SECONDS,
        page: int = LIST_PAGE,
        **params: str,
    ) -> None:
        self.kind = kind
        self._client = client
        self._path = path
        self._keep = keep
        self._show = show
        self._params = params
        self._backoff = backoff or Backoff(RETRY_PAUSE, RETRY_PAUSE_MAX, jitter=RETRY_JITTER)
        self._sleep = sleep
        self._watch_seconds = watch_seconds
        self._page = page
        self._objects: dict[Key, Kept] = {}
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_change: OnChange | None = None
        self.listed_at: float | None = None  # when the last full list arrived (epoch seconds)

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        kept = self._objects.get((namespace, name))
        return None if kept is None else self._show(kept)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watch-{self.kind}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        version = ""
        while True:
            try:
                if not version:
                    version = await self._relist()
                version = await self._follow(version)
            except Gone:  # our version is too old: start over from a fresh list
                version = ""
            except (ApiError, ValueError) as error:  # ValueError: a line that is not JSON
                version = ""
                pause = self._backoff.next()
                log.error(
                    "watch failed",
                    extra=fields(kind=self.kind, error=str(error), retry_seconds=round(pause, 1)),
                )
                await self._sleep(pause)

    async def _relist(self) -> str:
        objects: dict[Key, Kept] = {}
        params = {**self._params, "limit": str(self._page)}
        while True:
            version, more = await self._list_page(params, objects)
            if not more:
                break
            params["continue"] = more
        before, self._objects = self._objects, objects
        if self.on_change is not None:  # what changed while no watch ran, too
            for key, obj in self._objects.items():
                self._changed(before.pop(key, None), obj)
            for gone in before.values():
                self._changed(gone, None)
        self.synced.set()
        self.listed_at = time.time()
        log.info("cache listed", extra=fields(kind=self.kind, objects=len(self._objects)))
        return version

    async def _list_page(self, params: dict[str, str], into: dict[Key, Kept]) -> tuple[str, str]:
        """One page of the list, kept into `into`: its resourceVersion and the continue token ("" at
        the end). The page's JSON is gone once this returns. An expired token is `Gone`."""
        listed = await self._client().request("GET", self._path, params=params)
        for obj in listed.get("items") or []:
            into[key_of(obj)] = self._keep(obj)
        meta = listed["metadata"]
        return str(meta["resourceVersion"]), str(meta.get("continue") or "")

    async def _follow(self, version: str) -> str:
        """Apply watch events until the server ends the watch; the version to resume from."""
        params = {
            **self._params,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self._watch_seconds),
        }
        async for event in self._client().watch(self._path, params, IDLE_SECONDS):
            self._backoff.reset()  # the watch works: the next failure is a new one
            obj = event.get("object") or {}
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if event["type"] in ("ADDED", "MODIFIED"):
                key, kept = key_of(obj), self._keep(obj)
                before = self._objects.get(key)
                self._objects[key] = kept
                self._changed(before, kept)
            elif event["type"] == "DELETED":
                self._changed(self._objects.pop(key_of(obj), None), None)
        self._backoff.reset()  # the server ended the watch in good order
        return version

    def _changed(self, before: Kept | None, after: Kept | None) -> None:
        if self.on_change is not None:
            self.on_change(
                None if before is None else self._show(before), None if after is None else self._show(after)
            )
