"""Device information (NPWG device-info spec 1.1.0): what a network-status entry says about the device
behind an attachment, and what device plugins write in their device-info files.

JSON keys are the field names in kebab case (`pci-address`, `vhost-user`); empty fields are omitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar

from multus.cni.errors import DecodeFailure
from multus.cni.schema import Field, Record, SchemaError, nested, nullable, string
from multus.k8s.json_boundary import describe_validation_error, short

DEVICE_INFO_VERSION = "1.1.0"
DEVICE_TYPES = ("pci", "vdpa", "vhost-user", "memif")

# domain:bus:device.function; domains wider than 4 hex digits exist (Intel VMD uses 5).
_PCI_ADDRESS = re.compile(r"[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]")


@dataclass(frozen=True)
class PciDevice:
    pci_address: str | None = None
    vhost_net: str | None = None
    rdma_device: str | None = None
    pf_pci_address: str | None = None
    representor_device: str | None = None


@dataclass(frozen=True)
class VdpaDevice:
    parent_device: str | None = None
    driver: str | None = None
    path: str | None = None
    pci_address: str | None = None
    pf_pci_address: str | None = None
    representor_device: str | None = None


@dataclass(frozen=True)
class VhostUserDevice:
    mode: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class MemifDevice:
    role: str | None = None
    path: str | None = None
    mode: str | None = None


@dataclass(frozen=True)
class DeviceInfo:
    type: str | None = None
    version: str | None = DEVICE_INFO_VERSION
    pci: PciDevice | None = None
    vdpa: VdpaDevice | None = None
    vhost_user: VhostUserDevice | None = None
    memif: MemifDevice | None = None

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)


def _to_json(value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for spec in fields(value):
        member = getattr(value, spec.name)
        if member is None or member == "":
            continue
        body[_json_key(spec.name)] = _to_json(member) if is_dataclass(member) else member
    return body


def _json_key(field_name: str) -> str:
    return field_name.replace("_", "-")


def is_pci_address(device_id: str) -> bool:
    return _PCI_ADDRESS.fullmatch(device_id) is not None


def device_info_for(device_id: str) -> DeviceInfo | None:
    """Device info for an allocated device ID: a PCI device when the ID is a PCI address, else unknown."""
    if not is_pci_address(device_id):
        return None
    return DeviceInfo(type="pci", pci=PciDevice(pci_address=device_id.lower()))


_text = nullable(string)


class _PciJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "pci_address": Field(_text, None, alias="pci-address"),
        "vhost_net": Field(_text, None, alias="vhost-net"),
        "rdma_device": Field(_text, None, alias="rdma-device"),
        "pf_pci_address": Field(_text, None, alias="pf-pci-address"),
        "representor_device": Field(_text, None, alias="representor-device"),
    }


class _VdpaJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "parent_device": Field(_text, None, alias="parent-device"),
        "driver": Field(_text, None),
        "path": Field(_text, None),
        "pci_address": Field(_text, None, alias="pci-address"),
        "pf_pci_address": Field(_text, None, alias="pf-pci-address"),
        "representor_device": Field(_text, None, alias="representor-device"),
    }


class _VhostUserJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {"mode": Field(_text, None), "path": Field(_text, None)}


class _MemifJSON(Record):
    FIELDS: ClassVar[dict[str, Field]] = {
        "role": Field(_text, None),
        "path": Field(_text, None),
        "mode": Field(_text, None),
    }


class DeviceInfoJSON(Record):
    """The wire form, for records that embed device info (network-status entries)."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "type": Field(_text, None),
        "version": Field(_text, None),
        "pci": Field(nullable(nested(_PciJSON)), None),
        "vdpa": Field(nullable(nested(_VdpaJSON)), None),
        "vhost_user": Field(nullable(nested(_VhostUserJSON)), None, alias="vhost-user"),
        "memif": Field(nullable(nested(_MemifJSON)), None),
    }

    type: str | None
    version: str | None
    pci: _PciJSON | None
    vdpa: _VdpaJSON | None
    vhost_user: _VhostUserJSON | None
    memif: _MemifJSON | None

    def to_device_info(self) -> DeviceInfo:
        return DeviceInfo(
            type=self.type,
            version=self.version,
            pci=PciDevice(**self.pci.dump()) if self.pci else None,
            vdpa=VdpaDevice(**self.vdpa.dump()) if self.vdpa else None,
            vhost_user=VhostUserDevice(**self.vhost_user.dump()) if self.vhost_user else None,
            memif=MemifDevice(**self.memif.dump()) if self.memif else None,
        )


def parse_device_info(obj: object) -> DeviceInfo:
    """A decoded device-info document (a device plugin's file); unknown keys are ignored."""
    if not isinstance(obj, dict):
        raise DecodeFailure(f"device-info must be a JSON object, not {short(obj)}")
    try:
        return DeviceInfoJSON.validate(obj).to_device_info()
    except SchemaError as exc:
        raise DecodeFailure(f"device-info: {describe_validation_error(exc)}") from None
