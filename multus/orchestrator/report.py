"""What the pod is told: its network-status and Events, written after an ADD, cleared after a DEL when
the pod outlives the sandbox, and retried while the API server is away when the daemon writes them
after its reply."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from multus.attachment_cache import AttachmentRecord, ContainerRecord
from multus.cni.errors import (
    CNIError,
    InterfaceConflict,
    InvalidAnnotation,
    InvalidConfig,
    NetworkForbidden,
    NetworkNotFound,
    UnknownContainer,
)
from multus.cni.results import Result, parse_result
from multus.cni.versions import LATEST_VERSION
from multus.k8s.device_info import parse_device_info
from multus.k8s.status import (
    NETWORK_STATUS_ANNOTATION,
    NetworkStatus,
    format_network_status,
    statuses_from_result,
)
from multus.k8s.view import ClusterView, Pod
from multus.logs import fields, get_logger
from multus.orchestrator.pods import pod_ref, same_pod
from multus.resolution import PlannedAttachment

log = get_logger("orchestrator")

REPORT_ATTEMPTS = 8
REPORT_FIRST_PAUSE = 0.5


async def report_added(
    view: ClusterView | None,
    pod: Pod,
    attachments: list[PlannedAttachment],
    results: list[Result],
    record: ContainerRecord,
) -> None:
    """The pod's network-status, then an `AddedInterface` Event per attachment."""
    statuses, messages = [], []
    for attachment, delegate_result in zip(attachments, results, strict=True):
        result = delegate_result.convert_to(LATEST_VERSION)
        statuses += _statuses(
            result, attachment.network, attachment.ifname, attachment.is_default, attachment.device_info
        )
        ips = [str(ip.address) for ip in result.ips]
        messages.append(f"Add {attachment.ifname} [{', '.join(ips)}] from {attachment.network}")
    if view is not None:
        await view.write_network_status(pod, format_network_status(statuses))
    # Only once the status is written: a failed write undoes them all.
    await asyncio.gather(*(event(view, pod, "Normal", "AddedInterface", message) for message in messages))
    log.info("pod reported", extra=fields(container=record.container_id, pod=pod_ref(record)))


async def write_record_status(view: ClusterView | None, pod: Pod, record: ContainerRecord) -> None:
    """The pod's network-status as its record now stands: after a change of a running pod's networks."""
    statuses = []
    for entry in record.attachments:
        if entry.result is not None:
            result = parse_result(entry.result).convert_to(LATEST_VERSION)
            statuses += _statuses(result, entry.network, entry.ifname, entry.is_default, entry.device_info)
    if view is not None:
        await view.write_network_status(pod, format_network_status(statuses))


def _statuses(
    result: Result, network: str, ifname: str, default: bool, device_info: dict[str, Any] | None
) -> list[NetworkStatus]:
    """An attachment's network-status entries, from its result in the 1.x form (0.2.0 has no `ips`) and
    with the delegate's own version converted first."""
    device = parse_device_info(device_info) if device_info else None
    return statuses_from_result(
        result, network=network, interface=ifname, default=default, device_info=device
    )


async def clear_status(view: ClusterView, record: ContainerRecord, expected_uid: str) -> None:
    """Remove the pod's network-status when the pod outlives this sandbox (failed, or re-created by
    the kubelet): it lists interfaces that are gone. A terminating pod, a missing one, another pod
    of the same name, or one without the annotation costs no write. (The runtime's second DEL has
    no record left, so it never gets here.)"""
    namespace, name = record.pod_namespace, record.pod_name
    context = {"container": record.container_id, "pod": pod_ref(record)}
    pod = await view.get_pod(namespace, name)
    if pod is not None and not pod.terminating:
        # Rare (the usual DEL is of a pod being deleted), so decided on the cluster's own copy: a
        # cache may lag behind our ADD's write (a result the runtime refused comes back at once).
        pod = await view.get_pod(namespace, name, fresh=True)
    expected = expected_uid or record.pod_uid
    if pod is None:
        kept = "the pod is gone"
    elif pod.terminating:
        kept = "the pod is being deleted"
    elif not same_pod(pod, expected):
        kept = f"the pod has another UID ({pod.uid})"
    elif NETWORK_STATUS_ANNOTATION not in pod.annotations:
        kept = "the pod has none"
    else:
        await view.write_network_status(pod, None)
        log.info("network-status cleared", extra=fields(**context))
        return
    log.info("network-status left alone", extra=fields(**context, reason=kept))


async def until_written(write: Callable[[], Awaitable[None]], record: ContainerRecord) -> None:
    """A report after the reply: retried with growing pauses while the API server is unreachable; a
    pod re-created meanwhile is left alone (its sandbox is gone and the runtime deletes it)."""
    pause = REPORT_FIRST_PAUSE
    context = {"container": record.container_id, "pod": pod_ref(record)}
    for attempt in range(1, REPORT_ATTEMPTS + 1):
        try:
            await write()
            return
        except UnknownContainer as error:
            log.error(
                "network-status not written: the pod changed", extra=fields(**context, error=str(error))
            )
            return
        except CNIError as error:
            log.error(
                "network-status not written yet", extra=fields(**context, attempt=attempt, error=str(error))
            )
        await asyncio.sleep(pause)
        pause *= 2
    log.error("network-status given up", extra=fields(**context, attempts=REPORT_ATTEMPTS))


# The Warning reason of an ADD refused before any delegate ran, by what was wrong.
REFUSAL_REASONS: dict[type[CNIError], str] = {
    InvalidAnnotation: "InvalidNetworksAnnotation",
    NetworkNotFound: "NoNetworkFound",
    NetworkForbidden: "NetworkForbidden",
    InterfaceConflict: "InterfaceNameConflict",
    InvalidConfig: "InvalidNetworkConfig",
}


def refusal_reason(error: CNIError) -> str:
    return next(
        (reason for kind, reason in REFUSAL_REASONS.items() if isinstance(error, kind)), "NetworkNotUsable"
    )


async def rolled_back(
    view: ClusterView | None, pod: Pod, started: list[AttachmentRecord], *, left: list[AttachmentRecord]
) -> None:
    """Say which attachments a failed ADD removed again, and which it could not (the runtime's DEL will
    try them again)."""
    if not started:
        return
    removed = [entry for entry in started if entry not in left]
    message = "rolled back after the failed ADD: " + (_entries(removed) or "nothing")
    if left:
        message += f"; not removed yet: {_entries(left)}"
    await event(view, pod, "Warning", "AttachmentsRolledBack", message)


def _entries(entries: list[AttachmentRecord]) -> str:
    return ", ".join(f"{entry.ifname} ({entry.network})" for entry in entries)


async def event(view: ClusterView | None, pod: Pod, kind: str, reason: str, message: str) -> None:
    """Events are best effort: failing to record one must not fail the pod's networking."""
    if view is None:
        return
    try:
        await view.record_event(pod, "Warning" if kind == "Warning" else "Normal", reason, message)
    except CNIError as error:
        log.error(
            "event not recorded",
            extra=fields(pod=f"{pod.namespace}/{pod.name}", reason=reason, error=str(error)),
        )
