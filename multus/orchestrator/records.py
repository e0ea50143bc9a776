"""A container's attachments: resolved from its pod, kept in its record, or recovered from libcni's
result cache; and what the delegates get for each (the config list, the attachment)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from multus.attachment_cache import AttachmentRecord, ContainerRecord
from multus.cni.args import IGNORE_UNKNOWN
from multus.cni.attachment import Attachment
from multus.cni.cache import ResultCache
from multus.cni.config import NetworkConfigList, parse_network_config
from multus.cni.environment import CNIEnvironment
from multus.cni.errors import CNIError
from multus.config import MultusConfig
from multus.devices import DeviceAllocations
from multus.k8s.view import ClusterView, Pod
from multus.logs import fields, get_logger
from multus.orchestrator.pods import pod_of, pod_uid_of
from multus.resolution import PlannedAttachment, resolve_attachments

log = get_logger("orchestrator")

# Runtime-provided runtimeConfig keys that belong to the pod's cluster network only, as upstream does.
CLUSTER_RUNTIME_KEYS = ("portMappings", "bandwidth", "dns", "ips", "mac", "io.kubernetes.cri.pod-annotations")


async def attachments_for(
    config: MultusConfig,
    view: ClusterView | None,
    pod: Pod | None,
    env: CNIEnvironment,
    taken: set[str],
    *,
    devices: DeviceAllocations,
    runtime_config: Mapping[str, Any],
) -> list[PlannedAttachment]:
    """The pod's attachments, as ADD makes them: the cluster network also takes the runtime's own
    runtimeConfig (port mappings, bandwidth...), as upstream does."""
    attachments = await resolve_attachments(config, view, pod, env.ifname, taken, devices=devices)
    for attachment in attachments:
        if attachment.is_default:
            attachment.capability_args = {
                key: value for key, value in runtime_config.items() if key in CLUSTER_RUNTIME_KEYS
            } | attachment.capability_args
    return attachments


def new_record(
    config: MultusConfig, env: CNIEnvironment, pod: Pod | None, attachments: list[PlannedAttachment]
) -> ContainerRecord:
    """The record ADD writes before its first delegate runs."""
    namespace, name = pod_of(env)
    return ContainerRecord.make(
        container_id=env.container_id,
        netns=env.netns,
        pod_namespace=pod.namespace if pod else namespace,
        pod_name=pod.name if pod else name,
        pod_uid=pod.uid if pod else pod_uid_of(env),
        cni_version=config.cni_version,
        attachments=[attachment_entry(env, attachment) for attachment in attachments],
    )


def attachment_entry(env: CNIEnvironment, attachment: PlannedAttachment) -> AttachmentRecord:
    """The record's entry for `attachment`: everything its DEL will need."""
    base_args = [(key, value) for key, value in env.args if key != IGNORE_UNKNOWN]
    return AttachmentRecord.make(
        network=attachment.network,
        ifname=attachment.ifname,
        config=attachment.config,
        capability_args=attachment.capability_args,
        cni_args=[(IGNORE_UNKNOWN, "1"), *base_args, *attachment.cni_args],
        is_default=attachment.is_default,
        device_info=attachment.device_info,
    )


def recover_record(
    config: MultusConfig, env: CNIEnvironment, results: ResultCache, container_id: str
) -> ContainerRecord | None:
    """Rebuild the container's record from libcni's result cache, which every delegate ADD wrote."""
    # The runtime's libcni caches its own call of us under our network's name (in /var/lib/cni, the
    # default folder): that entry is the pod's whole multus network, not one of its attachments.
    entries = [
        entry for entry in results.entries(container_id=container_id) if entry.network_name != config.name
    ]
    if not entries:
        return None
    namespace, name = pod_of(env)
    log.info(
        "attachment cache missing or damaged: recovering from the result cache",
        extra=fields(container=container_id, pod=f"{namespace}/{name}", found=len(entries)),
    )
    return ContainerRecord.make(
        container_id=container_id,
        netns=env.netns or entries[0].netns,
        pod_namespace=namespace,
        pod_name=name,
        cni_version=config.cni_version,
        attachments=[
            AttachmentRecord.make(
                network=entry.network_name,
                ifname=entry.ifname,
                config=json.loads(entry.config),
                capability_args=entry.capability_args,
                cni_args=list(entry.cni_args),
                result=entry.result.to_dict() if entry.result else None,
            )
            for entry in entries
        ],
    )


def cni_attachment(
    env: CNIEnvironment, entry: AttachmentRecord, record: ContainerRecord | None = None
) -> Attachment:
    """What the delegates get for `entry`: the record's container, not the request's, since GC deletes
    containers other than (and without) its own; no namespace path once the namespace is gone."""
    netns = env.netns or (record.netns if record else "")
    return Attachment(
        container_id=record.container_id if record else env.container_id,
        ifname=entry.ifname,
        netns=netns if netns and os.path.exists(netns) else "",
        cni_args=tuple(entry.cni_args),
        capability_args=entry.capability_args,
    )


def conflist_of(network: str, config: dict[str, Any]) -> NetworkConfigList:
    """The config list of `network`; an error names the network."""
    try:
        return _parsed_config(json.dumps(config, sort_keys=True))
    except CNIError as error:
        raise error.with_context(f"network {network}") from error


@functools.lru_cache(maxsize=512)
def _parsed_config(text: str) -> NetworkConfigList:
    """Parsed once per distinct config (the result is frozen): pod after pod attaches the same networks,
    and each DEL reads back the configs its ADD ran."""
    return parse_network_config(text)
