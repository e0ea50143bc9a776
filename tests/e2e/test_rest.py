"""The project's own API client against the real API server: each kind of credential, the typed errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from multus.kube.credentials import ConfigError, load_credentials
from multus.kube.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from multus.kube.rest import MERGE_PATCH, RestClient, Transport
from multus.kube.transport_aiohttp import AiohttpTransport
from multus.kube.transport_stdlib import StdlibTransport
from tests.testenv import TestEnv

pytestmark = pytest.mark.e2e

# The daemon's transport and the in-process plugin's: every test here runs with each.
TRANSPORTS: dict[str, Callable[[], Transport]] = {"aiohttp": AiohttpTransport, "stdlib": StdlibTransport}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> Callable[[], Transport]:
    return TRANSPORTS[request.param]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def fetch(kubeconfig: Path, path: str, transport: Callable[[], Transport]) -> dict[str, Any]:
    rest = RestClient(load_credentials(kubeconfig), timeout=5, transport=transport())
    try:
        return await rest.request("GET", path)
    finally:
        await rest.close()


def test_client_certificate_files(apiserver: TestEnv, transport: Callable[[], Transport]) -> None:
    answer = run(fetch(apiserver.kubeconfig, "/api/v1/namespaces/default", transport))
    assert answer["metadata"]["name"] == "default"


def test_inline_certificate_data(
    apiserver: TestEnv, tmp_path: Path, transport: Callable[[], Transport]
) -> None:
    inline = apiserver.kubeconfig_copy(tmp_path / "inline.kubeconfig", inline=True)
    assert run(fetch(inline, "/api/v1/namespaces/default", transport))["kind"] == "Namespace"


def test_bearer_token_of_a_service_account(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    transport: Callable[[], Transport],
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[f"https://127.0.0.1:{apiserver.api_port}"])
    )
    token = core.create_namespaced_service_account_token("reader", namespace, request).status.token
    config = json.loads(apiserver.kubeconfig.read_text())
    config["users"][0]["user"] = {"tokenFile": "reader.token"}
    (tmp_path / "reader.token").write_text(token)
    kubeconfig = tmp_path / "token.kubeconfig"
    kubeconfig.write_text(json.dumps(config))

    # Authenticated as the service account, which RBAC allows nothing: 403, not 401.
    with pytest.raises(Forbidden) as denied:
        run(fetch(kubeconfig, f"/api/v1/namespaces/{namespace}/pods", transport))
    assert denied.value.status == 403
    assert f"system:serviceaccount:{namespace}:reader" in denied.value.body

    (tmp_path / "reader.token").write_text("not-a-token")  # read again on every request
    with pytest.raises(Forbidden) as unknown:
        run(fetch(kubeconfig, f"/api/v1/namespaces/{namespace}/pods", transport))
    assert unknown.value.status == 401


def test_error_answers_raise_their_class(
    apiserver: TestEnv, namespace: str, transport: Callable[[], Transport]
) -> None:
    async def scenario() -> None:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5, transport=transport())
        configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
        try:
            with pytest.raises(NotFound) as absent:
                await rest.request("GET", f"{configmaps}/absent")
            assert absent.value.status == 404
            assert absent.value.details == {"name": "absent", "kind": "configmaps"}

            body = {"metadata": {"name": "c1"}}
            created = await rest.request("POST", configmaps, body=body)
            with pytest.raises(Conflict, match="409"):
                await rest.request("POST", configmaps, body=body)

            # A UID is immutable: a patch carrying another one is refused in that field.
            with pytest.raises(Invalid) as refused:
                await rest.request(
                    "PATCH", f"{configmaps}/c1", body={"metadata": {"uid": "other"}}, content_type=MERGE_PATCH
                )
            assert refused.value.fields == {"metadata.uid"}
            stored = await rest.request("GET", f"{configmaps}/c1")
            assert stored["metadata"]["uid"] == created["metadata"]["uid"]
        finally:
            await rest.close()

    run(scenario())


def test_no_answer_is_unavailable_without_a_status(
    apiserver: TestEnv, tmp_path: Path, transport: Callable[[], Transport]
) -> None:
    closed = apiserver.kubeconfig_copy(tmp_path / "closed.kubeconfig", server="https://127.0.0.1:1")

    with pytest.raises(Unavailable) as unreachable:
        run(fetch(closed, "/api/v1/namespaces/default", transport))
    assert unreachable.value.status is None
    assert "127.0.0.1:1" in str(unreachable.value)


def test_watch_streams_events(
    apiserver: TestEnv, api_client: client.ApiClient, namespace: str, transport: Callable[[], Transport]
) -> None:
    async def scenario() -> list[tuple[str, str]]:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5, transport=transport())
        listed = await rest.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")
        seen: list[tuple[str, str]] = []

        async def follow() -> None:
            params = {"resourceVersion": listed["metadata"]["resourceVersion"]}
            async for event in rest.watch(
                f"/api/v1/namespaces/{namespace}/configmaps", params, idle_seconds=30
            ):
                seen.append((event["type"], event["object"]["metadata"]["name"]))
                if len(seen) == 2:
                    return

        watching = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        core = client.CoreV1Api(api_client)
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1"))
        await asyncio.to_thread(core.create_namespaced_config_map, namespace, body)
        await asyncio.to_thread(core.delete_namespaced_config_map, "c1", namespace)
        await asyncio.wait_for(watching, 20)
        await rest.close()
        return seen

    assert run(scenario()) == [("ADDED", "c1"), ("DELETED", "c1")]


def test_bad_kubeconfigs_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match="absent"):
        load_credentials(missing)
    plugin = tmp_path / "exec.kubeconfig"
    plugin.write_text(
        json.dumps(
            {
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"exec": {"command": "aws"}}}],
            }
        )
    )
    with pytest.raises(ConfigError, match="credential plugin"):
        load_credentials(plugin)
    no_context = tmp_path / "nocontext.kubeconfig"
    no_context.write_text(json.dumps({"current-context": "x", "contexts": []}))
    with pytest.raises(ConfigError, match="no entry 'x' in contexts"):
        load_credentials(no_context)
