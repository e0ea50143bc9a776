"""`multus-controller uninstall`: take back what the controller left in the cluster.

Run it after the controller's Deployment is gone (a running replica would add its finalizers again),
with credentials that may delete the webhook configuration and patch every NAD (an administrator's,
not the controller's ServiceAccount). It deletes the ValidatingWebhookConfiguration first, so no
admission call goes to a controller that is no longer there, then removes from every NAD the
deletion-protection finalizer and kopf's bookkeeping annotations under our prefix. NADs, their
`status` and the CRD stay: the node side needs the NADs, and the status is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.protection import FINALIZER
from controller.runner import PREFIX
from controller.settings import Settings
from multus.kube.apiview import ApiSettings, ApiView
from multus.kube.errors import ApiError, Conflict, Invalid, NotFound
from multus.kube.paths import nad_path, nads_path, webhook_configuration_path
from multus.kube.rest import RestClient

JSON_PATCH = "application/json-patch+json"
PAGE_SIZE = 500
# A NAD changed between our read and our patch is read again, this many times.
ATTEMPTS = 5


@dataclass(frozen=True)
class Uninstalled:
    webhook_configuration_deleted: bool
    nads_cleaned: tuple[str, ...]  # namespace/name of each NAD we changed


def cleanup_patch(nad: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch removing our finalizer and annotations from `nad`; empty when it carries neither.

    Each removal is preceded by a test of the value it removes, so a NAD changed since it was read is
    refused (and read again) rather than losing someone else's finalizer.
    """
    metadata = nad.get("metadata") or {}
    patch: list[dict[str, Any]] = []
    finalizers = metadata.get("finalizers") or []
    # Removing from the end keeps the earlier indices valid.
    for index in reversed(range(len(finalizers))):
        if finalizers[index] == FINALIZER:
            path = f"/metadata/finalizers/{index}"
            patch += [{"op": "test", "path": path, "value": FINALIZER}, {"op": "remove", "path": path}]
    for key in sorted(metadata.get("annotations") or {}):
        if key.startswith(f"{PREFIX}/"):
            patch.append({"op": "remove", "path": "/metadata/annotations/" + _pointer_token(key)})
    return patch


async def uninstall(api: RestClient, webhook_configuration: str) -> Uninstalled:
    deleted = True
    try:
        await api.request("DELETE", webhook_configuration_path(webhook_configuration))
    except NotFound:
        deleted = False
    cleaned = []
    for nad in await _all_nads(api):
        if await _clean(api, nad):
            cleaned.append(f"{nad['metadata']['namespace']}/{nad['metadata']['name']}")
    return Uninstalled(deleted, tuple(cleaned))


def main(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(
        prog="multus-controller uninstall",
        description="Delete the controller's webhook configuration and remove its finalizer and "
        "annotations from every NAD. Stop the controller first. Credentials come from KUBECONFIG.",
    )
    parser.add_argument(
        "--webhook-configuration",
        default=Settings().webhook_configuration,
        help="the ValidatingWebhookConfiguration to delete; default %(default)s",
    )
    args = parser.parse_args(list(argv))
    kubeconfig = environ.get("KUBECONFIG")
    api = ApiView(ApiSettings(kubeconfig=Path(kubeconfig) if kubeconfig else None))

    async def run() -> Uninstalled:
        try:
            return await uninstall(api.client, args.webhook_configuration)
        finally:
            await api.close()

    try:
        done = asyncio.run(run())
    except ApiError as error:
        print(f"multus-controller uninstall: {error}", file=sys.stderr)
        return 1
    state = "deleted" if done.webhook_configuration_deleted else "was already absent"
    print(f"webhook configuration {args.webhook_configuration} {state}")
    print(f"finalizer and annotations removed from {len(done.nads_cleaned)} NAD(s)")
    for name in done.nads_cleaned:
        print(f"  {name}")
    return 0


async def _all_nads(api: RestClient) -> list[dict[str, Any]]:
    nads: list[dict[str, Any]] = []
    params = {"limit": str(PAGE_SIZE)}
    while True:
        page = await api.request("GET", nads_path(), params=params)
        nads += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return nads
        params = {"limit": str(PAGE_SIZE), "continue": token}


async def _clean(api: RestClient, nad: dict[str, Any]) -> bool:
    path = nad_path(nad["metadata"]["namespace"], nad["metadata"]["name"])
    for attempt in range(ATTEMPTS):
        patch = cleanup_patch(nad)
        if not patch:
            return False
        try:
            await api.request("PATCH", path, body=patch, content_type=JSON_PATCH)
        except NotFound:
            return False
        except (Conflict, Invalid):  # a failed test: the NAD changed since we read it
            if attempt == ATTEMPTS - 1:
                raise
            try:
                nad = await api.request("GET", path)
            except NotFound:
                return False
        else:
            return True
    return False


def _pointer_token(key: str) -> str:
    """`key` as one JSON-pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
