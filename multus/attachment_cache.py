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
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, ClassVar

from multus.cni.errors import IOFailure
from multus.cni.jsontext import decode_json
from multus.cni.schema import (
    Field,
    Record,
    any_dict,
    boolean,
    list_of,
    nested,
    nullable,
    string,
    string_pair,
)

CACHE_KIND = "multusAttachmentsV1"
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class AttachmentRecord(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "network": Field(string),
        "ifname": Field(string),
        "config": Field(any_dict),
        "capability_args": Field(any_dict, factory=dict, alias="capabilityArgs"),
        "cni_args": Field(list_of(string_pair), factory=list, alias="cniArgs"),
        "is_default": Field(boolean, False, alias="isDefault"),
        "result": Field(nullable(any_dict), None),
        "device_info": Field(nullable(any_dict), None, alias="deviceInfo"),
    }
    EXTRA = "allow"
    BY_NAME = True

    network: str  # `ns/name` of the NAD, or the CNI config's name for a file-based network
    ifname: str
    config: dict[str, Any]  # the config list exactly as the delegates got it
    capability_args: dict[str, Any]
    cni_args: list[tuple[str, str]]
    is_default: bool
    result: dict[str, Any] | None  # None until the delegate's ADD succeeded
    device_info: dict[str, Any] | None


class ContainerRecord(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "kind": Field(string, CACHE_KIND),
        "container_id": Field(string, alias="containerId"),
        "netns": Field(string),
        "pod_namespace": Field(string, "", alias="podNamespace"),
        "pod_name": Field(string, "", alias="podName"),
        "pod_uid": Field(string, "", alias="podUID"),
        "cni_version": Field(string, alias="cniVersion"),
        "attachments": Field(list_of(nested(AttachmentRecord)), factory=list),
    }
    EXTRA = "allow"
    BY_NAME = True

    kind: str
    container_id: str
    netns: str
    pod_namespace: str
    pod_name: str
    pod_uid: str
    cni_version: str
    attachments: list[AttachmentRecord]


class SpareFiles:
    """Empty files made ahead in cache folders, off the requests' path: a save fills one and renames it
    into place, which costs a third of creating a file while the runtime waits.

    A long-running host keeps one, refills it after its replies (in worker threads) and discards it when
    it stops. Each process names its files with a token of its own; its first refill of a folder removes
    the others, which a process before it left behind. Should a spare vanish all the same (another
    process swept it, the folder was re-created), the save falls back to a file of its own.
    """

    PREFIX = ".spare-"

    def __init__(self, per_folder: int = 4) -> None:
        self.per_folder = per_folder
        self._token = f"{self.PREFIX}{os.urandom(4).hex()}-"
        self._ready: dict[Path, list[tuple[int, Path]]] = {}
        self._swept: set[Path] = set()
        self._lock = threading.Lock()
        self._discarded = False

    def take(self, folder: Path) -> tuple[int, Path] | None:
        """An open, empty file in `folder`, or None when there is none ready (the first time it is asked
        for `folder`, which the next refill then keeps supplied)."""
        with self._lock:
            ready = self._ready.setdefault(folder, [])
            return ready.pop() if ready else None

    def short(self) -> bool:
        with self._lock:
            return not self._discarded and any(len(ready) < self.per_folder for ready in self._ready.values())

    def refill(self) -> None:
        with self._lock:
            if self._discarded:  # a request's bookkeeping that outlived the host's stop
                return
            for folder, ready in self._ready.items():
                if folder not in self._swept:
                    self._remove_strays(folder)
                    self._swept.add(folder)
                while len(ready) < self.per_folder:
                    path = folder / f"{self._token}{os.urandom(8).hex()}"
                    try:
                        ready.append((os.open(path, _NEW_FILE, 0o600), path))
                    except OSError:  # no folder yet, or a full disk: saves make their own files meanwhile
                        break

    def discard(self) -> None:
        with self._lock:
            self._discarded = True
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


class AttachmentCache:
    """The records of `folder`; `spares`, when given, supplies the files that saves fill."""

    def __init__(self, folder: Path, spares: SpareFiles | None = None) -> None:
        self.folder = folder
        self._spares = spares

    def path(self, container_id: str) -> Path:
        return self.folder / container_id

    def save(self, record: ContainerRecord, *, durable: bool = True) -> None:
        """Replace the container's record atomically; `durable` also waits for the disk (as `sync`)."""
        data = record.to_json().encode()
        spare = self._spares.take(self.folder) if self._spares is not None else None
        if spare is not None:
            with contextlib.suppress(OSError):  # gone from under us: a file of its own, as below
                self._write(spare, data, record.container_id, durable=durable)
                return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write(
                tempfile.mkstemp(dir=self.folder, prefix=".tmp-"), data, record.container_id, durable=durable
            )
        except OSError as error:
            raise IOFailure(f"cannot write the attachment cache in {self.folder}", str(error)) from error

    def _write(
        self, temporary: tuple[int, str | Path], data: bytes, container_id: str, *, durable: bool
    ) -> None:
        """`data` into the open temporary file, then that file renamed to the container's record."""
        fd, name = temporary
        try:
            try:
                written = memoryview(data)
                while written:
                    written = written[os.write(fd, written) :]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(name, self.path(container_id))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise

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
        try:
            record = ContainerRecord.validate(decode_json(self.path(container_id).read_bytes()))
        except (OSError, ValueError):  # MalformedJSON and SchemaError are ValueErrors
            return None
        return record if record.kind == CACHE_KIND else None

    def exists(self, container_id: str) -> bool:
        return self.path(container_id).exists()

    def remove(self, container_id: str) -> None:
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
