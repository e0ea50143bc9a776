"""What to do for one NAD right now: the status patch, the Events, and whether its deletion must wait.

This is the one decision every NAD handler (resume, creation, change, deletion) makes; the handlers
only apply the plan. The usage fields are not part of it: `controller.usage_writer` writes those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.events import Notice, notices_for
from controller.protection import blocks_deletion
from controller.status import deletion_blocked_condition, desired_status, status_patch
from controller.usage import PodReference, summarise
from controller.validation import judge_nad


@dataclass(frozen=True)
class StatusPlan:
    # A merge patch for the config fields of `.status`; empty when they are already right.
    patch: dict[str, Any] = field(default_factory=dict)
    notices: tuple[Notice, ...] = ()
    # Why the deletion in progress must wait; None when it may go ahead (or nothing is being deleted).
    blocked_deletion: str | None = None


def plan_status(
    nad: Mapping[str, Any],
    users: Iterable[PodReference],
    *,
    listed_pods: int,
    protection: bool,
    now: str,
) -> StatusPlan:
    """Plan for NAD `nad` (the API object) used by pods `users`; `now` stamps condition transitions."""
    metadata = nad.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    current = nad.get("status")
    current = current if isinstance(current, Mapping) else {}
    generation = metadata.get("generation")
    usage = summarise(users, listed_pods)
    blocked = blocks_deletion(
        usage, deleting=metadata.get("deletionTimestamp") is not None, enabled=protection
    )
    desired = desired_status(
        verdict=judge_nad(nad),
        generation=generation if isinstance(generation, int) else None,
        blocking_usage=usage if blocked else None,
        current=current,
        now=now,
    )
    return StatusPlan(
        patch=status_patch(current, desired),
        notices=tuple(notices_for(current, desired)),
        blocked_deletion=deletion_blocked_condition(usage).message if blocked else None,
    )
