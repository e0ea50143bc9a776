"""What this node attached to each container, on disk, so DEL works without the pod, the NAD or the API.

One file per container, `<cniDir>/<containerID>`, written atomically (temporary file, rename) before
the first delegate runs, so a crash of the daemon at any point leaves a record that names every
attachment that may exist; written again, with the results, once they all succeeded, and then synced
to disk, off the request's path. Only a power loss within those milliseconds loses it, and with it
the pod's network namespace and the plugins' own unsynced state (host-local does not sync its leases).
Each attachment keeps everything its DEL needs: the exact delegate config, runtimeConfig, CNI_ARGS and
the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multus.cni.errors import IOFailure

CACHE_KIND = "multusAttachmentsV1"
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class AttachmentRecord(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    network: str  # `ns/name` of the NAD, or the CNI config's name for a file-based network
    ifname: str
    config: dict[str, Any]  # the config list exactly as the delegates got it
    capability_args: dict[str, Any] = Field(default_factory=dict, alias="capabilityArgs")
    cni_args: list[tuple[str, str]] = Field(default_factory=list, alias="cniArgs")
    is_default: bool = Field(False, alias="isDefault")
    result: dict[str, Any] | None = None  # None until the delegate's ADD succeeded
    device_info: dict[str, Any] | None = Field(None, alias="deviceInfo")


class ContainerRecord(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    kind: str = CACHE_KIND
    container_id: str = Field(alias="containerId")
    netns: str
    pod_namespace: str = Field("", alias="podNamespace")
    pod_name: str = Field("", alias="podName")
    pod_uid: str = Field("", alias="podUID")
    cni_version: str = Field(alias="cniVersion")
    attachments: list[AttachmentRecord] = Field(default_factory=list)


class SpareFiles:
    """Empty files made ahead in cache folders, off the requests' path: a save fills one and renames it
    into place, which costs a third of creating a file while the runtime waits.

    A long-running host keeps one, refills it after its replies and discards it when it stops. Each
    process names its files with a token of its own, so the first refill of a folder removes those an
    earlier process left behind.
    """

    PREFIX = ".spare-"

    def __init__(self, per_folder: int = 4) -> None:
        self.per_folder = per_folder
        self._token = f"{self.PREFIX}{secrets.token_hex(4)}-"
        self._ready: dict[Path, list[tuple[int, Path]]] = {}
        self._swept: set[Path] = set()

    def take(self, folder: Path) -> tuple[int, Path] | None:
        """An open, empty file in `folder`, or None when there is none ready (the first time it is asked
        for `folder`, which the next refill then keeps supplied)."""
        try:
            return self._ready.setdefault(folder, []).pop()
        except IndexError:  # none left (a worker thread may have taken the last one just now)
            return None

    def short(self) -> bool:
        return any(len(ready) < self.per_folder for ready in self._ready.values())

    def refill(self) -> None:
        for folder, ready in list(self._ready.items()):
            if folder not in self._swept:
                self._remove_strays(folder)
                self._swept.add(folder)
            while len(ready) < self.per_folder:
                path = folder / f"{self._token}{secrets.token_hex(8)}"
                try:
                    ready.append((os.open(path, _NEW_FILE, 0o600), path))
                except OSError:  # no folder yet, or a full disk: saves make their own files meanwhile
                    break

    def discard(self) -> None:
        for ready in self._ready.values():
            while ready:
                fd, path = ready.pop()
                os.close(fd)
                with contextlib.suppress(OSError):
                    path.unlink()

    def _remove_strays(self, folder: Path) -> None:
        with contextlib.suppress(OSError):
            for stray in folder.glob(f"{self.PREFIX}*"):
                if not stray.name.startswith(self._token):
                    with contextlib.suppress(OSError):
                        stray.unlink()


class RecentRecords:
    """The records a long-running host saved, each kept until it is read back once: the container's next
    request (its DEL, most often) then skips reading and validating the file, as long as the file is
    still the one that was saved (same inode, size and modification time). Read once and dropped, so a
    caller that changes a record it loaded without saving it cannot leave a stale copy here.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._kept: dict[Path, tuple[tuple[int, int, int], ContainerRecord]] = {}
        self._lock = threading.Lock()  # saves after a reply run in worker threads

    def keep(self, path: Path, record: ContainerRecord, saved: os.stat_result) -> None:
        with self._lock:
            self._kept.pop(path, None)
            while len(self._kept) >= self.limit:  # the oldest first: records of pods long gone
                self._kept.pop(next(iter(self._kept)))
            self._kept[path] = (_identity(saved), record)

    def take(self, path: Path) -> ContainerRecord | None:
        with self._lock:
            kept = self._kept.pop(path, None)
        if kept is None:
            return None
        try:
            current = _identity(os.stat(path))
        except OSError:
            return None
        return kept[1] if current == kept[0] else None

    def forget(self, path: Path) -> None:
        with self._lock:
            self._kept.pop(path, None)


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class AttachmentCache:
    """The records of `folder`; `spares`, when given, supplies the files that saves fill, and `recent`
    keeps what was saved for the next load."""

    def __init__(
        self, folder: Path, spares: SpareFiles | None = None, recent: RecentRecords | None = None
    ) -> None:
        self.folder = folder
        self._spares = spares
        self._recent = recent

    def path(self, container_id: str) -> Path:
        return self.folder / container_id

    def save(self, record: ContainerRecord, *, durable: bool = True) -> None:
        """Replace the container's record atomically; `durable` also waits for the disk (as `sync`)."""
        try:
            data = record.model_dump_json(by_alias=True).encode()
            spare = self._spares.take(self.folder) if self._spares is not None else None
            if spare is None:
                self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = spare or tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            try:
                try:
                    written = memoryview(data)
                    while written:
                        written = written[os.write(fd, written) :]
                    if durable:
                        os.fsync(fd)
                    saved = os.fstat(fd)
                finally:
                    os.close(fd)
                os.replace(temporary, self.path(record.container_id))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            if self._recent is not None:
                self._recent.forget(self.path(record.container_id))
            raise IOFailure(f"cannot write the attachment cache in {self.folder}", str(error)) from error
        if self._recent is not None:
            self._recent.keep(self.path(record.container_id), record, saved)

    def sync(self, container_id: str) -> None:
        """Wait until the disk holds the container's record, after a `save` that did not."""
        try:
            fd = os.open(self.path(container_id), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            raise IOFailure(f"cannot sync the attachment cache in {self.folder}", str(error)) from error

    def load(self, container_id: str) -> ContainerRecord | None:
        """The container's record; None if there is none or it cannot be read (the caller recovers)."""
        if self._recent is not None and (recent := self._recent.take(self.path(container_id))) is not None:
            return recent
        try:
            raw = json.loads(self.path(container_id).read_bytes())
            record = ContainerRecord.model_validate(raw)
        except (OSError, ValueError, ValidationError):
            return None
        return record if record.kind == CACHE_KIND else None

    def exists(self, container_id: str) -> bool:
        return self.path(container_id).exists()

    def remove(self, container_id: str) -> None:
        if self._recent is not None:
            self._recent.forget(self.path(container_id))
        try:
            self.path(container_id).unlink(missing_ok=True)
        except OSError as error:
            raise IOFailure(
                f"cannot remove the attachment cache {self.path(container_id)}", str(error)
            ) from error

    def container_ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_file() and not p.name.startswith("."))
