"""The bad-input corpus (corpus.py) through the in-process plugin and through the native shim to a real
daemon, on the real API server and plugins.

Every case must give a CNI error JSON whose msg names what is wrong, with a non-zero exit, within its
time limit, and no traceback on stdout, stderr or in the daemon's log; the runtime's DEL that follows
must succeed (unless the stdin config itself is unreadable); and nothing may be left: no interface in
the sandbox's namespace, no record, no cached result, no lease, no port on a bridge. The daemon must
answer /readyz at the end. Cases run a few at a time, each worker with a namespace of its own.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pyroute2 import netns

from tests.conftest import unique_name
from tests.e2e.daemon.support import DaemonProcess, ShimRuntime, http_status
from tests.e2e.hostile.corpus import (
    GOOD,
    Case,
    RawCase,
    annotation_cases,
    config_cases,
    env_cases,
    nad_cases,
    raw_cases,
)
from tests.e2e.meta.runtime import RESULTS_DIR, Reply, Runtime, Sandbox, next_subnet
from tests.testenv import TestEnv

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

TIMEOUT = 20.0  # seconds one invocation may take before it counts as a hang
WORKERS = 4
NAD_SUBNET = str(next_subnet())


@dataclass
class World:
    thin: Runtime
    thick: ShimRuntime
    daemon: DaemonProcess
    namespace: str
    nad_data_dir: Path
    pods: dict[str, tuple[str, str]] = field(default_factory=dict)  # case id -> (name, uid)
    good_pod: tuple[str, str] = ("", "")
    container_ids: list[str] = field(default_factory=list)

    def runtime(self, path: str) -> Runtime:
        return self.thin if path == "thin" else self.thick


@pytest.fixture(scope="module")
def world(
    *,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    cni_bin: Path,
    native_shim: Path,
    hostile_daemon: DaemonProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    root = tmp_path_factory.mktemp("hostile")
    core = client.CoreV1Api(api_client)
    namespace = unique_name("t-")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    first_netns = [unique_name("mt-"), unique_name("mt-")]
    for name in first_netns:
        netns.create(name)
    common: dict[str, Any] = {"api": api_client, "kubeconfig": apiserver.kubeconfig, "cni_bin": cni_bin}
    (root / "thin").mkdir()
    (root / "thick").mkdir()
    thin = Runtime(root=root / "thin", namespace=namespace, netns_name=first_netns[0], **common)
    thick = ShimRuntime(
        shim=native_shim,
        daemon=hostile_daemon,
        root=root / "thick",
        namespace=namespace,
        netns_name=first_netns[1],
        **common,
    )
    thin.own_netns += first_netns  # removed by cleanup, as the namespaces it makes itself
    built = World(thin, thick, hostile_daemon, namespace, root / "nad-ipam")
    thin.nad(GOOD, thin.bridge_net(GOOD).config)
    built.good_pod = _pod(built, {"k8s.v1.cni.cncf.io/networks": GOOD})
    try:
        yield built
    finally:
        for runtime in (thin, thick):
            runtime.cleanup()
        with contextlib.suppress(client.ApiException):
            core.delete_namespace(namespace)


def _pod(world: World, annotations: dict[str, str]) -> tuple[str, str]:
    """A pod on the daemon's node (the in-process plugin reads it from the API server all the same)."""
    name = unique_name("pod-")
    return name, world.thick.create_pod_object(world.namespace, name, annotations)


def _prepare(world: World, cases: list[Case]) -> None:
    """Each case's NAD and pod (cases that change neither share one pod naming `good`)."""
    for index, case in enumerate(cases):
        annotations = dict(case.annotations)
        if case.nad is not None:
            nad = f"hx-{index}-{len(world.pods)}"
            world.thin.nad(nad, case.nad)
            annotations = {"k8s.v1.cni.cncf.io/networks": nad}
        if annotations and annotations != {"k8s.v1.cni.cncf.io/networks": GOOD}:
            world.pods[case.id] = _pod(world, annotations)


# running ------------------------------------------------------------------------------------------


def invoke(runtime: Runtime, command: str, box: Sandbox, env: dict[str, str | None], body: bytes) -> Reply:
    """One invocation as the runtime makes it, killed after TIMEOUT (a hang fails the case)."""
    if isinstance(runtime, ShimRuntime):
        variables = {**runtime.shim_env(command, box), **env}
        done = subprocess.run(
            [str(runtime.shim)],
            input=body,
            env={key: value for key, value in variables.items() if value is not None},
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Reply(
            done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        )
    process = runtime.start(command, stdin=body, sandbox=box, env=env)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return Reply(process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


def _error_problems(reply: Reply, names: tuple[str, ...]) -> list[str]:
    """Why `reply` is not a CNI error naming every one of `names`."""
    try:
        body = reply.error(None)
    except (AssertionError, ValueError) as failure:
        return [f"not a CNI error: {failure}"]
    return [f"msg lacks {name!r}: {body['msg'][:300]}" for name in names if name not in body["msg"]]


def _clean_del(reply: Reply, must_succeed: bool) -> list[str]:
    if must_succeed and reply.status != 0:
        return [f"DEL failed: {reply.stdout[:300]}"]
    if reply.status != 0:
        return _error_problems(reply, ())
    return [f"traceback in DEL: {reply.stderr[-300:]}"] if "Traceback" in reply.stdout + reply.stderr else []


def run_case(world: World, path: str, case: Case, namespace_name: str) -> list[str]:
    runtime = world.runtime(path)
    name, uid = world.pods.get(case.id, world.good_pod)
    box = Sandbox(world.namespace, name, uid, namespace_name)
    world.container_ids.append(box.container_id)
    body = case.stdin if case.stdin is not None else json.dumps(runtime.multus_config(**case.config)).encode()
    problems = []
    try:
        added = invoke(runtime, "ADD", box, case.env, body)
        problems += [f"ADD: {problem}" for problem in _error_problems(added, case.fields)]
        # The runtime's DEL: the in-process plugin's only where its input differs from a plain DEL's
        # (which the shim's DEL, the same code in the daemon, covers for every case), to save time.
        deleted = None
        if path == "thick" or case.env or case.config or case.stdin is not None:
            del_env = {key: value for key, value in case.env.items() if key != "CNI_COMMAND"}
            deleted = invoke(runtime, "DEL", box, del_env, body)
    except subprocess.TimeoutExpired as hang:
        return [f"hung: {hang}"]
    if deleted is not None:
        problems += [f"DEL: {problem}" for problem in _clean_del(deleted, case.del_succeeds)]
    problems += [f"left in the namespace: {link}" for link in runtime.links(box)]
    return problems


def run_all(world: World, jobs: list[tuple[str, str, Callable[[str], list[str]]]]) -> dict[str, list[str]]:
    """Runs `jobs` ((path, case id, run given a namespace)) on WORKERS threads, each with a network
    namespace of its own (made here, before any thread starts); the problems by `path: case id`."""
    pending: queue.Queue[tuple[str, str, Callable[[str], list[str]]]] = queue.Queue()
    for job in jobs:
        pending.put(job)
    found: dict[str, list[str]] = {}
    names = [unique_name("mt-") for _ in range(WORKERS)]
    for name in names:
        netns.create(name)

    def work(namespace_name: str) -> None:
        while True:
            try:
                path, case_id, run = pending.get_nowait()
            except queue.Empty:
                return
            try:
                problems = run(namespace_name)
            except Exception as error:  # a harness failure is reported with its case
                problems = [f"harness: {type(error).__name__}: {error}"]
            if problems:
                found[f"{path}: {case_id}"] = problems

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for name in names:
            netns.remove(name)
    return found


def leftovers(world: World) -> list[str]:
    """What any case left on the node: records, cached results, leases, bridge ports."""
    # Files starting with a dot are the daemon's spare files, made ahead for records to come.
    records = [path for runtime in (world.thin, world.thick) for path in _files(runtime.cni_dir)]
    found = [f"record {path}" for path in records if not path.name.startswith(".")]
    cached = _files(RESULTS_DIR)
    found += [
        f"cached result {path}" for path in cached if any(cid in path.name for cid in world.container_ids)
    ]
    leases = [path for runtime in (world.thin, world.thick) for path in _files(runtime.ipam_dir)]
    found += [f"lease {path}" for path in leases if path.name[0].isdigit() or ":" in path.name]
    found += [
        f"bridge port {port}" for runtime in (world.thin, world.thick) for port in runtime.bridge_ports()
    ]
    return found


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else []


def daemon_trouble(daemon: DaemonProcess) -> list[str]:
    problems = [f"daemon log: {line[:200]}" for line in daemon.unstructured_lines()]
    problems += [
        f"daemon traceback: {line.get('msg')}: {line.get('error')}"
        for line in daemon.log_lines()
        if "traceback" in line
    ]
    if daemon.readyz() != 200:
        problems.append(f"daemon not ready afterwards: /readyz {daemon.readyz()}")
    return problems


def check_cases(world: World, cases: list[Case]) -> None:
    assert len(cases) == len({case.id for case in cases})
    _prepare(world, cases)
    jobs = [
        (
            path,
            case.id,
            lambda namespace_name, path=path, case=case: run_case(world, path, case, namespace_name),
        )
        for case in cases
        for path in ("thin", "thick")
        if path == "thin" or case.thick
    ]
    found = run_all(world, jobs)
    assert found == {}, "\n".join(f"{case}: {problems}" for case, problems in sorted(found.items()))
    assert leftovers(world) == []
    assert daemon_trouble(world.daemon) == []


# the tests ---------------------------------------------------------------------------------------


def test_annotations(world: World) -> None:
    check_cases(world, annotation_cases())


def test_network_attachment_definition_configs(world: World) -> None:
    check_cases(world, nad_cases(NAD_SUBNET, str(world.nad_data_dir)))


def test_cni_environment(world: World) -> None:
    check_cases(world, env_cases())


def test_stdin_configs(world: World) -> None:
    check_cases(world, config_cases())


def test_raw_socket_requests(world: World) -> None:
    found = {}
    for case in raw_cases():
        problems = _raw_problems(world.daemon.socket_path, case)
        if problems:
            found[case.id] = problems
    assert found == {}
    assert daemon_trouble(world.daemon) == []


def _raw_problems(socket_path: Path, case: RawCase) -> list[str]:
    try:
        answer = exchange(socket_path, case.data, half_close=case.half_close)
    except OSError as error:
        return [f"no answer: {error}"]
    status = http_status(answer)
    problems = [] if status == case.status else [f"status {status}, not {case.status}"]
    body = answer.partition(b"\r\n\r\n")[2]
    try:
        error = json.loads(body)
    except ValueError:
        return [*problems, f"body is not JSON: {body[:200]!r}"]
    if not isinstance(error, dict) or not isinstance(error.get("code"), int) or not error.get("msg"):
        return [*problems, f"not a CNI error: {body[:200]!r}"]
    return problems + [
        f"msg lacks {name!r}: {error['msg'][:300]}" for name in case.fields if name not in error["msg"]
    ]


def exchange(socket_path: Path, data: bytes, *, half_close: bool) -> bytes:
    """Sends `data` as it is and reads one whole answer (by its Content-Length), within TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(str(socket_path))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before all was read
            sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while time.monotonic() < deadline:
            head, separator, body = answer.partition(b"\r\n\r\n")
            if separator and len(body) >= _content_length(head):
                return answer
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk
    raise TimeoutError(f"no whole answer within {TIMEOUT:g}s: {answer[:200]!r}")


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_the_corpus_is_large_enough() -> None:
    cases = annotation_cases() + nad_cases(NAD_SUBNET, "/x") + env_cases() + config_cases()
    assert len(cases) + len(raw_cases()) >= 300
