"""The commands' flow: ADD, DEL, CHECK, GC and STATUS of a pod, and hot-plug of one attachment.

Each step lives in the module named after it; here they are put in order. A command gets the request's
scope (what the runtime sent, and where deferred work goes) and the parts it works with (delegates,
records, the cluster, the namespace).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from multus.cni.config import parse_network_config
from multus.cni.environment import Command
from multus.cni.errors import CNIError, InvalidEnvironment, PluginNotAvailable
from multus.cni.results import Result
from multus.logs import fields, get_logger
from multus.orchestrator import report
from multus.orchestrator.check import check, check_requests
from multus.orchestrator.default_route import apply_default_route
from multus.orchestrator.gc import collect_garbage
from multus.orchestrator.hotplug import add_delegate, delete_delegate
from multus.orchestrator.parts import Parts
from multus.orchestrator.pods import find_pod, pod_ref, pod_uid_of, wait_until_ready
from multus.orchestrator.records import attachments_for, conflist_of, new_record
from multus.orchestrator.recovery import record_to_delete
from multus.orchestrator.scope import RequestScope
from multus.orchestrator.sequence import add_all, check_delegates, delete_record, undo
from multus.resolution import resolve_attachments

log = get_logger("orchestrator")


async def add(scope: RequestScope, parts: Parts) -> Result:
    """Attach every network of the pod; on any failure, undo what was attached and say why on the pod."""
    config, env, view = scope.config, scope.env, parts.view
    await wait_until_ready(config)
    pod = await find_pod(view, env)
    taken = parts.namespace.interface_names(env.netns)
    try:
        attachments = await attachments_for(
            config, view, pod, env, taken, devices=parts.devices(), runtime_config=scope.runtime_config
        )
    except CNIError as error:
        if pod is not None:
            await report.event(view, pod, "Warning", report.refusal_reason(error), str(error))
        raise
    try:
        conflists = check_delegates(parts.runner, attachments)
    except CNIError as error:
        if pod is not None:
            await report.event(view, pod, "Warning", "FailedAddingInterfaces", str(error))
        raise
    record = new_record(config, env, pod, attachments)
    parts.records.save(record, durable=False)
    try:
        results = await add_all(parts.runner, env, attachments, conflists, record, later=scope.later)
        requested = [
            (attachment.selection, attachment.ifname, result)
            for attachment, result in zip(attachments, results, strict=True)
            if attachment.selection is not None
        ]
        await check_requests(parts.namespace, env.netns, requested)
        if any(attachment.default_route for attachment in attachments):
            scope.settle()  # the route rewrites the cached results: they must be there
            await asyncio.to_thread(apply_default_route, parts, env, attachments, results, record)
        # With the results, for CHECK; then on disk, after the reply (see AttachmentCache).
        scope.later(functools.partial(parts.records.save, record, durable=False))
        scope.later(functools.partial(parts.records.sync, record.container_id))
        if pod is not None and not scope.replies_first:
            # A pod re-created meanwhile gets no status, and no networks either.
            await report.report_added(view, pod, attachments, results, record)
    except Exception as error:  # whatever failed, the attachments made so far must go
        scope.settle()  # the undo's DELs want their prevResults
        started = list(record.attachments)
        await undo(parts.runner, parts.records, env, record)
        if pod is not None:
            await report.event(view, pod, "Warning", "FailedAddingInterfaces", str(error))
            await report.rolled_back(view, pod, started, left=record.attachments)
        raise
    if pod is not None and scope.replies_first:
        written = functools.partial(report.report_added, view, pod, attachments, results, record)
        scope.report(report.until_written(written, record))
    return results[0].convert_to(config.cni_version)


async def delete(scope: RequestScope, parts: Parts) -> None:
    """Detach every network of the container, from its record (or what can be found of it); then clear
    the network-status of a pod that outlives the sandbox."""
    record = await record_to_delete(scope, parts)
    if record is None:
        return
    # The runtime's DEL: what is removed from the caches, and logged, can wait for the reply.
    await delete_record(parts.runner, parts.records, scope.env, record, later=scope.later)
    view = parts.view
    if view is None or not record.pod_name:
        return
    clear = functools.partial(report.clear_status, view, record, pod_uid_of(scope.env))
    if scope.replies_first:
        scope.report(report.until_written(clear, record))
        return
    try:
        await clear()
    except CNIError as error:  # the attachments are gone: the DEL succeeded, whatever the API says
        log.error(
            "network-status not cleared",
            extra=fields(container=record.container_id, pod=pod_ref(record), error=str(error)),
        )


async def status(scope: RequestScope, parts: Parts) -> None:
    """Whether the cluster network is ready: the readiness indicator file, then its plugins' STATUS."""
    config = scope.config
    indicator = config.readiness_indicator_file
    if indicator is not None and not indicator.exists():
        raise PluginNotAvailable(
            f"readinessindicatorfile {indicator} does not exist", "the cluster network is not ready"
        )
    cluster = await resolve_attachments(config, parts.view, None, "eth0", set())
    await parts.runner.status(conflist_of(cluster[0].network, cluster[0].config))


async def run_command(scope: RequestScope, parts: Parts) -> dict[str, Any] | None:
    """Run the request; the JSON reply for ADD (the cluster network's result), None for the rest."""
    command = scope.env.command
    if command == Command.ADD:
        return (await add(scope, parts)).to_dict()
    if command == Command.DEL:
        await delete(scope, parts)
    elif command == Command.CHECK:
        await check(scope, parts)
    elif command == Command.GC:
        await collect_garbage(scope, parts)
    elif command == Command.STATUS:
        await status(scope, parts)
    else:
        raise InvalidEnvironment(f"CNI_COMMAND {command} is not run by the orchestrator")
    return None


async def run_delegate(
    scope: RequestScope, parts: Parts, delegate: bytes, attributes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A hot-plug request: ADD or DEL of the one delegate config `delegate` as the pod's `CNI_IFNAME`."""
    command = scope.env.command
    if command == Command.ADD:
        config = parse_network_config(delegate).to_dict()
        return (await add_delegate(scope, parts, config, attributes)).to_dict()
    if command == Command.DEL:
        await delete_delegate(scope, parts)
        return None
    raise InvalidEnvironment(f"/delegate serves ADD and DEL, not {command}")
