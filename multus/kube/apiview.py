"""The real API server, asked directly: what the in-process plugin uses, and the daemon's fallback.

Timeouts and retries are settings (upstream hard-codes them and fails pods on slow API servers).
"""

from __future__ import annotations

import asyncio
import datetime
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from multus.cni.errors import ClusterUnavailable, InvalidConfig, UnknownContainer
from multus.k8s.constants import MIRROR_ANNOTATION, NETWORK_STATUS_ANNOTATION
from multus.k8s.view import EventType, Pod
from multus.kube.backoff import Backoff
from multus.kube.credentials import ConfigError, Credentials, load_credentials
from multus.kube.errors import ApiError, Conflict, Invalid, NotFound, Unavailable
from multus.kube.paths import events_path, nad_path, pod_path, pod_status_path
from multus.kube.rest import MERGE_PATCH, RestClient, Transport

COMPONENT = "multus"

T = TypeVar("T")


@dataclass(frozen=True)
class ApiSettings:
    kubeconfig: Path | None = None  # None: the pod's in-cluster service account
    request_timeout: float = 10.0  # seconds for one request
    retries: int = 3  # further attempts after a failed request or a write conflict
    retry_backoff: float = 0.2  # seconds, doubled per attempt


def _load(settings: ApiSettings) -> Credentials:
    try:
        return load_credentials(settings.kubeconfig)
    except ConfigError as error:
        raise InvalidConfig(f"kubeconfig: {error}") from error


class ApiView:
    def __init__(self, settings: ApiSettings, transport: Transport | None = None) -> None:
        """`transport`: see `multus.kube.rest.RestClient`."""
        self.settings = settings
        credentials = _load(settings)
        self.client = RestClient(credentials, settings.request_timeout, transport)
        self._credentials_stamp = self._stamp()

    def _stamp(self) -> tuple[tuple[float, int], ...]:
        stamps = []
        for path in self.client.credentials.sources:
            try:
                info = path.stat()
            except OSError:
                continue
            stamps.append((info.st_mtime, info.st_size))
        return tuple(stamps)

    def reload_if_changed(self) -> bool:
        """Load the credentials again when their files changed on disk: rotated credentials must not
        leave a long-running daemon locked out."""
        stamp = self._stamp()
        if stamp == self._credentials_stamp:
            return False
        self.client.credentials = _load(self.settings)
        self._credentials_stamp = stamp
        return True

    async def close(self) -> None:
        await self.client.close()

    async def get_pod(self, namespace: str, name: str, *, fresh: bool = False) -> Pod | None:
        """Always fresh: nothing is cached here."""
        obj = await self._call(f"get pod {namespace}/{name}", lambda: self._get(pod_path(namespace, name)))
        return None if obj is None else Pod.from_object(obj)

    async def get_network(self, namespace: str, name: str) -> dict[str, Any] | None:
        what = f"get NetworkAttachmentDefinition {namespace}/{name}"
        return await self._call(what, lambda: self._get(nad_path(namespace, name)))

    async def write_network_status(self, pod: Pod, status: str | None) -> None:
        """A merge patch of our annotation alone (null removes it), so concurrent writers of other
        fields never conflict.

        Carrying the expected UID makes the patch its own precondition, without a read first: the API
        server refuses to change an object's UID, so a re-created pod (new UID) rejects it as `Invalid`
        in `metadata.uid`. Mirror pods are exempt: the runtime knows the static pod's UID, not the mirror's.
        """
        meta: dict[str, Any] = {"annotations": {NETWORK_STATUS_ANNOTATION: status}}
        if pod.uid and MIRROR_ANNOTATION not in pod.annotations:
            meta["uid"] = pod.uid

        async def patch() -> dict[str, Any]:
            try:
                return await self.client.request(
                    "PATCH",
                    pod_status_path(pod.namespace, pod.name),
                    body={"metadata": meta},
                    content_type=MERGE_PATCH,
                )
            except Invalid as error:
                if "metadata.uid" not in error.fields:
                    raise
                raise UnknownContainer(
                    f"pod {pod.namespace}/{pod.name} no longer has UID {pod.uid}",
                    "the pod was deleted and re-created; not writing its network-status",
                ) from error

        await self._call(f"write network-status of pod {pod.namespace}/{pod.name}", patch)

    async def record_event(self, pod: Pod, kind: EventType, reason: str, message: str) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{pod.name}.{os.urandom(8).hex()}", "namespace": pod.namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": pod.namespace,
                "name": pod.name,
                "uid": pod.uid,
            },
            "type": kind,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        what = f"record {reason} event on pod {pod.namespace}/{pod.name}"
        await self._call(what, lambda: self.client.request("POST", events_path(pod.namespace), body=body))

    async def _get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.client.request("GET", path)
        except NotFound:
            return None

    async def _call(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run a request, retrying failures that may pass (write conflicts, throttling, server errors,
        lost connections)."""
        # Unjittered: a request's retries are few and short, and the setting says how long they wait.
        backoff = Backoff(self.settings.retry_backoff, math.inf, jitter=0.0)
        for number in range(self.settings.retries + 1):
            try:
                return await attempt()
            except (Conflict, Unavailable) as error:
                if number == self.settings.retries:
                    raise ClusterUnavailable(f"cannot {what}", str(error)) from error
            except ApiError as error:
                raise ClusterUnavailable(f"cannot {what}", str(error)) from error
            await asyncio.sleep(backoff.next())
        raise AssertionError("unreachable: the last attempt returns or raises")
