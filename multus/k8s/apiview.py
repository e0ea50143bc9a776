"""The real API server, asked directly: what the in-process plugin uses, and the daemon's fallback.

Timeouts and retries are settings (upstream hard-codes them and fails pods on slow API servers). The
blocking client runs in worker threads so the event loop keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from multus.cni.errors import ClusterUnavailable, InvalidConfig, UnknownContainer
from multus.k8s.view import EventType, Pod

NAD_GROUP, NAD_VERSION, NAD_PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
COMPONENT = "multus"


@dataclass(frozen=True)
class ApiSettings:
    kubeconfig: Path | None = None  # None: the pod's in-cluster service account
    request_timeout: float = 10.0  # seconds for one request
    retries: int = 3  # further attempts after a failed request or a write conflict
    retry_backoff: float = 0.2  # seconds, doubled per attempt


def make_api_client(settings: ApiSettings) -> client.ApiClient:
    try:
        if settings.kubeconfig is not None:
            loaded: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(settings.kubeconfig)
            )
            return loaded
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration)
    except (ConfigException, OSError, ValueError) as error:
        where = settings.kubeconfig or "the in-cluster service account"
        raise InvalidConfig(f"kubeconfig: cannot load {where}", str(error)) from error


SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class ApiView:
    def __init__(self, settings: ApiSettings, api: client.ApiClient | None = None) -> None:
        self.settings = settings
        self._use(api or make_api_client(settings))
        self._credentials_stamp = self._stamp()

    def _use(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def _stamp(self) -> tuple[float, int] | None:
        path = self.settings.kubeconfig or SERVICE_ACCOUNT_TOKEN
        try:
            info = path.stat()
        except OSError:
            return None
        return info.st_mtime, info.st_size

    def reload_if_changed(self) -> bool:
        """Rebuild the client when the kubeconfig (or the service-account token) changed on disk:
        rotated credentials must not leave a long-running daemon locked out."""
        stamp = self._stamp()
        if stamp is None or stamp == self._credentials_stamp:
            return False
        self._use(make_api_client(self.settings))
        self._credentials_stamp = stamp
        return True

    async def get_pod(self, namespace: str, name: str) -> Pod | None:
        obj = await self._call(f"get pod {namespace}/{name}", self._read_pod, namespace, name)
        return None if obj is None else Pod.from_object(obj)

    async def get_network(self, namespace: str, name: str) -> dict[str, Any] | None:
        what = f"get NetworkAttachmentDefinition {namespace}/{name}"
        network: dict[str, Any] | None = await self._call(what, self._read_network, namespace, name)
        return network

    async def write_network_status(self, pod: Pod, status: str) -> None:
        what = f"write network-status of pod {pod.namespace}/{pod.name}"
        await self._call(what, self._patch_status, pod, status, conflicts_retry=True)

    async def record_event(self, pod: Pod, kind: EventType, reason: str, message: str) -> None:
        what = f"record {reason} event on pod {pod.namespace}/{pod.name}"
        await self._call(what, self._create_event, pod, kind, reason, message)

    async def _call(self, what: str, fn: Any, *args: Any, conflicts_retry: bool = False) -> Any:
        """Run a blocking request in a thread, retrying failures that may pass; 404 reads as None."""
        delay = self.settings.retry_backoff
        for attempt in range(self.settings.retries + 1):
            try:
                return await asyncio.to_thread(fn, *args)
            except ApiException as error:
                if error.status == 404:
                    return None
                retriable = error.status in (429, 500, 502, 503, 504) or (
                    conflicts_retry and error.status == 409
                )
                if not retriable or attempt == self.settings.retries:
                    raise ClusterUnavailable(f"cannot {what}", f"{error.status} {error.reason}") from error
            except (HTTPError, OSError) as error:
                if attempt == self.settings.retries:
                    raise ClusterUnavailable(f"cannot {what}", str(error)) from error
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _read_pod(self, namespace: str, name: str) -> dict[str, Any]:
        # The raw reply: building the typed model only to turn it back into a dict costs more than the read.
        reply: Any = self.core.read_namespaced_pod(
            name, namespace, _preload_content=False, _request_timeout=self.settings.request_timeout
        )
        obj: dict[str, Any] = json.loads(reply.data)
        return obj

    def _read_network(self, namespace: str, name: str) -> dict[str, Any]:
        obj: Any = self.custom.get_namespaced_custom_object(
            NAD_GROUP,
            NAD_VERSION,
            namespace,
            NAD_PLURAL,
            name,
            _request_timeout=self.settings.request_timeout,
        )
        return dict(obj)

    def _patch_status(self, pod: Pod, status: str) -> None:
        """A merge patch of our annotation alone, so concurrent writers of other fields never conflict.

        Carrying the expected UID makes the patch its own precondition, without a read first: the API
        server refuses to change an object's UID, so a re-created pod (new UID) rejects it with 422.
        Mirror pods are exempt: the runtime knows the static pod's UID, not the mirror's.
        """
        meta: dict[str, Any] = {"annotations": {STATUS_ANNOTATION: status}}
        if pod.uid and MIRROR_ANNOTATION not in pod.annotations:
            meta["uid"] = pod.uid
        try:
            self.core.patch_namespaced_pod_status(
                pod.name, pod.namespace, {"metadata": meta}, _request_timeout=self.settings.request_timeout
            )
        except ApiException as error:
            if error.status == 422 and "uid" in str(error.body):
                raise UnknownContainer(
                    f"pod {pod.namespace}/{pod.name} no longer has UID {pod.uid}",
                    "the pod was deleted and re-created; not writing its network-status",
                ) from error
            raise

    def _create_event(self, pod: Pod, kind: EventType, reason: str, message: str) -> None:
        now = datetime.datetime.now(datetime.UTC)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{pod.name}.{uuid.uuid4().hex[:16]}", "namespace": pod.namespace},
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
            "firstTimestamp": now.isoformat(),
            "lastTimestamp": now.isoformat(),
            "count": 1,
        }
        event = client.CoreV1Event.model_validate(body)
        self.core.create_namespaced_event(
            pod.namespace, event, _request_timeout=self.settings.request_timeout
        )
