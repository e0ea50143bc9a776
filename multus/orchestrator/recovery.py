"""A DEL whose attachment record is gone: the record found again, from libcni's result cache, or else
rebuilt from the pod as ADD made it, with the pod told what may have leaked."""

from __future__ import annotations

from multus.attachment_cache import ContainerRecord
from multus.cni.errors import CNIError, InvalidEnvironment
from multus.k8s.view import Pod
from multus.logs import fields, get_logger
from multus.netns import NamespaceGone
from multus.orchestrator.parts import Parts
from multus.orchestrator.pods import find_pod, pod_of, pod_uid_of
from multus.orchestrator.records import attachments_for, new_record, recover_record
from multus.orchestrator.report import event
from multus.orchestrator.scope import RequestScope
from multus.resolution import PlannedAttachment

log = get_logger("orchestrator")


async def record_to_delete(scope: RequestScope, parts: Parts) -> ContainerRecord | None:
    """The request container's record: as saved, else recovered, else rebuilt; None when nothing
    was attached, or nothing can be told."""
    container_id = scope.env.container_id
    record = parts.records.load(container_id)
    if record is None:
        record = recover_record(scope.config, scope.env, parts.runner.cache, container_id)
    if record is None:
        record = await _rebuild_record(scope, parts)
    return record


async def _rebuild_record(scope: RequestScope, parts: Parts) -> ContainerRecord | None:
    """DEL with neither record nor cached result. Normal for the runtime's second DEL: the namespace
    is gone or holds only `lo`, and there is nothing to do (None). Interfaces left there mean an ADD's
    record was lost: its attachments are rebuilt as ADD makes them, to be deleted, and the pod is told
    which, and which interfaces nothing could be rebuilt for (their allocations may leak; the DEL
    still succeeds, so that the runtime can move on)."""
    env = scope.env
    namespace, name = pod_of(env)
    context = fields(container=env.container_id, pod=f"{namespace}/{name}")
    try:
        left = sorted(parts.namespace.interface_names(env.netns) - {"lo"}) if env.netns else []
    except (NamespaceGone, InvalidEnvironment):  # no namespace there: no interface of it either
        left = []
    if not left:
        log.info("nothing to delete", extra=context)
        return None
    attachments, problems = await _rebuild_attachments(scope, parts)
    message = (
        f"DEL of container {env.container_id}: no attachment record and no cached result, but the "
        f"pod's namespace still holds {', '.join(left)}"
    )
    if attachments:
        networks = ", ".join(f"{a.network} ({a.ifname})" for a in attachments)
        message += f"; rebuilt {networks} from the pod to delete them"
    unknown = [ifname for ifname in left if ifname not in {a.ifname for a in attachments}]
    if unknown:
        why = f" ({'; '.join(problems)})" if problems else ""
        message += f"; nothing to rebuild {', '.join(unknown)} from{why}: IP allocations may have leaked"
    (log.error if unknown else log.warning)(message, extra=context)
    target = Pod(namespace, name, pod_uid_of(env)) if name else None
    if target is not None:
        reason = "AttachmentsMayHaveLeaked" if unknown else "AttachmentsRebuilt"
        await event(parts.view, target, "Warning", reason, message)
    return new_record(scope.config, env, target, attachments) if attachments else None


async def _rebuild_attachments(
    scope: RequestScope, parts: Parts
) -> tuple[list[PlannedAttachment], list[str]]:
    """The attachments ADD made, as far as they can be told now, and what hid the others: the pod
    (gone, re-created, or the API cannot say) or what its networks need (a NAD deleted...). As
    upstream, the networks of every pod (the cluster network, defaultNetworks) are rebuilt even
    when the pod's own cannot be."""
    problems: list[str] = []
    try:
        pod = await find_pod(parts.view, scope.env)
    except CNIError as error:
        pod = None
        problems.append(str(error))
    for candidate in ([pod] if pod is not None else []) + [None]:
        try:
            attachments = await attachments_for(
                scope.config,
                parts.view,
                candidate,
                scope.env,
                set(),
                devices=parts.devices(),
                runtime_config=scope.runtime_config,
            )
        except CNIError as error:
            problems.append(str(error))
            continue
        return attachments, problems
    return [], problems
