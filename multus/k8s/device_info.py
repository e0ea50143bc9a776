"""Device information (NPWG device-info spec 1.1.0): what a network-status entry says about the device
behind an attachment, and what device plugins write in their device-info files.

JSON keys are the field names in kebab case (`pci-address`, `vhost-user`); empty fields are omitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from multus.cni.errors import DecodeFailure
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


class _KebabModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", alias_generator=_json_key, defer_build=True)


class _PciJSON(_KebabModel):
    pci_address: str | None = None
    vhost_net: str | None = None
    rdma_device: str | None = None
    pf_pci_address: str | None = None
    representor_device: str | None = None


class _VdpaJSON(_KebabModel):
    parent_device: str | None = None
    driver: str | None = None
    path: str | None = None
    pci_address: str | None = None
    pf_pci_address: str | None = None
    representor_device: str | None = None


class _VhostUserJSON(_KebabModel):
    mode: str | None = None
    path: str | None = None


class _MemifJSON(_KebabModel):
    role: str | None = None
    path: str | None = None
    mode: str | None = None


class DeviceInfoJSON(_KebabModel):
    """The wire form, for models that embed device info (network-status entries)."""

    type: str | None = None
    version: str | None = None
    pci: _PciJSON | None = None
    vdpa: _VdpaJSON | None = None
    vhost_user: _VhostUserJSON | None = None
    memif: _MemifJSON | None = None

    def to_device_info(self) -> DeviceInfo:
        return DeviceInfo(
            type=self.type,
            version=self.version,
            pci=PciDevice(**self.pci.model_dump()) if self.pci else None,
            vdpa=VdpaDevice(**self.vdpa.model_dump()) if self.vdpa else None,
            vhost_user=VhostUserDevice(**self.vhost_user.model_dump()) if self.vhost_user else None,
            memif=MemifDevice(**self.memif.model_dump()) if self.memif else None,
        )


def parse_device_info(obj: object) -> DeviceInfo:
    """A decoded device-info document (a device plugin's file); unknown keys are ignored."""
    if not isinstance(obj, dict):
        raise DecodeFailure(f"device-info must be a JSON object, not {short(obj)}")
    try:
        return DeviceInfoJSON.model_validate(obj).to_device_info()
    except ValidationError as exc:
        raise DecodeFailure(f"device-info: {describe_validation_error(exc)}") from None
