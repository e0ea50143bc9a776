"""The result cache, in libcni's own format, so tools that read libcni's cache see our attachments too.

One file per attachment, `<dir>/results/<network>-<containerID>-<ifname>`, holding the JSON object libcni
writes (`kind: cniCacheV1`): the container ID, the config list bytes (base64), the interface, network
name, netns, CNI_ARGS pairs, capability arguments and the result. We write it atomically (temporary
file, rename), so DEL never finds half a file where it looks for its prevResult. Like libcni we do not
fsync it: after a power loss DEL runs without a prevResult, which plugins must accept, and the
durable record of what to delete is the attachment cache's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from multus.cni import validation
from multus.cni.errors import CNIError, DecodeFailure, InvalidConfig, InvalidEnvironment, IOFailure
from multus.cni.jsontext import load_json
from multus.cni.names import container_id_error, ifname_error, network_name_error
from multus.cni.results import Result, parse_result
from multus.cni.schema import (
    Field,
    Record,
    SchemaError,
    any_dict,
    list_of,
    literal,
    nullable,
    string,
    string_pair,
)
from multus.cni.validation import short

log = logging.getLogger(__name__)

CACHE_KIND = "cniCacheV1"
DEFAULT_CACHE_DIR = Path("/var/lib/cni")
# A file name has at most 255 bytes (NAME_MAX); `write` goes through a temporary `.<name>.` + 8 characters.
MAX_FILE_NAME_BYTES = 255 - len("..") - 8


@dataclass(frozen=True)
class CachedAttachment:
    network_name: str
    container_id: str
    ifname: str
    config: bytes
    """The config list as bytes, as it was when the attachment was added."""
    netns: str = ""
    cni_args: tuple[tuple[str, str], ...] = ()
    capability_args: dict[str, Any] = field(default_factory=dict)
    result: Result | None = None


class _CacheFile(Record):
    """The JSON libcni writes; fields it omits when empty are optional here."""

    BY_NAME = True
    FIELDS: ClassVar[dict[str, Field]] = {
        "kind": Field(literal(CACHE_KIND)),
        "container_id": Field(string, alias="containerId"),
        "config": Field(string),
        "ifname": Field(string, alias="ifName"),
        "network_name": Field(string, alias="networkName"),
        "netns": Field(string, ""),
        "cni_args": Field(nullable(list_of(string_pair)), None, alias="cniArgs"),
        "capability_args": Field(nullable(any_dict), None, alias="capabilityArgs"),
        "result": Field(nullable(any_dict), None),
    }

    kind: str
    container_id: str
    config: str
    ifname: str
    network_name: str
    netns: str
    cni_args: list[tuple[str, str]] | None
    capability_args: dict[str, Any] | None
    result: dict[str, Any] | None


class ResultCache:
    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_CACHE_DIR) -> None:
        self.results_dir = Path(directory, "results")

    def path(self, network_name: str, container_id: str, ifname: str) -> Path:
        """The attachment's file; the error naming the part at fault when there can be none."""
        problem = _name_problem(network_name, container_id, ifname)
        if problem is not None:
            raise problem
        return self.results_dir / f"{network_name}-{container_id}-{ifname}"

    def write(self, entry: CachedAttachment) -> None:
        target = self.path(entry.network_name, entry.container_id, entry.ifname)
        data = json.dumps(_to_wire(entry)).encode()
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise IOFailure(f"cannot write cached result {target}", exc.strerror or str(exc)) from None

    def read(self, network_name: str, container_id: str, ifname: str) -> CachedAttachment | None:
        """The cached attachment, None when there is none (or can be none, see `path`), DecodeFailure
        when the file is damaged."""
        if _name_problem(network_name, container_id, ifname) is not None:
            return None
        target = self.path(network_name, container_id, ifname)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IOFailure(f"cannot read cached result {target}", exc.strerror or str(exc)) from None
        return _from_wire(data, target)

    def delete(self, network_name: str, container_id: str, ifname: str) -> None:
        """Remove the attachment's file; nothing to do when there is none, or can be none (see `path`)."""
        if _name_problem(network_name, container_id, ifname) is not None:
            return
        target = self.path(network_name, container_id, ifname)
        try:
            target.unlink(missing_ok=True)
        except OSError as exc:
            raise IOFailure(f"cannot delete cached result {target}", exc.strerror or str(exc)) from None

    def entries(
        self, network_name: str | None = None, container_id: str | None = None
    ) -> list[CachedAttachment]:
        """Every readable cached attachment, optionally of one network or one container.

        Files that are not ours to read (another kind, damaged, being written) are skipped, as libcni does.
        """
        try:
            files = sorted(self.results_dir.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise IOFailure(f"cannot list cached results in {self.results_dir}", str(exc)) from None
        found = []
        for file in files:
            if file.name.startswith("."):
                continue
            try:
                entry = _from_wire(file.read_bytes(), file)
            except (OSError, CNIError) as exc:
                log.debug("skipping cache file %s: %s", file, exc)
                continue
            if network_name in (None, entry.network_name) and container_id in (None, entry.container_id):
                found.append(entry)
        return found


def _name_problem(network_name: str, container_id: str, ifname: str) -> CNIError | None:
    """Why the three parts cannot name a cache file: a part breaks its naming rule (which keeps the file
    inside the results folder), or together they are longer than a file name may be."""
    for error, value, field_name in (
        (InvalidConfig, network_name_error(network_name), "network name"),
        (InvalidEnvironment, container_id_error(container_id), "CNI_CONTAINERID"),
        (InvalidEnvironment, ifname_error(ifname), "CNI_IFNAME"),
    ):
        if value:
            return error(f"{field_name} {value}")
    size = len(f"{network_name}-{container_id}-{ifname}".encode())
    if size > MAX_FILE_NAME_BYTES:
        return InvalidConfig(
            f"network name {short(network_name)} ({len(network_name)} characters), CNI_CONTAINERID "
            f"({len(container_id)} characters) and CNI_IFNAME {ifname} make a result cache file name of "
            f"{size} bytes, longer than {MAX_FILE_NAME_BYTES}"
        )
    return None


def _to_wire(entry: CachedAttachment) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "kind": CACHE_KIND,
        "containerId": entry.container_id,
        "config": base64.b64encode(entry.config).decode(),
        "ifName": entry.ifname,
        "networkName": entry.network_name,
    }
    # libcni leaves these out when empty.
    if entry.netns:
        wire["netns"] = entry.netns
    if entry.cni_args:
        wire["cniArgs"] = [list(pair) for pair in entry.cni_args]
    if entry.capability_args:
        wire["capabilityArgs"] = entry.capability_args
    if entry.result is not None:
        wire["result"] = entry.result.to_dict()
    return wire


def _from_wire(data: bytes, source: Path) -> CachedAttachment:
    try:
        wire = _CacheFile.validate(load_json(data, f"cached result {source}"))
    except SchemaError as exc:
        raise DecodeFailure(f"cached result {source} is damaged: {validation.describe(exc)}") from None
    try:
        config = base64.b64decode(wire.config, validate=True)
    except binascii.Error as exc:
        raise DecodeFailure(f"cached result {source} is damaged: config: {exc}") from None
    result = None
    if wire.result is not None:
        try:
            result = parse_result(wire.result)
        except CNIError as exc:
            raise DecodeFailure(f"cached result {source} is damaged: {exc.msg}") from None
    return CachedAttachment(
        network_name=wire.network_name,
        container_id=wire.container_id,
        ifname=wire.ifname,
        config=config,
        netns=wire.netns,
        cni_args=tuple(wire.cni_args or ()),
        capability_args=wire.capability_args or {},
        result=result,
    )
