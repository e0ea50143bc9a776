"""The NAD status the handlers plan, the Events its transitions call for, and deletion protection."""

from __future__ import annotations

import copy
from typing import Any

from controller.events import Notice, notices_for
from controller.reconcile import plan_status
from controller.status import (
    Condition,
    desired_status,
    find_condition,
    status_patch,
    usage_fields,
    valid_condition,
)
from controller.usage import Usage
from controller.validation import NadVerdict

T0, T1 = "2025-01-01T00:00:00Z", "2025-01-01T00:05:00Z"
VALID_CONFIG = '{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}, {"type": "tuning"}]}'


def nad(
    config: str, *, generation: int = 1, status: dict[str, Any] | None = None, deleting: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "net", "namespace": "ns", "generation": generation}
    if deleting:
        metadata["deletionTimestamp"] = T1
    return {"metadata": metadata, "spec": {"config": config}, "status": status or {}}


def applied(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """What a merge patch of `.status` leaves on the object."""
    result = copy.deepcopy(obj)
    for key, value in patch.items():
        if value is None:
            result["status"].pop(key, None)
        else:
            result["status"][key] = value
    return result


def test_valid_condition_reasons() -> None:
    assert valid_condition(NadVerdict(plugin_types=("b",), cni_version="1.0.0")) == Condition(
        "Valid", True, "ConfigValid", "the CNI config is valid"
    )
    assert valid_condition(NadVerdict(config_on_node=True)).reason == "ConfigOnNode"
    invalid = valid_condition(NadVerdict(problems=("first", "second")))
    assert (invalid.status, invalid.reason, invalid.message) == (False, "InvalidConfig", "first; second")


def test_desired_status_of_a_valid_config() -> None:
    status = desired_status(
        verdict=NadVerdict(plugin_types=("bridge",), cni_version="1.0.0"),
        generation=4,
        blocking_usage=None,
        current={},
        now=T0,
    )
    assert status == {
        "observedGeneration": 4,
        "cniVersion": "1.0.0",
        "pluginTypes": ["bridge"],
        "plugins": "bridge",
        "conditions": [
            {
                "type": "Valid",
                "status": "True",
                "reason": "ConfigValid",
                "message": "the CNI config is valid",
                "lastTransitionTime": T0,
                "observedGeneration": 4,
            }
        ],
    }


def test_transition_time_moves_only_when_the_condition_status_changes() -> None:
    first = desired_status(verdict=NadVerdict(), generation=1, blocking_usage=None, current={}, now=T0)
    again = desired_status(verdict=NadVerdict(), generation=2, blocking_usage=None, current=first, now=T1)
    broken = desired_status(
        verdict=NadVerdict(problems=("p",)), generation=3, blocking_usage=None, current=again, now=T1
    )

    assert find_condition(again, "Valid")["lastTransitionTime"] == T0  # type: ignore[index]
    assert find_condition(broken, "Valid")["lastTransitionTime"] == T1  # type: ignore[index]


def test_blocked_deletion_condition_names_the_pods_and_how_many_more() -> None:
    status = desired_status(
        verdict=NadVerdict(),
        generation=2,
        blocking_usage=Usage(count=5, pods=("a/1", "a/2")),
        current={},
        now=T0,
    )
    blocked = find_condition(status, "DeletionBlocked")
    assert blocked is not None
    assert (blocked["status"], blocked["reason"]) == ("True", "InUse")
    assert (
        blocked["message"] == "deletion waits for 5 pod(s) that still use this network: a/1, a/2 and 3 more"
    )


def test_status_patch_touches_only_changed_config_fields_and_removes_dropped_ones() -> None:
    current = {"pluginTypes": ["macvlan"], "cniVersion": "0.3.1", "podCount": 3, "observedGeneration": 1}
    desired = {"pluginTypes": [], "observedGeneration": 1}
    assert status_patch(current, desired) == {"pluginTypes": [], "cniVersion": None}
    assert status_patch(desired, desired) == {}


def test_usage_fields() -> None:
    assert usage_fields(Usage(2, ("a/1", "a/2"))) == {"podCount": 2, "pods": ["a/1", "a/2"]}


def test_invalid_config_is_announced_once_and_again_when_the_problem_changes() -> None:
    valid = desired_status(verdict=NadVerdict(), generation=1, blocking_usage=None, current={}, now=T0)
    broken = desired_status(
        verdict=NadVerdict(problems=("p1",)), generation=2, blocking_usage=None, current=valid, now=T1
    )
    differently = desired_status(
        verdict=NadVerdict(problems=("p2",)), generation=3, blocking_usage=None, current=broken, now=T1
    )

    assert notices_for(valid, broken) == [Notice("Warning", "InvalidConfig", "p1")]
    assert notices_for(broken, broken) == []
    assert notices_for(broken, differently) == [Notice("Warning", "InvalidConfig", "p2")]
    assert notices_for(broken, valid) == []


def test_blocked_deletion_is_announced_when_it_starts() -> None:
    usage = Usage(1, ("a/1",))
    free = desired_status(verdict=NadVerdict(), generation=1, blocking_usage=None, current={}, now=T0)
    blocked = desired_status(verdict=NadVerdict(), generation=2, blocking_usage=usage, current=free, now=T1)

    (notice,) = notices_for(free, blocked)
    assert (notice.type, notice.reason) == ("Warning", "DeletionBlocked")
    assert "a/1" in notice.message
    assert notices_for(blocked, blocked) == []


def test_plan_for_a_new_valid_nad_then_nothing_more() -> None:
    fresh = nad(VALID_CONFIG)
    plan = plan_status(fresh, [], listed_pods=10, protection=True, now=T0)

    assert plan.patch["pluginTypes"] == ["bridge", "tuning"]
    assert plan.patch["plugins"] == "bridge,tuning"
    assert plan.notices == ()
    assert plan.blocked_deletion is None
    assert plan_status(applied(fresh, plan.patch), [], listed_pods=10, protection=True, now=T1).patch == {}


def test_plan_for_an_invalid_nad_announces_it() -> None:
    plan = plan_status(nad('{"cniVersion": "1.0.0"}'), [], listed_pods=10, protection=True, now=T0)

    (notice,) = plan.notices
    assert notice.reason == "InvalidConfig"
    assert "has neither 'type'" in notice.message
    assert plan.patch["conditions"][0]["status"] == "False"


def test_deletion_waits_for_users_only_with_protection() -> None:
    deleting = nad(VALID_CONFIG, deleting=True)

    blocked = plan_status(deleting, ["ns/p1", "ns/p2"], listed_pods=1, protection=True, now=T0)
    assert (
        blocked.blocked_deletion
        == "deletion waits for 2 pod(s) that still use this network: ns/p1 and 1 more"
    )
    assert [notice.reason for notice in blocked.notices] == ["DeletionBlocked"]

    assert plan_status(deleting, ["ns/p1"], listed_pods=10, protection=False, now=T0).blocked_deletion is None
    assert plan_status(deleting, [], listed_pods=10, protection=True, now=T0).blocked_deletion is None
    # Users of a NAD that is not being deleted block nothing.
    assert (
        plan_status(nad(VALID_CONFIG), ["ns/p1"], listed_pods=10, protection=True, now=T0).blocked_deletion
        is None
    )
