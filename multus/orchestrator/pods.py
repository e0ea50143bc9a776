"""The pod a request is for, as the runtime names it in CNI_ARGS, and whether the node is ready for it."""

from __future__ import annotations

import asyncio
import time

from multus.attachment_cache import ContainerRecord
from multus.cni.environment import CNIEnvironment
from multus.cni.errors import TryAgainLater, UnknownContainer
from multus.config import MultusConfig
from multus.k8s.view import MIRROR_ANNOTATION, ClusterView, Pod

POD_NAMESPACE_ARG, POD_NAME_ARG, POD_UID_ARG = "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID"


def pod_of(env: CNIEnvironment) -> tuple[str, str]:
    """(namespace, name) of the pod the runtime names in CNI_ARGS; empty when it names none."""
    args = env.args_dict
    return args.get(POD_NAMESPACE_ARG, ""), args.get(POD_NAME_ARG, "")


def pod_uid_of(env: CNIEnvironment) -> str:
    return env.args_dict.get(POD_UID_ARG, "")


def same_pod(pod: Pod, expected_uid: str) -> bool:
    """Whether `pod` is the one the runtime means: its UID, when the runtime names one. A mirror pod
    carries its own UID, not the static pod's that the runtime knows."""
    return not expected_uid or pod.uid == expected_uid or MIRROR_ANNOTATION in pod.annotations


def pod_ref(record: ContainerRecord) -> str:
    return f"{record.pod_namespace}/{record.pod_name}" if record.pod_name else ""


async def find_pod(view: ClusterView | None, env: CNIEnvironment) -> Pod | None:
    """The pod the runtime names; None when it names none or there is no cluster. A pod missing, or
    re-created under another UID, is an unknown container."""
    namespace, name = pod_of(env)
    if not name or view is None:
        return None
    pod = await view.get_pod(namespace, name)
    if pod is None:
        raise UnknownContainer(f"pod {namespace}/{name} not found")
    expected = pod_uid_of(env)
    if not same_pod(pod, expected):
        raise UnknownContainer(
            f"pod {namespace}/{name} has UID {pod.uid}, the runtime asked for {expected}",
            "the pod was deleted and re-created",
        )
    return pod


async def wait_until_ready(config: MultusConfig) -> None:
    """Until the readiness indicator file exists, if the config names one; try again later if it does
    not appear in time."""
    indicator = config.readiness_indicator_file
    if indicator is None:
        return
    limit = config.readiness_timeout
    deadline = time.monotonic() + limit
    while not indicator.exists():
        if time.monotonic() >= deadline:
            raise TryAgainLater(
                f"readinessindicatorfile {indicator} did not appear in {limit:g}s",
                "the cluster network is not ready yet",
            )
        await asyncio.sleep(0.1)
