"""The project's own API client against the real API server: each kind of credential, the typed errors,
answers in chunks, watches that end, fall silent or break; and against a loopback server, what no API
server does: closing a kept connection, answering garbage, cutting a watch mid-event."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from multus.kube.credentials import ConfigError, Credentials, load_credentials
from multus.kube.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from multus.kube.rest import MERGE_PATCH, RestClient
from tests.testenv import TestEnv

pytestmark = pytest.mark.e2e


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def fetch(kubeconfig: Path, path: str) -> dict[str, Any]:
    rest = RestClient(load_credentials(kubeconfig), timeout=5)
    try:
        return await rest.request("GET", path)
    finally:
        await rest.close()


def test_client_certificate_files(apiserver: TestEnv) -> None:
    answer = run(fetch(apiserver.kubeconfig, "/api/v1/namespaces/default"))
    assert answer["metadata"]["name"] == "default"


def test_inline_certificate_data(apiserver: TestEnv, tmp_path: Path) -> None:
    inline = apiserver.kubeconfig_copy(tmp_path / "inline.kubeconfig", inline=True)
    assert run(fetch(inline, "/api/v1/namespaces/default"))["kind"] == "Namespace"


def test_bearer_token_of_a_service_account(
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    tmp_path: Path,
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
        run(fetch(kubeconfig, f"/api/v1/namespaces/{namespace}/pods"))
    assert denied.value.status == 403
    assert f"system:serviceaccount:{namespace}:reader" in denied.value.body

    (tmp_path / "reader.token").write_text("not-a-token")  # read again on every request
    with pytest.raises(Forbidden) as unknown:
        run(fetch(kubeconfig, f"/api/v1/namespaces/{namespace}/pods"))
    assert unknown.value.status == 401


def test_error_answers_raise_their_class(apiserver: TestEnv, namespace: str) -> None:
    async def scenario() -> None:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
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


def test_one_client_serves_one_event_loop_after_another(apiserver: TestEnv) -> None:
    """Kept connections belong to the loop that opened them: the next loop opens its own."""
    rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
    names = [run(rest.request("GET", "/api/v1/namespaces/default"))["metadata"]["name"] for _ in range(2)]
    run(rest.close())
    assert names == ["default", "default"]


RELOADING = """
import asyncio, os, sys
from pathlib import Path
from multus.kube.credentials import load_credentials
from multus.kube.rest import RestClient

def sockets():
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:  # the listing's own descriptor is gone by now
            found += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return found

async def main():
    rest = RestClient(load_credentials(Path(sys.argv[1])), timeout=5)
    for _ in range(6):
        rest.credentials = load_credentials(Path(sys.argv[1]))
        await rest.request("GET", "/api/v1/namespaces/default")
        print(sockets())
    await rest.close()

asyncio.run(main())
"""


def test_reloaded_credentials_leave_no_connection_behind(apiserver: TestEnv) -> None:
    """Credentials loaded again (rotated files) bring a new TLS context: the connections kept for the old
    one are closed, not left open beside the new ones. Counted in a process of its own, where no other
    socket comes or goes."""
    done = subprocess.run(
        [sys.executable, "-c", RELOADING, str(apiserver.kubeconfig)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    open_sockets = [int(line) for line in done.stdout.split()]
    assert open_sockets == [open_sockets[0]] * 6


IN_TURN = """
import asyncio, os, sys
from pathlib import Path
from multus.kube.credentials import load_credentials
from multus.kube.rest import RestClient
from multus.kube.transport_asyncio import AsyncioTransport

def sockets():
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return found

async def main(connections):
    before = sockets()
    transport = AsyncioTransport(connections)
    rest = RestClient(load_credentials(Path(sys.argv[1])), timeout=5, transport=transport)
    answers = await asyncio.gather(*(rest.request("GET", "/api/v1/namespaces/default") for _ in range(5)))
    print(sockets() - before, sorted({answer["metadata"]["name"] for answer in answers}))
    await rest.close()

asyncio.run(main(None if sys.argv[2] == "any" else int(sys.argv[2])))
"""


@pytest.mark.parametrize("connections", ["1", "any"])
def test_requests_wait_their_turn_for_a_connection(apiserver: TestEnv, connections: str) -> None:
    """Five requests at once over a transport allowed one connection share one; without a limit each
    opens its own (pooled up to POOL_SIZE). Counted in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", IN_TURN, str(apiserver.kubeconfig), connections],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    opened, names = done.stdout.split(" ", 1)
    assert names.strip() == "['default']"
    assert int(opened) == 1 if connections == "1" else int(opened) > 1


def test_no_answer_is_unavailable_without_a_status(apiserver: TestEnv, tmp_path: Path) -> None:
    closed = apiserver.kubeconfig_copy(tmp_path / "closed.kubeconfig", server="https://127.0.0.1:1")

    with pytest.raises(Unavailable) as unreachable:
        run(fetch(closed, "/api/v1/namespaces/default"))
    assert unreachable.value.status is None
    assert "127.0.0.1:1" in str(unreachable.value)


def test_watch_streams_events(apiserver: TestEnv, api_client: client.ApiClient, namespace: str) -> None:
    async def scenario() -> list[tuple[str, str]]:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
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


def test_a_large_answer_comes_whole(apiserver: TestEnv, namespace: str) -> None:
    """An answer larger than the server buffers comes in chunks; several requests share a connection."""
    payload = {f"key{index}": "x" * 1000 + str(index) for index in range(300)}

    async def scenario() -> list[dict[str, Any]]:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=10)
        configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
        try:
            await rest.request("POST", configmaps, body={"metadata": {"name": "big"}, "data": payload})
            return [await rest.request("GET", f"{configmaps}/big") for _ in range(3)]
        finally:
            await rest.close()

    answers = run(scenario())
    assert [answer["data"] for answer in answers] == [payload] * 3


def test_a_watch_the_server_ends_ends(apiserver: TestEnv, namespace: str) -> None:
    async def scenario() -> list[dict[str, Any]]:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
        try:
            params = {"timeoutSeconds": "1"}
            return [
                event async for event in rest.watch(f"/api/v1/namespaces/{namespace}/configmaps", params, 30)
            ]
        finally:
            await rest.close()

    events = run(asyncio.wait_for(scenario(), 20))
    # The namespace's root CA ConfigMap is there already: a watch from no resourceVersion lists it.
    assert [event["type"] for event in events] == ["ADDED"] * len(events)


def test_a_silent_watch_is_unavailable(apiserver: TestEnv, namespace: str) -> None:
    async def scenario() -> None:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
        secrets = f"/api/v1/namespaces/{namespace}/secrets"
        try:
            listed = await rest.request("GET", secrets)
            params = {"resourceVersion": listed["metadata"]["resourceVersion"]}
            async for event in rest.watch(secrets, params, idle_seconds=0.5):
                raise AssertionError(f"an event in an empty namespace: {event}")
        finally:
            await rest.close()

    with pytest.raises(Unavailable) as silent:
        run(asyncio.wait_for(scenario(), 20))
    assert silent.value.status is None


def test_a_watch_of_nothing_raises_its_error(apiserver: TestEnv) -> None:
    async def scenario() -> None:
        rest = RestClient(load_credentials(apiserver.kubeconfig), timeout=5)
        try:
            async for _ in rest.watch("/apis/example.com/v1/widgets", {}, idle_seconds=5):
                pass
        finally:
            await rest.close()

    with pytest.raises(NotFound):
        run(scenario())


class Misbehaving:
    """A loopback server that answers each connection's first request with `answer`, then does what
    `then` says: "close" the connection, or "hang" without a byte more. For what no API server does."""

    def __init__(self, answer: bytes, then: str = "close") -> None:
        self.answer, self.then = answer, then
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.answer)
        await writer.drain()
        if self.then == "hang":
            await asyncio.sleep(30)
        writer.close()

    async def client(self) -> tuple[asyncio.Server, RestClient]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        return server, RestClient(Credentials(f"http://127.0.0.1:{port}", False), 2)


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"n": "ok"}'


def test_a_kept_connection_the_server_closed_is_replaced() -> None:
    async def scenario() -> list[dict[str, Any]]:
        fake = Misbehaving(OK)
        server, rest = await fake.client()
        try:
            first = await rest.request("GET", "/a")
            await asyncio.sleep(0.2)  # the server has closed the connection kept for reuse
            return [first, await rest.request("GET", "/b"), {"connections": fake.connections}]
        finally:
            await rest.close()
            server.close()

    assert run(scenario()) == [{"n": "ok"}, {"n": "ok"}, {"connections": 2}]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", id="not-http"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}", id="body-cut-short"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", id="bad-chunk"),
    ],
)
def test_a_garbled_answer_is_unavailable(answer: bytes) -> None:
    async def scenario() -> None:
        server, rest = await Misbehaving(answer).client()
        try:
            await rest.request("GET", "/a")
        finally:
            await rest.close()
            server.close()

    with pytest.raises(Unavailable) as garbled:
        run(scenario())
    assert garbled.value.status is None


def test_a_watch_cut_mid_event_is_unavailable() -> None:
    event = b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}\n'
    cut = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(event):x}\r\n".encode()
        + event
        + b"\r\n"
        + b'40\r\n{"type": "MODI'
    )

    async def scenario(then: str) -> list[str]:
        server, rest = await Misbehaving(cut, then).client()
        seen: list[str] = []
        try:
            async for change in rest.watch("/w", {}, idle_seconds=1):
                seen.append(change["object"]["metadata"]["name"])
        finally:
            assert seen == ["a"]
            await rest.close()
            server.close()
        return seen

    for then in ("close", "hang"):
        with pytest.raises(Unavailable):
            run(asyncio.wait_for(scenario(then), 10))


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
