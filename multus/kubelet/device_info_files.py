"""The device-info files device plugins write beside the kubelet (NPWG device-info spec): one per device
they allocate, saying what the device is (a PCI function, a vDPA or vhost-user device...) beyond its ID.
"""

from __future__ import annotations

from pathlib import Path

from multus.cni.errors import CNIError
from multus.cni.jsontext import load_json
from multus.k8s.device_info import DeviceInfo, parse_device_info
from multus.logs import fields, get_logger

log = get_logger("devices")

DEVICE_PLUGIN_INFO_DIR = Path("/var/run/k8s.cni.cncf.io/devinfo/dp")


def device_info_path(resource: str, device_id: str, folder: Path = DEVICE_PLUGIN_INFO_DIR) -> Path:
    """The spec's name of a device plugin's file: `<resource>-<device ID>-device.json`, `/` as `-`."""
    return folder / f"{resource.replace('/', '-')}-{device_id.replace('/', '-')}-device.json"


def read_device_info(
    resource: str, device_id: str, folder: Path = DEVICE_PLUGIN_INFO_DIR
) -> DeviceInfo | None:
    """What the device plugin of `resource` wrote for the device; None when it wrote no file, or one that
    cannot be read (logged)."""
    path = device_info_path(resource, device_id, folder)
    try:
        return parse_device_info(load_json(path.read_bytes(), f"device-info file {path}"))
    except FileNotFoundError:
        return None
    except (OSError, CNIError) as error:
        log.warning(
            "a device plugin's device-info file is ignored", extra=fields(file=str(path), error=str(error))
        )
        return None
