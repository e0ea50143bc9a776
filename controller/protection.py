"""Deletion protection: a NAD that pods still use is not deleted until they are gone.

Kopf holds a finalizer of ours on every NAD while the deletion handler is registered; the handler keeps
failing (and kopf keeps retrying) while pods use the NAD, so the API server cannot remove the object.
Turning protection off unregisters the handler, and kopf then releases the finalizers it holds.
"""

from __future__ import annotations

from controller.usage import Usage

FINALIZER = "controller.multus-py.io/deletion-protection"


def blocks_deletion(usage: Usage, *, deleting: bool, enabled: bool) -> bool:
    """Whether a deletion in progress must wait: only with protection on and pods still attached."""
    return enabled and deleting and usage.count > 0
