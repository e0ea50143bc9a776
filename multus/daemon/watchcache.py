"""Watch-backed caches of API objects, so a steady-state ADD reads nothing from the API server.

Each cache lists its objects once, then follows a watch from the list's resourceVersion; when the
watch expires (410 Gone) or breaks, it lists again. Objects are kept as the API's JSON (dicts), keyed by
`(namespace, name)`. The loop runs in a thread of its own because the Kubernetes client blocks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from urllib3.exceptions import HTTPError

from multus.logs import fields, get_logger

log = get_logger("watchcache")

Key = tuple[str, str]
ListCall = Callable[..., Any]

WATCH_SECONDS = 300  # the server ends each watch after this; we then resume from the last version
# A read timeout on the watch: without one a connection that died silently (no FIN, no RST) would block
# the cache forever. A live watch is never quiet that long: the server ends it after WATCH_SECONDS.
WATCH_READ_TIMEOUT = (10.0, WATCH_SECONDS + 30.0)  # (connect, read) seconds
RETRY_PAUSE = 1.0


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class WatchCache:
    """One kind of object. `list_call(**kwargs)` is a Kubernetes client list method (with `watch`,
    `resource_version`, `_preload_content` support); `selector` kwargs are passed to every call."""

    def __init__(self, kind: str, list_call: ListCall, **selector: Any) -> None:
        self.kind = kind
        self._list_call = list_call
        self._selector = selector
        self._objects: dict[Key, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.synced = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get((namespace, name))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._relist()
                version = self._follow(version)
            except ApiException as error:
                if error.status == 410:  # our version is too old: start over from a fresh list
                    version = ""
                    continue
                log.error(
                    "watch failed", extra=fields(kind=self.kind, error=f"{error.status} {error.reason}")
                )
                version = ""
                self._stop.wait(RETRY_PAUSE)
            except (HTTPError, OSError, ValueError) as error:
                log.error("watch failed", extra=fields(kind=self.kind, error=str(error)))
                version = ""
                self._stop.wait(RETRY_PAUSE)

    def _relist(self) -> str:
        reply = self._list_call(_preload_content=False, **self._selector)
        listed = json.loads(reply.data)
        with self._lock:
            self._objects = {key_of(obj): obj for obj in listed.get("items") or []}
        self.synced.set()
        log.info("cache listed", extra=fields(kind=self.kind, objects=len(self._objects)))
        return str(listed["metadata"]["resourceVersion"])

    def _follow(self, version: str) -> str:
        """Apply watch events until the server ends the watch; the version to resume from."""
        reply = self._list_call(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=WATCH_READ_TIMEOUT,
            _preload_content=False,
            **self._selector,
        )
        try:
            for line in iter_resp_lines(reply):  # type: ignore[no-untyped-call]
                if self._stop.is_set():
                    break
                if not line:
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                with self._lock:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._objects[key_of(obj)] = obj
                    elif event["type"] == "DELETED":
                        self._objects.pop(key_of(obj), None)
        finally:
            reply.close()
            reply.release_conn()
        return version
