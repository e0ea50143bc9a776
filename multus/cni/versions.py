"""CNI spec versions: parsing, ordering, choosing one, and the VERSION reply.

Version strings come from configs and plugins we do not control, so parsing never raises anything but
a `CNIError`: `InvalidConfig` for a string that is not a version at all, `IncompatibleVersion` for a
well-formed version this implementation cannot speak.
"""

from __future__ import annotations

import re

from multus.cni.errors import DecodeFailure, IncompatibleVersion, InvalidConfig
from multus.cni.jsontext import MalformedJSON, decode_json, load_json

TYPE_CHECKING = False  # without importing typing: see multus.cni.errors
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
# A config without cniVersion predates the field: plugins read it as 0.1.0.
IMPLICIT_VERSION = "0.1.0"
# CHECK and the cached prevResult on DEL arrived in 0.4.0; GC and STATUS in 1.1.0.
CHECK_SINCE = "0.4.0"
PREV_RESULT_ON_DEL_SINCE = "0.4.0"
GC_SINCE = "1.1.0"
STATUS_SINCE = "1.1.0"

# ASCII digits only (int() would take other scripts' digits), no leading zeros, bounded length so a
# hostile string cannot make int() work hard.
_VERSION = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")

Version = tuple[int, int, int]


def check_version(text: object, field: str = "cniVersion") -> str:
    """`text` when it is a `MAJOR.MINOR.PATCH` string; InvalidConfig naming `field` otherwise."""
    if not isinstance(text, str):
        raise InvalidConfig(f"{field} must be a string, not {type(text).__name__}")
    if _VERSION.fullmatch(text) is None:
        raise InvalidConfig(f"{field} {text[:64]!r} is not a version (expected MAJOR.MINOR.PATCH)")
    return text


def parse_version(text: object, field: str = "cniVersion") -> Version:
    """The (major, minor, patch) of a version string, for ordering."""
    major, minor, patch = (int(part) for part in check_version(text, field).split("."))
    return major, minor, patch


def is_supported(version: str) -> bool:
    return version in SUPPORTED_VERSIONS


def require_supported(version: object, field: str = "cniVersion") -> str:
    """`version` itself when this implementation speaks it; a CNIError naming `field` otherwise."""
    version = check_version(version, field)
    if not is_supported(version):
        raise IncompatibleVersion(
            f"{field} {version!r} is not supported", f"supported versions: {', '.join(SUPPORTED_VERSIONS)}"
        )
    return version


def at_least(version: str, minimum: str) -> bool:
    return parse_version(version) >= parse_version(minimum, "minimum version")


def pick_version(
    cni_version: object, cni_versions: object = None, supported: Iterable[str] = SUPPORTED_VERSIONS
) -> str:
    """The highest version among `cniVersion` and `cniVersions` that is also in `supported`.

    Like libcni, a version we cannot use (a newer spec's, say) is passed over rather than refused, so a
    config written for a future spec still runs at the best version both sides know; IncompatibleVersion
    only when none is left. Malformed entries are InvalidConfig.
    """
    candidates: list[str] = []
    if cni_version is not None:
        candidates.append(check_version(cni_version))
    if cni_versions is not None:
        if not isinstance(cni_versions, list):
            raise InvalidConfig(f"cniVersions must be a list of strings, not {type(cni_versions).__name__}")
        candidates += [
            check_version(entry, f"cniVersions[{index}]") for index, entry in enumerate(cni_versions)
        ]
    if not candidates:
        return IMPLICIT_VERSION
    usable = set(supported) & set(SUPPORTED_VERSIONS)
    chosen = [version for version in candidates if version in usable]
    if not chosen:
        raise IncompatibleVersion(
            f"none of the configured versions {', '.join(candidates)} is supported",
            f"supported versions: {', '.join(sorted(usable, key=parse_version)) or 'none'}",
        )
    return max(chosen, key=parse_version)


class VersionInfo:
    """What a plugin answers to VERSION: the version it replied in and every version it supports.

    A plain class: importing dataclasses would cost the `multus` executable's VERSION milliseconds."""

    __slots__ = ("cni_version", "supported_versions")

    def __init__(self, cni_version: str, supported_versions: tuple[str, ...]) -> None:
        self.cni_version = cni_version
        self.supported_versions = supported_versions

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionInfo):
            return NotImplemented
        return (self.cni_version, self.supported_versions) == (other.cni_version, other.supported_versions)

    def __hash__(self) -> int:
        return hash((self.cni_version, self.supported_versions))

    def __repr__(self) -> str:
        return f"VersionInfo({self.cni_version!r}, {self.supported_versions!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"cniVersion": self.cni_version, "supportedVersions": list(self.supported_versions)}

    @classmethod
    def from_plugin_output(cls, stdout: bytes) -> VersionInfo:
        """Decode a VERSION reply; plugins of spec 0.2.0 may omit `supportedVersions`."""
        data = load_json(stdout, "VERSION reply")
        if not isinstance(data, dict):
            raise DecodeFailure("VERSION reply must be a JSON object")
        try:
            cni_version = check_version(data.get("cniVersion"), "VERSION reply cniVersion")
        except InvalidConfig as exc:
            raise DecodeFailure(exc.msg) from None
        supported = data.get("supportedVersions")
        if supported is None:
            if cni_version != "0.2.0":
                raise DecodeFailure("VERSION reply has no supportedVersions")
            return cls(cni_version, ("0.1.0", "0.2.0"))
        if not isinstance(supported, list) or not all(isinstance(entry, str) for entry in supported):
            raise DecodeFailure("VERSION reply supportedVersions must be a list of strings")
        return cls(cni_version, tuple(supported))


def version_reply(requested: object = None) -> VersionInfo:
    """Our own answer to VERSION: in the requested version when we speak it, else in the latest."""
    reply_in = requested if isinstance(requested, str) and is_supported(requested) else LATEST_VERSION
    return VersionInfo(reply_in, SUPPORTED_VERSIONS)


def reply_version(stdin: bytes) -> str:
    """The version to answer in, errors included: the config's when it has a readable one, even if
    the rest of the config is bad."""
    try:
        version = decode_json(stdin).get("cniVersion")
    except (MalformedJSON, AttributeError):
        return LATEST_VERSION
    return version if isinstance(version, str) and version else LATEST_VERSION
