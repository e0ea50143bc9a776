"""The kopf handlers: each one reads what kopf hands it, asks a decision function, applies the answer.

Status is written through kopf's `patch` (never through handler return values, which kopf would store
under `status.<handler id>` for every handler), and Events through `kopf.event`.

| handler                          | runs on                                  | decides with            |
| -------------------------------- | ---------------------------------------- | ----------------------- |
| `login`                          | start-up, and a 401 from the API server  | login.connection_info   |
| `watch_pods`                     | start-up                                 | (starts `PodUsage`)     |
| `close_api`                      | shutdown                                 | (stops both)           |
| `status_on_resume/create/update` | controller start, NAD created or changed | reconcile.plan_status   |
| `forget_deleted_nad`             | every NAD event                          | (the writer's memory)   |
| `deletion_protection`            | NAD deleted (with protection on)         | reconcile.plan_status   |
| `validate-nad` (webhook)         | NAD CREATE/UPDATE                        | validation              |
| `validate-pod-networks` (hook)   | pod CREATE/UPDATE (pod validation on)    | pod_admission           |

Pods are not kopf's: `PodUsage` (controller.pod_usage, which says why) lists and watches them, and
writes the usage of the NADs each pod event changes. Both it and the NAD handlers refresh a NAD's usage
through one `UsageWriter` (see there why); the NAD handlers wait until every pod has been listed.
Besides kopf's own client, the controller calls the API through one `ApiView` (`multus.kube`): kopf
logs in with its credentials, usage is written and NADs are read through it.
No handler needs a finalizer except `deletion_protection`, and that one only on NADs in use, so with
protection off kopf holds none (and releases the ones it held), and unused NADs stay deletable when
the controller is gone.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

import kopf

from controller.login import connection_info
from controller.pod_admission import networks_changed, review_pod_under_failure_policy
from controller.pod_usage import PodUsage
from controller.protection import protection_needed
from controller.reconcile import StatusPlan, plan_status
from controller.settings import PodValidation, Settings
from controller.usage_writer import UsageWriter
from controller.validation import admission_problems
from controller.webhook_configuration import NAD_WEBHOOK_ID, POD_WEBHOOK_ID
from multus.k8s.constants import NAD_GROUP, NAD_PLURAL, NAD_VERSION
from multus.kube.apiview import ApiView

NAD = (NAD_GROUP, NAD_VERSION, NAD_PLURAL)
POD = ("", "v1", "pods")  # for the pod webhook
# The HTTP code kopf puts in a refusal: the object is well-formed but its content is not acceptable.
UNPROCESSABLE = 422
DELETION_HANDLER_ID = "deletion_protection"
logger = logging.getLogger(__name__)


def register_handlers(registry: kopf.OperatorRegistry, settings: Settings, api: ApiView) -> PodUsage:
    """Register every handler `settings` calls for; `api` gives kopf its login, writes usage, reads NADs.

    Returns the pods' usage index, for the caller to tell which replica is active (controller.runner).
    """
    usage_writer = UsageWriter(api.client, settings.listed_pods)
    pods = PodUsage(lambda: api.client, usage_writer.write, usage_writer.forget, active=settings.standalone)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        api.reload_if_changed()  # a kubeconfig or token rewritten since
        return connection_info(api.client.credentials)

    @kopf.on.startup(registry=registry)
    async def watch_pods(**_: Any) -> None:
        pods.start()

    @kopf.on.cleanup(registry=registry)
    async def close_api(**_: Any) -> None:
        await pods.stop()
        await api.close()

    @kopf.on.event(*NAD, id="forget_deleted_nad", registry=registry)
    async def forget_deleted_nad(type: str | None, body: kopf.Body, **_: Any) -> None:
        # async: kopf runs a plain function in a thread, and this one runs on every NAD event.
        if type == "DELETED":
            usage_writer.forget((body.metadata.namespace or "", body.metadata.name or ""))

    async def apply_plan(body: kopf.Body, patch: kopf.Patch) -> StatusPlan:
        await pods.synced.wait()  # a count from a partial listing would be wrong
        key = (body.metadata.namespace or "", body.metadata.name or "")
        await usage_writer.write(key, pods.index, known_status=body.status)
        plan = plan_status(
            body,
            pods.index.get(key, ()),
            listed_pods=settings.listed_pods,
            protection=settings.deletion_protection,
            now=_now(),
        )
        patch.status.update(plan.patch)
        for notice in plan.notices:
            kopf.event(body, type=notice.type, reason=notice.reason, message=notice.message)
        return plan

    @kopf.on.resume(*NAD, id="status_on_resume", registry=registry)
    @kopf.on.create(*NAD, id="status_on_create", registry=registry)
    @kopf.on.update(*NAD, id="status_on_update", registry=registry)
    async def status_on_change(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        await apply_plan(body, patch)

    if settings.deletion_protection:
        # kopf holds its finalizer only on NADs this filter matches (see controller.protection).
        @kopf.on.delete(*NAD, id=DELETION_HANDLER_ID, when=_in_use, registry=registry)
        async def deletion_protection(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
            plan = await apply_plan(body, patch)
            if plan.blocked_deletion is not None:
                raise kopf.TemporaryError(plan.blocked_deletion, delay=settings.deletion_retry_interval)

    @kopf.on.validate(*NAD, id=NAD_WEBHOOK_ID, operations=["CREATE", "UPDATE"], registry=registry)
    def validate_nad(body: kopf.Body, **kwargs: Any) -> None:
        problems = admission_problems(body, kwargs.get("old"))
        if problems:
            _log_refusal("NAD", body, problems)
            raise kopf.AdmissionError("; ".join(problems), code=UNPROCESSABLE)

    if settings.pod_validation is not PodValidation.OFF:

        @kopf.on.validate(*POD, id=POD_WEBHOOK_ID, operations=["CREATE", "UPDATE"], registry=registry)
        async def validate_pod_networks(body: kopf.Body, warnings: list[str], **kwargs: Any) -> None:
            if not networks_changed(kwargs.get("old"), body):
                return
            verdict = await review_pod_under_failure_policy(
                body, api.get_network, settings.policy, fail_open=settings.pod_fail_open
            )
            warnings.extend(verdict.warnings)
            if not verdict.allowed:
                _log_refusal("pod", body, verdict.problems)
                raise kopf.AdmissionError("; ".join(verdict.problems), code=UNPROCESSABLE)

    return pods


def _log_refusal(kind: str, body: kopf.Body, problems: Sequence[str]) -> None:
    # A refusal is the webhook working: a warning for the user's mistake (controller.log_levels).
    name = body.metadata.name or f"{body.metadata.get('generateName', '')}<generated>"
    logger.warning("refused %s %s/%s: %s", kind, body.metadata.namespace, name, "; ".join(problems))


def _in_use(status: kopf.Status, **_: Any) -> bool:
    return protection_needed(status)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
