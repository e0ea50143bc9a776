"""The kopf handlers: each one reads what kopf hands it, asks a decision function, applies the answer.

Status is written through kopf's `patch` (never through handler return values, which kopf would store
under `status.<handler id>` for every handler), and Events through `kopf.event`.

| handler                         | when                                   | decision              |
| ------------------------------- | -------------------------------------- | --------------------- |
| `login`                         | start-up                               | kopf's client login   |
| `pods_by_network` (index)       | every pod event                        | usage.networks_in_use |
| `status_on_create`/`_update`    | NAD created or changed                 | reconcile.plan_status |
| `status_refresh` (timer)        | every `--status-interval` seconds      | reconcile.plan_status |
| `deletion_protection`           | NAD deleted (with protection on)       | reconcile.plan_status |
| `validate-nad` (webhook)        | NAD CREATE/UPDATE                      | validation            |
| `validate-pod-networks` (hook)  | pod CREATE (with pod validation on)    | pod_admission         |
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import kopf

from controller.pod_admission import NetworkFetcher, PodVerdict, review_pod
from controller.reconcile import StatusPlan, plan_status
from controller.settings import PodValidation, Settings
from controller.usage import NetworkKey, PodReference, networks_in_use
from controller.validation import admission_problems
from controller.webhook_configuration import NAD_WEBHOOK_ID, POD_WEBHOOK_ID

NAD = ("k8s.cni.cncf.io", "v1", "network-attachment-definitions")
POD = ("", "v1", "pods")
# The HTTP code kopf puts in a refusal: the object is well-formed but its content is not acceptable.
UNPROCESSABLE = 422

USAGE_INDEX = "pods_by_network"
UsageIndex = kopf.Index[NetworkKey, PodReference]


def register_handlers(
    registry: kopf.OperatorRegistry, settings: Settings, fetch_network: NetworkFetcher
) -> None:
    """Register every handler `settings` calls for; `fetch_network` reads a NAD for the pod webhook."""

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.index(*POD, id=USAGE_INDEX, registry=registry)
    def pods_by_network(body: kopf.Body, **_: Any) -> dict[NetworkKey, PodReference]:
        return networks_in_use(body)

    def apply_plan(body: kopf.Body, patch: kopf.Patch, handler_kwargs: dict[str, Any]) -> StatusPlan:
        # kopf hands each index to handlers as a keyword argument named by the index's id.
        usage: UsageIndex = handler_kwargs[USAGE_INDEX]
        key = (body.metadata.namespace or "", body.metadata.name or "")
        plan = plan_status(
            body,
            usage.get(key, ()),
            listed_pods=settings.listed_pods,
            protection=settings.deletion_protection,
            now=_now(),
        )
        patch.status.update(plan.patch)
        for notice in plan.notices:
            kopf.event(body, type=notice.type, reason=notice.reason, message=notice.message)
        return plan

    @kopf.on.create(*NAD, id="status_on_create", registry=registry)
    @kopf.on.update(*NAD, id="status_on_update", registry=registry)
    def status_on_change(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
        apply_plan(body, patch, kwargs)

    @kopf.timer(*NAD, id="status_refresh", interval=settings.status_interval, registry=registry)
    def status_refresh(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
        apply_plan(body, patch, kwargs)

    if settings.deletion_protection:

        @kopf.on.delete(*NAD, id="deletion_protection", registry=registry)
        def deletion_protection(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
            plan = apply_plan(body, patch, kwargs)
            if plan.blocked_deletion is not None:
                raise kopf.TemporaryError(plan.blocked_deletion, delay=settings.status_interval)

    @kopf.on.validate(*NAD, id=NAD_WEBHOOK_ID, operations=["CREATE", "UPDATE"], registry=registry)
    def validate_nad(body: kopf.Body, **kwargs: Any) -> None:
        problems = admission_problems(body, kwargs.get("old"))
        if problems:
            raise kopf.AdmissionError("; ".join(problems), code=UNPROCESSABLE)

    if settings.pod_validation is not PodValidation.OFF:

        @kopf.on.validate(*POD, id=POD_WEBHOOK_ID, operations=["CREATE"], registry=registry)
        async def validate_pod_networks(body: kopf.Body, warnings: list[str], **_: Any) -> None:
            verdict = await _review_pod_guarded(body, fetch_network, settings)
            warnings.extend(verdict.warnings)
            if not verdict.allowed:
                raise kopf.AdmissionError("; ".join(verdict.problems), code=UNPROCESSABLE)


async def _review_pod_guarded(
    body: kopf.Body, fetch_network: NetworkFetcher, settings: Settings
) -> PodVerdict:
    """`review_pod`, with the failure policy deciding when the review itself cannot finish."""
    try:
        return await review_pod(body, fetch_network, settings.policy)
    except Exception as error:  # any failure, even a bug of ours, goes to the failure policy
        reason = f"the pod's networks could not be checked: {error}"
        logging.getLogger(__name__).warning(reason)
        if settings.pod_fail_open:
            return PodVerdict(warnings=(f"admitted unchecked: {reason}",))
        return PodVerdict(problems=(reason,))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
