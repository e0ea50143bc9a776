"""Deletion protection: a NAD that pods still use is not deleted until they are gone.

Kopf holds a finalizer of ours on a NAD while its `status.podCount` says pods use it: kopf adds and
removes its finalizer as the deletion handler's filter starts or stops matching, on each NAD event, and
the usage writer's status patches are such events. The handler keeps failing (and kopf keeps retrying)
while pods use the NAD, so the API server cannot remove the object. An unused NAD carries no finalizer,
so it is deleted at once even with every replica of the controller down; a NAD in use waits for a
replica to come back (or for `multus-controller uninstall`). A NAD deleted in the moment between a
pod's first attachment and the usage write goes at once, as without protection.
Turning protection off unregisters the handler, and kopf then releases the finalizers it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.usage import Usage

FINALIZER = "controller.multus-py.io/deletion-protection"


def blocks_deletion(usage: Usage, *, deleting: bool, enabled: bool) -> bool:
    """Whether a deletion in progress must wait: only with protection on and pods still attached."""
    return enabled and deleting and usage.count > 0


def protection_needed(status: Mapping[str, Any]) -> bool:
    """Whether a NAD with `status` needs the finalizer: its usage, as last written, counts pods."""
    count = status.get("podCount")
    return isinstance(count, int) and count > 0
