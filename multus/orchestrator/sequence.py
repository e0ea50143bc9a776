"""A record's attachments run through their delegates in turn: ADD in order, DEL in reverse, and the
undo of a failed ADD. Each waits for the one before it; bookkeeping goes to `later`."""

from __future__ import annotations

import functools
from typing import Any

from multus.attachment_cache import AttachmentCache, AttachmentRecord, ContainerRecord
from multus.cni.attachment import Attachment
from multus.cni.config import NetworkConfigList
from multus.cni.conflist import ConfigListRunner, Later, at_once
from multus.cni.environment import CNIEnvironment
from multus.cni.errors import CNIError
from multus.cni.results import Result
from multus.logs import fields, get_logger
from multus.orchestrator.pods import pod_ref
from multus.orchestrator.records import cni_attachment, conflist_of
from multus.resolution import PlannedAttachment

log = get_logger("orchestrator")


def check_delegates(
    runner: ConfigListRunner, attachments: list[PlannedAttachment]
) -> list[NetworkConfigList]:
    """Before anything runs: every config parses and every plugin binary exists, IPAM plugins too.
    Found later, these would fail the undo's DEL of that attachment too, and keep it in the record for
    ever."""
    conflists = [conflist_of(attachment.network, attachment.config) for attachment in attachments]
    for attachment, conflist in zip(attachments, conflists, strict=True):
        for plugin in conflist.plugins:
            try:
                runner.executor.find(plugin.type)
                if plugin.ipam is not None and plugin.ipam.type:
                    runner.executor.find(plugin.ipam.type)
            except CNIError as error:
                raise error.with_context(f"network {attachment.network}") from error
    return conflists


async def add_all(
    runner: ConfigListRunner,
    env: CNIEnvironment,
    attachments: list[PlannedAttachment],
    conflists: list[NetworkConfigList],
    record: ContainerRecord,
    *,
    later: Later,
) -> list[Result]:
    """Every attachment's ADD, in order. On a failure the record keeps only those that started, for
    the undo."""
    outcomes = await runner.add_in_turn(
        [
            (conflist, cni_attachment(env, entry))
            for conflist, entry in zip(conflists, record.attachments, strict=True)
        ],
        later=later,
    )
    added = [
        (attachment, entry, outcome)
        for attachment, entry, outcome in zip(attachments, record.attachments, outcomes, strict=True)
        if isinstance(outcome, Result)
    ]
    later(functools.partial(_note_added, added, record))
    failure = next((outcome for outcome in outcomes if isinstance(outcome, CNIError)), None)
    if failure is not None:
        record.attachments = [
            entry for entry, outcome in zip(record.attachments, outcomes, strict=True) if outcome is not None
        ]
        raise failure
    return [result for _, _, result in added]


def _note_added(
    added: list[tuple[PlannedAttachment, AttachmentRecord, Result]], record: ContainerRecord
) -> None:
    """The results into the record, and a log line each: bookkeeping, done before anything reads
    the record's results (its save, an undo's DELs)."""
    for attachment, entry, result in added:
        entry.result = result.to_dict()
        context = fields(
            container=record.container_id,
            pod=pod_ref(record),
            network=attachment.network,
            ifname=attachment.ifname,
        )
        log.info("attachment added", extra=context)


async def delete_record(
    runner: ConfigListRunner,
    records: AttachmentCache,
    env: CNIEnvironment,
    record: ContainerRecord,
    *,
    later: Later = at_once,
    save: bool = True,
) -> None:
    """DEL every attachment in reverse, each once the one before has ended; drop those that succeeded
    from the record, report the rest. `later` takes the removals from the caches and their log lines;
    `save=False` leaves the record on disk to the caller (a part of it being deleted)."""
    ordered = list(reversed(record.attachments))
    jobs = [_delete_job(env, entry, record) for entry in ordered]
    readable = [job for job in jobs if not isinstance(job, CNIError)]
    deleted = iter(await runner.delete_in_turn(readable, later=later))
    failures: list[str] = []
    first: CNIError | None = None
    for entry, job in zip(ordered, jobs, strict=True):
        context = {"container": record.container_id, "pod": pod_ref(record), "network": entry.network}
        failure = job if isinstance(job, CNIError) else next(deleted)
        if failure is None:
            record.attachments.remove(entry)
            deleted_line = fields(**context, ifname=entry.ifname)
            later(functools.partial(log.info, "attachment deleted", extra=deleted_line))
            continue
        first = first or failure
        failures.append(f"{entry.network} ({entry.ifname}): {failure}")
        log.error("attachment not deleted", extra=fields(**context, error=str(failure)))
    if first is None:
        if save:
            later(functools.partial(records.remove, record.container_id))
        return
    if save:
        records.save(record)  # what is left, for the runtime's next DEL
    summary = f"DEL of container {record.container_id}: {len(failures)} attachment(s) not deleted"
    raise first.with_context(summary, details="; ".join(failures))


def _delete_job(
    env: CNIEnvironment, entry: AttachmentRecord, record: ContainerRecord
) -> tuple[NetworkConfigList, Attachment, dict[str, Any] | None] | CNIError:
    """What `delete_in_turn` needs for one entry, or why the entry no longer reads (it is reported,
    the others are still deleted)."""
    try:
        return conflist_of(entry.network, entry.config), cni_attachment(env, entry, record), entry.result
    except CNIError as error:
        return error


async def undo(
    runner: ConfigListRunner, records: AttachmentCache, env: CNIEnvironment, record: ContainerRecord
) -> None:
    """Undo a failed ADD: DEL every attachment of the record (those that started), in reverse."""
    try:
        await delete_record(runner, records, env, record)
    except CNIError as error:
        log.error(
            "undo of a failed ADD left attachments behind",
            extra=fields(container=record.container_id, pod=pod_ref(record), error=str(error)),
        )
