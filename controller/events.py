"""Which Kubernetes Events a status change deserves.

Events mark transitions, not states, so that a periodic refresh or a controller restart does not repeat
them: an `InvalidConfig` warning when a NAD becomes invalid or its problem changes, a `DeletionBlocked`
warning when a deletion starts waiting for pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from controller.status import DELETION_BLOCKED, VALID, find_condition

INVALID_CONFIG = "InvalidConfig"
DELETION_BLOCKED_EVENT = "DeletionBlocked"


@dataclass(frozen=True)
class Notice:
    """One Event to record on the NAD."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def notices_for(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[Notice]:
    """The Events that going from status `current` to status `desired` calls for."""
    notices = []
    was_valid, will_be_valid = find_condition(current, VALID), find_condition(desired, VALID)
    if will_be_valid is not None and will_be_valid.get("status") == "False":
        same_problem = was_valid is not None and (was_valid.get("status"), was_valid.get("message")) == (
            "False",
            will_be_valid.get("message"),
        )
        if not same_problem:
            notices.append(Notice("Warning", INVALID_CONFIG, str(will_be_valid.get("message"))))
    blocked = find_condition(desired, DELETION_BLOCKED)
    if blocked is not None and find_condition(current, DELETION_BLOCKED) is None:
        notices.append(Notice("Warning", DELETION_BLOCKED_EVENT, str(blocked.get("message"))))
    return notices
