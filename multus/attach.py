"""`multusctl attach` and `detach`: a person's edit of a running pod's networks annotation, then the
wait for the pod's node to follow it (docs/reference.md §10).

The annotation keeps its form: a comma list gets `ns/name@if` items, a JSON list gets objects, and the
other elements are left as they were. The patch carries the pod's resourceVersion, so an edit made
meanwhile by someone else is read again rather than lost. The outcome is read from the pod itself: its
network-status gaining (or losing) the network, or a Warning Event the daemon wrote since the edit.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multus.cni.errors import InvalidAnnotation, TryAgainLater, UnknownContainer
from multus.k8s.annotations import parse_networks_annotation
from multus.k8s.constants import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from multus.k8s.selection import NetworkSelection
from multus.kube.apiview import ApiView
from multus.kube.errors import Conflict, NotFound
from multus.kube.paths import events_path, pod_path

MERGE_PATCH = "application/merge-patch+json"
POLL_SECONDS = 0.25
EDIT_ATTEMPTS = 3
# What the daemon says on a pod whose change it did not make.
WARNING_REASONS = frozenset({"NetworksNotChanged", "FailedAddingInterface", "FailedRemovingInterface"})


@dataclass(frozen=True)
class Target:
    """The network a person names: `[ns/]name[@interface]`, its namespace the pod's by default."""

    namespace: str
    name: str
    interface: str | None

    @classmethod
    def parse(cls, text: str, pod_namespace: str) -> Target:
        selections = parse_networks_annotation(text, pod_namespace)
        if len(selections) != 1 or text.strip().startswith(("[", "{")):
            raise InvalidAnnotation(f"network {text!r}: name one network as [NAMESPACE/]NAME[@INTERFACE]")
        chosen = selections[0]
        return cls(chosen.namespace, chosen.name, chosen.interface)

    @property
    def reference(self) -> str:
        return f"{self.namespace}/{self.name}"

    def matches(self, selection: NetworkSelection) -> bool:
        same = (selection.namespace, selection.name) == (self.namespace, self.name)
        return same and (self.interface is None or selection.interface == self.interface)

    def in_status(self, entry: dict[str, Any]) -> bool:
        return entry.get("name") == self.reference and (
            self.interface is None or entry.get("interface") == self.interface
        )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str


async def attach(api: ApiView, namespace: str, name: str, network: str, timeout: float) -> Outcome:
    target = Target.parse(network, namespace)
    edit = functools.partial(_with, target=target, namespace=namespace)
    return await _change(api, namespace, name, edit, target, timeout=timeout, present=True)


async def detach(api: ApiView, namespace: str, name: str, network: str, timeout: float) -> Outcome:
    target = Target.parse(network, namespace)
    edit = functools.partial(_without, target=target, namespace=namespace)
    return await _change(api, namespace, name, edit, target, timeout=timeout, present=False)


async def _change(
    api: ApiView,
    namespace: str,
    name: str,
    edit: Callable[[str | None], str | None],
    target: Target,
    *,
    timeout: float,
    present: bool,
) -> Outcome:
    """The edit, then the node's answer; an edit the node refused is put back, so that the annotation
    keeps saying what the pod has."""
    try:
        pod = await api.client.request("GET", pod_path(namespace, name))
    except NotFound:
        raise UnknownContainer(f"pod {namespace}/{name} not found") from None
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    seen = {event["metadata"]["uid"] for event in await _warnings(api, namespace, uid)}  # before the edit
    before, after = await _edit(api, namespace, name, edit)

    def done(status: list[dict[str, Any]]) -> bool:
        return any(target.in_status(entry) for entry in status) == present

    outcome = await _follow(api, (namespace, name, uid), seen, done, timeout=timeout, target=target)
    if not outcome.ok:
        await _edit(api, namespace, name, lambda value: before if value == after else value)
    return outcome


async def _edit(
    api: ApiView, namespace: str, name: str, edit: Callable[[str | None], str | None]
) -> tuple[str | None, str | None]:
    """The annotation before and after `edit`; read again and redone if someone else wrote meanwhile."""
    for _ in range(EDIT_ATTEMPTS):
        try:
            pod = await api.client.request("GET", pod_path(namespace, name))
        except NotFound:
            raise UnknownContainer(f"pod {namespace}/{name} not found") from None
        meta = pod.get("metadata") or {}
        before = (meta.get("annotations") or {}).get(NETWORKS_ANNOTATION)
        after = edit(before)
        if after == before:
            return before, after
        annotations = {NETWORKS_ANNOTATION: after}
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion"), "annotations": annotations}}
        try:
            await api.client.request("PATCH", pod_path(namespace, name), body=patch, content_type=MERGE_PATCH)
        except Conflict:
            continue
        return before, after
    raise TryAgainLater(f"pod {namespace}/{name} kept changing: its annotation was not edited")


def _with(value: str | None, target: Target, namespace: str) -> str:
    selections = parse_networks_annotation(value, namespace)
    if any(target.matches(selection) for selection in selections):
        raise InvalidAnnotation(
            f"pod already has {target.reference}" + (f"@{target.interface}" if target.interface else "")
        )
    if value is not None and value.strip().startswith("["):
        elements = json.loads(value)
        element: dict[str, Any] = {"name": target.name, "namespace": target.namespace}
        if target.interface:
            element["interface"] = target.interface
        return json.dumps([*elements, element])
    item = target.reference + (f"@{target.interface}" if target.interface else "")
    return ",".join(part for part in [(value or "").strip(), item] if part)


def _without(value: str | None, target: Target, namespace: str) -> str:
    selections = parse_networks_annotation(value, namespace)
    keep = [not target.matches(selection) for selection in selections]
    if all(keep):
        raise InvalidAnnotation(
            f"pod has no {target.reference}" + (f"@{target.interface}" if target.interface else "")
        )
    assert value is not None
    if value.strip().startswith("["):
        elements = json.loads(value)
        return json.dumps([element for element, kept in zip(elements, keep, strict=True) if kept])
    items = [item.strip() for item in value.split(",") if item.strip()]
    return ",".join(item for item, kept in zip(items, keep, strict=True) if kept)


async def _follow(
    api: ApiView,
    pod: tuple[str, str, str],
    seen: set[str],
    done: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout: float,
    target: Target,
) -> Outcome:
    """Until the pod's network-status shows the change, or a Warning not `seen` before says why not."""
    namespace, name, uid = pod
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = await api.client.request("GET", pod_path(namespace, name))
        status = _status(current)
        if done(status):
            chosen = [entry for entry in status if target.in_status(entry)]
            return Outcome(True, json.dumps(chosen or status, indent=2))
        for event in await _warnings(api, namespace, uid):
            if event["metadata"]["uid"] not in seen:
                return Outcome(False, f"{event.get('reason')}: {event.get('message')}")
        await asyncio.sleep(POLL_SECONDS)
    return Outcome(
        False,
        f"no change of pod {namespace}/{name}'s network-status in {timeout:g}s: is it running on a node "
        "whose multus-daemon has dynamicNetworks on?",
    )


def _status(pod: dict[str, Any]) -> list[dict[str, Any]]:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(NETWORK_STATUS_ANNOTATION)
    try:
        parsed = json.loads(value) if value else []
    except ValueError:
        return []
    return [entry for entry in parsed if isinstance(entry, dict)] if isinstance(parsed, list) else []


async def _warnings(api: ApiView, namespace: str, uid: str) -> list[dict[str, Any]]:
    listed = await api.client.request(
        "GET", events_path(namespace), params={"fieldSelector": f"involvedObject.uid={uid},type=Warning"}
    )
    return [event for event in listed.get("items") or [] if event.get("reason") in WARNING_REASONS]
