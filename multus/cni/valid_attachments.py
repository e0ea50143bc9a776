"""GC's list of valid attachments, as the runtime sends it under `cni.dev/valid-attachments`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from multus.cni.errors import InvalidEnvironment
from multus.cni.names import container_id_error, ifname_error
from multus.cni.validation import short

VALID_ATTACHMENTS_KEY = "cni.dev/valid-attachments"
# The key's name in a 1.1.0 draft; libcni sends both, and so do we.
LEGACY_ATTACHMENTS_KEY = "cni.dev/attachments"


def parse_valid_attachments(stdin_config: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """The (container ID, interface name) pairs of a GC request's valid list (either key name).

    Every element must be an object with a valid `containerID` and `ifname`: one that is not must stop
    the GC, since reading it as "not valid" would delete a live container's networks.
    """
    key = VALID_ATTACHMENTS_KEY if VALID_ATTACHMENTS_KEY in stdin_config else LEGACY_ATTACHMENTS_KEY
    listed = stdin_config.get(key)
    if not isinstance(listed, list):
        # Without the list everything would look stale: refuse rather than delete every pod's networks.
        raise InvalidEnvironment(f"GC: {VALID_ATTACHMENTS_KEY} must be a list of attachments")
    pairs: set[tuple[str, str]] = set()
    for index, item in enumerate(listed):
        where = f"GC: {key}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidEnvironment(
                f"{where} must be an object with containerID and ifname, not {short(item)}"
            )
        pairs.add(
            (
                _valid_string(item.get("containerID"), container_id_error, f"{where}.containerID"),
                _valid_string(item.get("ifname"), ifname_error, f"{where}.ifname"),
            )
        )
    return frozenset(pairs)


def _valid_string(value: object, rule: Callable[[str], str | None], where: str) -> str:
    problem = rule(value) if isinstance(value, str) else f"must be a string, not {short(value)}"
    if problem:
        raise InvalidEnvironment(f"{where} {problem}")
    assert isinstance(value, str)
    return value
