"""One network more or less on a pod already attached: the daemon's `/delegate`, as upstream's
dynamic-networks controller calls it. The attachment joins the pod's record, so the pod's final DEL
removes it too (upstream forgets hot-plugged attachments and leaks them)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from multus.attachment_cache import AttachmentRecord
from multus.cni.args import IGNORE_UNKNOWN
from multus.cni.errors import CNIError, InterfaceConflict, UnknownContainer
from multus.cni.results import Result
from multus.k8s.delegate_inputs import capability_args, check_capabilities, extra_cni_args, with_cni_args
from multus.k8s.selection_json import selection_from_json
from multus.orchestrator.check import check_requests
from multus.orchestrator.parts import Parts
from multus.orchestrator.records import cni_attachment, conflist_of
from multus.orchestrator.scope import RequestScope
from multus.orchestrator.sequence import delete_record


async def add_delegate(
    scope: RequestScope, parts: Parts, delegate: dict[str, Any], attributes: Mapping[str, Any]
) -> Result:
    """Attach `delegate` as the pod's `CNI_IFNAME`, with the `ips`, `mac` and `cni-args` asked for."""
    env = scope.env
    record = parts.records.load(env.container_id)
    if record is None:
        raise UnknownContainer(f"/delegate: container {env.container_id} has no record to add to")
    requested = {key: attributes[key] for key in ("ips", "mac", "cni-args") if key in attributes}
    selection = selection_from_json(
        {"name": "delegate", **requested},
        index=0,
        annotation="interfaceAttributes",
        default_namespace=record.pod_namespace or "default",
    )
    config = with_cni_args(delegate, selection.cni_args)
    network = str(config.get("name") or "")
    conflist = conflist_of(network or "delegate", config)
    check_capabilities(selection, config)
    taken = parts.namespace.interface_names(env.netns)
    if env.ifname in taken or any(entry.ifname == env.ifname for entry in record.attachments):
        raise InterfaceConflict(f"/delegate: interface {env.ifname} already exists in the pod")
    base_args = [(key, value) for key, value in env.args if key != IGNORE_UNKNOWN]
    entry = AttachmentRecord.make(
        network=network,
        ifname=env.ifname,
        config=config,
        capability_args=capability_args(selection),
        cni_args=[(IGNORE_UNKNOWN, "1"), *base_args, *extra_cni_args(selection)],
    )
    record.attachments.append(entry)
    parts.records.save(record)
    try:
        result = await parts.runner.add(conflist, cni_attachment(env, entry, record), later=scope.later)
        await check_requests(parts.namespace, env.netns, [(selection, entry.ifname, result)])
    except Exception:
        scope.settle()  # the undo's DEL wants the cached result
        try:
            alone = record.replace(attachments=[entry])
            await delete_record(parts.runner, parts.records, env, alone, save=False)
        except CNIError:  # logged; the entry stays on the pod's record, for the pod's final DEL
            pass
        else:
            record.attachments.remove(entry)
        parts.records.save(record)
        raise
    entry.result = result.to_dict()
    scope.later(functools.partial(parts.records.save, record, durable=False))
    return result.convert_to(conflist.version)


async def delete_delegate(scope: RequestScope, parts: Parts) -> None:
    """Remove the pod's attachment named by `CNI_IFNAME`, hot-plugged or not; gone already is fine."""
    env = scope.env
    record = parts.records.load(env.container_id)
    entry = next((e for e in record.attachments if e.ifname == env.ifname), None) if record else None
    if record is None or entry is None:
        return
    conflist = conflist_of(entry.network, entry.config)
    await parts.runner.delete(conflist, cni_attachment(env, entry, record), kept_result=entry.result)
    record.attachments.remove(entry)
    parts.records.save(record)
