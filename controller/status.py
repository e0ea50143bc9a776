"""The `status` the controller keeps on each NetworkAttachmentDefinition, and the patch that gets it there.

    status:
      observedGeneration: 3          # the metadata.generation the status describes
      conditions:
        - type: Valid                # True / False, reason ConfigValid, ConfigOnNode or InvalidConfig
        - type: DeletionBlocked      # only while a deletion waits for pods (reason InUse)
      pluginTypes: [bridge, tuning]
      plugins: bridge,tuning         # the same joined, for kubectl's PLUGINS column
      cniVersion: 1.0.0              # the version the nodes will run the config at
      podCount: 2
      pods: [ns/a, ns/b]             # the first few users by name

Conditions follow the Kubernetes convention: `lastTransitionTime` changes only when `status` does.
Nothing on the node side reads this: the status is for people, `kubectl get` and other controllers.

Two writers share it: the NAD's handlers own the config fields (through kopf's patch), and
`controller.usage_writer` owns `podCount` and `pods`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.usage import Usage
from controller.validation import NadVerdict

VALID = "Valid"
DELETION_BLOCKED = "DeletionBlocked"

REASON_CONFIG_VALID = "ConfigValid"
REASON_CONFIG_ON_NODE = "ConfigOnNode"
REASON_INVALID_CONFIG = "InvalidConfig"
REASON_IN_USE = "InUse"

# The status fields the NAD handlers own; a field they no longer want is removed with a null.
CONFIG_FIELDS = ("observedGeneration", "conditions", "pluginTypes", "plugins", "cniVersion")


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def valid_condition(verdict: NadVerdict) -> Condition:
    if verdict.problems:
        return Condition(VALID, False, REASON_INVALID_CONFIG, "; ".join(verdict.problems))
    if verdict.config_on_node:
        return Condition(
            VALID,
            True,
            REASON_CONFIG_ON_NODE,
            "spec.config is empty: each node uses the CNI config file in its confDir whose name is this "
            "NAD's name; the controller cannot check it",
        )
    return Condition(VALID, True, REASON_CONFIG_VALID, "the CNI config is valid")


def deletion_blocked_condition(usage: Usage) -> Condition:
    listed = ", ".join(usage.pods)
    more = f" and {usage.count - len(usage.pods)} more" if usage.count > len(usage.pods) else ""
    return Condition(
        DELETION_BLOCKED,
        True,
        REASON_IN_USE,
        f"deletion waits for {usage.count} pod(s) that still use this network: {listed}{more}",
    )


def desired_status(
    *,
    verdict: NadVerdict,
    generation: int | None,
    blocking_usage: Usage | None,
    current: Mapping[str, Any],
    now: str,
) -> dict[str, Any]:
    """The config fields the NAD should carry; `blocking_usage` is the usage a deletion waits for, if any.

    `current` supplies the transition times of conditions that keep their status.
    """
    conditions = [valid_condition(verdict)]
    if blocking_usage is not None:
        conditions.append(deletion_blocked_condition(blocking_usage))
    status: dict[str, Any] = {
        "conditions": [_render(condition, generation, current, now) for condition in conditions],
        "pluginTypes": list(verdict.plugin_types),
        # A printer column shows an array as JSON; people read `macvlan,tuning`.
        "plugins": ",".join(verdict.plugin_types),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    if verdict.cni_version is not None:
        status["cniVersion"] = verdict.cni_version
    return status


def usage_fields(usage: Usage) -> dict[str, Any]:
    """The status fields that follow the pods alone."""
    return {"podCount": usage.count, "pods": list(usage.pods)}


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch turning `current` into `desired` for the config fields; empty when nothing changes."""
    patch: dict[str, Any] = {}
    for field in CONFIG_FIELDS:
        if field in desired:
            if current.get(field) != desired[field]:
                patch[field] = desired[field]
        elif current.get(field) is not None:
            patch[field] = None
    return patch


def find_condition(status: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return None
    for condition in conditions:
        if isinstance(condition, Mapping) and condition.get("type") == condition_type:
            return condition
    return None


def _render(
    condition: Condition, generation: int | None, current: Mapping[str, Any], now: str
) -> dict[str, Any]:
    status = "True" if condition.status else "False"
    previous = find_condition(current, condition.type)
    transitioned = previous is None or previous.get("status") != status
    rendered: dict[str, Any] = {
        "type": condition.type,
        "status": status,
        "reason": condition.reason,
        "message": condition.message,
        "lastTransitionTime": now
        if previous is None or transitioned
        else previous.get("lastTransitionTime", now),
    }
    if generation is not None:
        rendered["observedGeneration"] = generation
    return rendered
