"""Reading the cluster: the daemon config's ConfigMap, the NADs and pods, the nodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multus.kube.credentials import ConfigError, load_credentials
from multus.kube.errors import ApiError, NotFound, Unavailable
from multus.kube.paths import NODES_PATH, config_map_path, nads_path, pods_path
from multus.kube.rest import RestClient

DEFAULT_CONFIG_MAP = "kube-system/multus-daemon-config"
DEFAULT_CONFIG_KEY = "daemon-config.json"
PAGE_SIZE = "500"


@dataclass(frozen=True)
class Snapshot:
    """What was read from the cluster."""

    config_map: str  # namespace/name
    config_text: str | None  # the daemon config's JSON text; None when there is no such ConfigMap
    networks: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    nodes: list[dict[str, Any]]


class PreflightError(Exception):
    """The cluster cannot be read; the message is one line saying why."""


@dataclass(frozen=True)
class Sources:
    kubeconfig: Path | None  # None: the pod's service account
    config_map: str = DEFAULT_CONFIG_MAP  # namespace/name
    config_key: str = DEFAULT_CONFIG_KEY
    namespaces: tuple[str, ...] = ()  # NADs and pods of these only; empty: every namespace
    request_timeout: float = 10.0


async def gather(sources: Sources) -> Snapshot:
    try:
        credentials = load_credentials(sources.kubeconfig)
    except ConfigError as error:
        raise PreflightError(str(error)) from None
    client = RestClient(credentials, sources.request_timeout)
    try:
        return Snapshot(
            config_map=sources.config_map,
            config_text=await _config_text(client, sources),
            networks=await _list_each(client, "NetworkAttachmentDefinitions", nads_path, sources.namespaces),
            pods=await _list_each(client, "pods", pods_path, sources.namespaces),
            nodes=await _list(client, "nodes", NODES_PATH),
        )
    except Unavailable as error:
        raise PreflightError(f"cannot reach the API server {credentials.server}: {error}") from None
    finally:
        await client.close()


async def _config_text(client: RestClient, sources: Sources) -> str | None:
    namespace, _, name = sources.config_map.partition("/")
    try:
        config_map = await client.request("GET", config_map_path(namespace, name))
    except NotFound:
        return None
    except Unavailable:
        raise  # `gather` names the server
    except ApiError as error:
        raise PreflightError(f"cannot read ConfigMap {sources.config_map}: {error}") from None
    text = (config_map.get("data") or {}).get(sources.config_key)
    if not isinstance(text, str):
        raise PreflightError(f"ConfigMap {sources.config_map} has no key {sources.config_key}")
    return text


async def _list_each(
    client: RestClient, what: str, path: Callable[[str | None], str], namespaces: Sequence[str]
) -> list[dict[str, Any]]:
    """The objects at `path` of each namespace in `namespaces`, or of all namespaces when it is empty."""
    if not namespaces:
        return await _list(client, what, path(None))
    return [item for ns in namespaces for item in await _list(client, what, path(ns))]


async def _list(client: RestClient, what: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"limit": PAGE_SIZE, **({"continue": token} if token else {})}
        try:
            page = await client.request("GET", path, params=params)
        except Unavailable:
            raise  # `gather` names the server
        except ApiError as error:
            raise PreflightError(f"cannot list {what}: {error}") from None
        items += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items
