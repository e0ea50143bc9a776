"""A running pod's networks following its annotation: the selections added since the record was
written are attached, those removed are detached, and the pod is told (docs/reference.md §10).

The record is the truth, not memory: the change is computed from the pod's annotation now and the
attachments its record holds, so it works the same after a daemon restart. A selection is matched to an
attachment of the same network: by interface when the selection names one, else to any attachment of
that network not matched yet. What cannot change on a running pod (its cluster network, an interface's
name) is refused whole with a Warning. A failed attach undoes the attachments this change made and
removes nothing: the pod is left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multus.attachment_cache import AttachmentRecord, ContainerRecord
from multus.cni.environment import CNIEnvironment, Command
from multus.cni.errors import CNIError, InterfaceConflict
from multus.config import MultusConfig
from multus.devices import DeviceAllocations
from multus.k8s.view import Pod
from multus.logs import fields, get_logger
from multus.orchestrator import report
from multus.orchestrator.check import check_requests
from multus.orchestrator.parts import Parts
from multus.orchestrator.pods import POD_NAME_ARG, POD_NAMESPACE_ARG, POD_UID_ARG, pod_ref
from multus.orchestrator.records import attachment_entry, cni_attachment, conflist_of
from multus.orchestrator.sequence import delete_record
from multus.resolution import PlannedAttachment, resolve_attachments, resolve_selection

log = get_logger("dynamic")

INFRA_CONTAINER_ARG = "K8S_POD_INFRA_CONTAINER_ID"


class ChangeRefused(CNIError):
    """The annotation asks for what a running pod cannot get: nothing of the change is applied."""


@dataclass
class Changes:
    """What the annotation asks of the pod's record: attachments to make, and entries to remove."""

    add: list[PlannedAttachment] = field(default_factory=list)
    remove: list[AttachmentRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


async def plan_changes(config: MultusConfig, parts: Parts, pod: Pod, record: ContainerRecord) -> Changes:
    """The attachments the pod's annotation asks for that the record lacks, and those it no longer
    asks for. Raises `ChangeRefused`, or the resolution's own error (a missing NAD...)."""
    # Matched first with no device taken: a device is for an attachment still to make, and must not be
    # one an attachment of the record holds.
    no_devices = DeviceAllocations(lambda _: {})
    wanted = await resolve_attachments(config, parts.view, pod, "eth0", set(), devices=no_devices)
    default = next((entry for entry in record.attachments if entry.is_default), None)
    if default is not None and wanted[0].network != default.network:
        raise ChangeRefused(
            f"the cluster network of a running pod cannot change ({default.network} → {wanted[0].network})",
            "delete and re-create the pod to change it",
        )
    unmatched = [entry for entry in record.attachments if not entry.is_default]
    selected = [attachment for attachment in wanted if attachment.selection is not None]
    for attachment in wanted[1:]:  # defaultNetworks: attached with the pod, never changed here
        if attachment.selection is None:
            _take(unmatched, attachment.network, attachment.ifname)
    # Named interfaces first, so that a selection without a name cannot take another's attachment.
    named = [a for a in selected if a.selection is not None and a.selection.interface]
    unnamed = [a for a in selected if a.selection is not None and not a.selection.interface]
    to_add = [a for a in named if _take(unmatched, a.network, a.ifname) is None]
    to_add += [a for a in unnamed if _take(unmatched, a.network, None) is None]
    renamed = sorted({a.network for a in to_add} & {entry.network for entry in unmatched})
    if renamed:
        raise ChangeRefused(
            f"interfaces of a running pod cannot be renamed: network {', '.join(renamed)}",
            "remove the selection, then add it with its new interface name",
        )
    # Removals come after the attachments made: their names are still taken meanwhile.
    taken = {entry.ifname for entry in record.attachments}
    for attachment in [a for a in to_add if a in named]:
        if attachment.ifname in taken:
            raise InterfaceConflict(
                f"interface {attachment.ifname} of network {attachment.network} is already in the pod"
            )
        taken.add(attachment.ifname)
    for attachment in [a for a in to_add if a in unnamed]:
        attachment.ifname = _free_name(attachment.ifname, taken)
        taken.add(attachment.ifname)
    held = {
        str(d)
        for e in record.attachments
        if (d := e.capability_args.get("deviceID") or e.config.get("deviceID"))
    }
    devices = parts.devices().excluding(held)
    added = []
    for attachment in (a for a in selected if a in to_add):
        assert attachment.selection is not None
        with_device = await resolve_selection(config, parts.view, pod, attachment.selection, devices)
        with_device.ifname = attachment.ifname
        added.append(with_device)
    return Changes(add=added, remove=unmatched)


def _take(entries: list[AttachmentRecord], network: str, ifname: str | None) -> AttachmentRecord | None:
    """The first entry of `network` (with `ifname`, if given), removed from `entries`."""
    for entry in entries:
        if entry.network == network and (ifname is None or entry.ifname == ifname):
            entries.remove(entry)
            return entry
    return None


def _free_name(wanted: str, taken: set[str]) -> str:
    """`wanted` (as resolution named it) unless another interface has it, else the first free netN."""
    if wanted not in taken:
        return wanted
    return next(f"net{n}" for n in range(1, len(taken) + 2) if f"net{n}" not in taken)


async def apply_changes(config: MultusConfig, parts: Parts, pod: Pod, record: ContainerRecord) -> Changes:
    """Bring the record (and the pod's namespace) to what the annotation asks for; write the pod's
    network-status and Events. Returns what changed; a refusal or a failure is said on the pod with a
    Warning, and raised."""
    try:
        changes = await plan_changes(config, parts, pod, record)
    except CNIError as error:
        await report.event(parts.view, pod, "Warning", "NetworksNotChanged", str(error))
        raise
    if not changes:
        return changes
    added: list[AttachmentRecord] = []
    for attachment in changes.add:
        try:
            added.append(await _attach(config, parts, record, attachment))
        except CNIError as error:
            await _undo(parts, record, added)
            message = (
                f"network {attachment.network} ({attachment.ifname}) not added, nothing changed: {error}"
            )
            await report.event(parts.view, pod, "Warning", "FailedAddingInterface", message)
            raise error.with_context(f"dynamic attach of {attachment.network}") from error
    removed = []
    for entry in reversed(changes.remove):
        try:
            await _detach(parts, record, entry)
            removed.append(entry)
        except CNIError as error:
            message = f"network {entry.network} ({entry.ifname}) not removed: {error}"
            await report.event(parts.view, pod, "Warning", "FailedRemovingInterface", message)
    await report.write_record_status(parts.view, pod, record)
    for entry in added:
        await report.event(
            parts.view, pod, "Normal", "AddedInterface", f"Add {entry.ifname} from {entry.network}"
        )
    for entry in removed:
        await report.event(
            parts.view, pod, "Normal", "RemovedInterface", f"Remove {entry.ifname} from {entry.network}"
        )
    return changes


async def _attach(
    config: MultusConfig, parts: Parts, record: ContainerRecord, attachment: PlannedAttachment
) -> AttachmentRecord:
    env = _environment(record, attachment.ifname)
    entry = attachment_entry(env, attachment)
    conflist = conflist_of(entry.network, entry.config)
    record.attachments.append(entry)
    parts.records.save(record)  # before the delegate runs: a crash leaves a record naming it
    try:
        result = await parts.runner.add(conflist, cni_attachment(env, entry, record))
        if attachment.selection is not None:
            await check_requests(
                parts.namespace, record.netns, [(attachment.selection, entry.ifname, result)]
            )
    except CNIError:
        await _undo(parts, record, [entry])
        raise
    entry.result = result.to_dict()
    parts.records.save(record)
    log.info("attachment added", extra=fields(**_context(record, entry)))
    return entry


async def _detach(parts: Parts, record: ContainerRecord, entry: AttachmentRecord) -> None:
    alone = record.replace(attachments=[entry])
    await delete_record(parts.runner, parts.records, _environment(record, entry.ifname), alone, save=False)
    record.attachments.remove(entry)
    parts.records.save(record)
    log.info("attachment deleted", extra=fields(**_context(record, entry)))


async def _undo(parts: Parts, record: ContainerRecord, entries: list[AttachmentRecord]) -> None:
    """Detach `entries`; one that cannot be detached stays on the record, for the pod's final DEL."""
    for entry in reversed(entries):
        try:
            await _detach(parts, record, entry)
        except CNIError as error:
            log.error("dynamic attach not undone", extra=fields(**_context(record, entry), error=str(error)))


def _environment(record: ContainerRecord, ifname: str) -> CNIEnvironment:
    """What the runtime would have given: the sandbox, its namespace, and the pod in CNI_ARGS."""
    args = (
        (POD_NAMESPACE_ARG, record.pod_namespace),
        (POD_NAME_ARG, record.pod_name),
        (INFRA_CONTAINER_ARG, record.container_id),
        (POD_UID_ARG, record.pod_uid),
    )
    return CNIEnvironment(Command.ADD, record.container_id, record.netns, ifname, args)


def _context(record: ContainerRecord, entry: AttachmentRecord) -> dict[str, str]:
    return {
        "container": record.container_id,
        "pod": pod_ref(record),
        "network": entry.network,
        "ifname": entry.ifname,
    }
