"""The pod's default route through the one attachment that asks for it (docs/reference.md §4): set in
the namespace, and written into every attachment's result, record and cached result alike."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from multus.attachment_cache import AttachmentRecord, ContainerRecord
from multus.cni.cache import ResultCache
from multus.cni.environment import CNIEnvironment
from multus.cni.results import Result, Route
from multus.orchestrator.parts import Parts
from multus.resolution import PlannedAttachment


def apply_default_route(
    parts: Parts,
    env: CNIEnvironment,
    attachments: list[PlannedAttachment],
    results: list[Result],
    record: ContainerRecord,
) -> None:
    """Point the pod's default route at the attachment that asked for it; `results` change in place."""
    for chosen, attachment in enumerate(attachments):
        for gateway in attachment.default_route:
            family = ipaddress.ip_address(gateway).version
            parts.namespace.replace_default_route(env.netns, attachment.ifname, gateway)
            for index, result in enumerate(results):
                results[index] = with_default_route(result, family, gateway if index == chosen else None)
                entry = record.attachments[index]
                entry.result = results[index].to_dict()
                _rewrite_cached_result(parts.runner.cache, env.container_id, entry, results[index])


def with_default_route(result: Result, family: int, gateway: str | None) -> Result:
    """`result` without default routes of `family`, plus one via `gateway` when given."""
    routes = tuple(route for route in result.routes if not (route.is_default and route.family == family))
    if gateway is not None:
        destination = ipaddress.ip_interface("0.0.0.0/0" if family == 4 else "::/0")
        routes = (*routes, Route(destination, ipaddress.ip_address(gateway)))
    return replace(result, routes=routes)


def _rewrite_cached_result(
    cache: ResultCache, container_id: str, entry: AttachmentRecord, result: Result
) -> None:
    network = str(entry.config.get("name", ""))
    cached = cache.read(network, container_id, entry.ifname)
    if cached is not None:
        cache.write(replace(cached, result=result))
