"""kopf's login from the controller's credentials: what kopf builds from it reaches the real API server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.login import connection_info
from multus.kube.credentials import Credentials, load_credentials
from multus.kube.paths import pods_path
from tests.testenv import TestEnv

pytestmark = pytest.mark.e2e


async def get_as_kopf_would(credentials: Credentials, path: str) -> tuple[int, dict[str, Any]]:
    """A request with the TLS context and headers kopf derives from a login's ConnectionInfo."""
    info = connection_info(credentials)
    connector = aiohttp.TCPConnector(ssl=info.as_ssl_context())
    async with (
        aiohttp.ClientSession(connector=connector, headers=info.as_http_headers()) as session,
        session.get(info.server + path) as reply,
    ):
        return reply.status, await reply.json()


def test_files_and_inline_data_both_log_kopf_in(apiserver: TestEnv, tmp_path: Path) -> None:
    inline = apiserver.kubeconfig_copy(tmp_path / "inline.kubeconfig", inline=True)
    for kubeconfig in (apiserver.kubeconfig, inline):
        credentials = load_credentials(kubeconfig)
        status, namespace = asyncio.run(get_as_kopf_would(credentials, "/api/v1/namespaces/default"))
        assert (status, namespace["metadata"]["name"]) == (200, "default"), kubeconfig


def test_each_login_reads_the_token_file_again(controller_kubeconfig: Path, tmp_path: Path) -> None:
    """kopf logs in again after a 401: by then the kubelet may have rotated the token in the file."""
    config = json.loads(controller_kubeconfig.read_text())
    user = config["users"][0]["user"]
    token = user.pop("token")
    user["tokenFile"] = "controller.token"
    kubeconfig = tmp_path / "token.kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    token_file = tmp_path / "controller.token"
    token_file.write_text("expired\n")
    credentials = load_credentials(kubeconfig)

    assert asyncio.run(get_as_kopf_would(credentials, pods_path()))[0] == 401
    token_file.write_text(token + "\n")
    status, listed = asyncio.run(get_as_kopf_would(credentials, pods_path()))
    assert (status, listed["kind"]) == (200, "PodList")
