"""The daemon's socket server, its own HTTP/1.1 parser against h11's, behind the same asyncio.Protocol.

Both servers (multus.daemon.http.HTTPServer and benchmarks.h11_server.H11Server) run at once, each in a
process of its own on its own unix socket, with the same routes and trivial handlers: POST /cni answers
a pod's CNI result, GET /healthz `{"healthy": true}`. A client in this process, blocking sockets and no
HTTP library, sends the same mix to each in interleaved rounds (the order swaps every round): a POST /cni
with the body a shim sends for an ADD and a GET /healthz, each on a connection of its own as the shims
do and one after the other on a connection kept open. It prints, per server and kind, the median and
p95 time from connecting (or sending, on a kept connection) to the whole answer, and requests/s as this
one client gets them; per server, the CPU time its process spent per request; and the lines of code
each way takes to read and write HTTP.

Usage: python -m benchmarks.bench_http [--rounds N] [--requests N]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import base64
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.h11_server import H11Server
from benchmarks.support import emit, percentile, summary
from multus.daemon.http import HTTPServer, Request
from tests.testenv import REPO

SERVERS = ("ours", "h11")
KINDS = (
    "POST /cni, one per connection",
    "GET /healthz, one per connection",
    "POST /cni, kept",
    "GET /healthz, kept",
)
WARMUP_ROUNDS = 2
MAX_BODY = 16 * 1024 * 1024
DAEMON = REPO / "multus" / "daemon"

# What the daemon answers an ADD with: a pod's result, cluster network plus two attachments.
RESULT = {
    "cniVersion": "1.1.0",
    "interfaces": [
        {"name": name, "mac": f"0a:58:0a:f4:00:0{index}", "sandbox": "/var/run/netns/cni-0123"}
        for index, name in enumerate(("eth0", "net1", "net2"), start=1)
    ],
    "ips": [
        {"address": f"10.{index}.0.5/24", "gateway": f"10.{index}.0.1", "interface": index}
        for index in range(3)
    ],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
    "dns": {},
}
# What the native shim sends for an ADD: the CNI variables and the runtime's stdin, base64.
STDIN = json.dumps(
    {
        "cniVersion": "1.1.0",
        "name": "multus-cni-network",
        "type": "multus-shim",
        "socketDir": "/run/multus",
        "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
    }
).encode()
BODY = json.dumps(
    {
        "env": {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": "b0c3f1a2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f",
            "CNI_NETNS": "/var/run/netns/cni-6c4a2b1e-0f3d-4c5b-9a8e-7d6c5b4a3f2e",
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
            "K8S_POD_INFRA_CONTAINER_ID=b0c3f1a2d4e5f607;K8S_POD_UID=3f2e1d0c-b4a5-4c6d-8e7f-9a0b1c2d3e4f",
            "CNI_PATH": "/opt/cni/bin",
        },
        "config": base64.b64encode(STDIN).decode(),
    }
).encode()


def head(method: str, path: str, body: bytes | None, *, close: bool) -> bytes:
    """A request as the native shim writes it."""
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Accept-Encoding: identity"]
    if body is not None:
        lines += [f"Content-Length: {len(body)}", "Content-Type: application/json"]
    if close:
        lines.append("Connection: close")
    return "\r\n".join([*lines, "", ""]).encode() + (body or b"")


REQUESTS = {
    KINDS[0]: head("POST", "/cni", BODY, close=True),
    KINDS[1]: head("GET", "/healthz", None, close=True),
    KINDS[2]: head("POST", "/cni", BODY, close=False),
    KINDS[3]: head("GET", "/healthz", None, close=False),
}


# the servers ------------------------------------------------------------------------------------


async def serve(kind: str, path: str) -> None:
    """One server until stdin closes; prints `ready` and its CPU seconds so far when it listens, then its
    CPU seconds and its count of answers."""

    async def cni(request: Request) -> None:
        request.respond(200, {"Result": RESULT})

    async def healthz(request: Request) -> None:
        request.respond(200, {"healthy": True})

    answered = [0]

    def count(method: str, path: str, status: int) -> None:
        answered[0] += 1

    server_type = H11Server if kind == "h11" else HTTPServer
    server = server_type(
        {"/cni": {"POST": cni}, "/healthz": {"GET": healthz}}, max_body=MAX_BODY, answered=count
    )
    await server.start(path)
    print("ready", time.process_time(), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.close(1.0)
    print(json.dumps({"cpu_seconds": time.process_time(), "answered": answered[0]}), flush=True)


@contextmanager
def server_process(kind: str, path: Path) -> Iterator[Callable[[], dict[str, Any]]]:
    """A server in a process of its own; yields what stops it and returns the CPU time it spent serving
    and its count of answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_http", "--serve", kind, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    started = process.stdout.readline().split()
    try:
        if started[:1] != ["ready"]:
            raise SystemExit(f"the {kind} server did not start")

        def stop() -> dict[str, Any]:
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.close()
            report: dict[str, Any] = json.loads(process.stdout.readline())
            report["cpu_seconds"] -= float(started[1])  # what serving took, not starting
            return report

        yield stop
    finally:
        process.kill()
        process.wait()


# the client -------------------------------------------------------------------------------------


def read_answer(sock: socket.socket, pending: bytearray) -> bytes:
    """One whole answer (its body by Content-Length) from `sock`; bytes after it stay in `pending`."""
    while (end := pending.find(b"\r\n\r\n")) < 0:
        pending += receive(sock)
    length = 0
    for line in bytes(pending[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    while len(pending) < end + 4 + length:
        pending += receive(sock)
    answer = bytes(pending[: end + 4 + length])
    del pending[: end + 4 + length]
    if not answer.startswith(b"HTTP/1.1 200 "):
        raise SystemExit(f"unexpected answer: {answer[:200]!r}")
    return answer


def receive(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        raise SystemExit("the server closed the connection before answering")
    return data


def one_per_connection(path: Path, request: bytes, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            sock.sendall(request)
            read_answer(sock, bytearray())
            if sock.recv(1):  # the server closes after the answer, as asked
                raise SystemExit("the server kept a connection asked to close")
        samples.append(time.perf_counter() - started)
    return samples


def kept(path: Path, request: bytes, count: int) -> list[float]:
    samples = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        pending = bytearray()
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(request)
            read_answer(sock, pending)
            samples.append(time.perf_counter() - started)
    return samples


def round_of(path: Path, count: int) -> dict[str, list[float]]:
    return {
        kind: (kept if kind.endswith("kept") else one_per_connection)(path, REQUESTS[kind], count)
        for kind in KINDS
    }


# lines of code ----------------------------------------------------------------------------------

# What multus.daemon.http_wire and multus.daemon.http hold only to read and write HTTP, by file; the
# rest (server, Request, dispatch, connection lifecycle, refusals) the h11 variant shares.
OUR_PARSER = {
    "http_wire.py": (
        "_TOKEN",
        "_METHOD_LETTERS",
        "_LONGEST_METHOD",
        "_REQUEST_LINE",
        "_CHUNK_SIZE",
        "_CONTROL",
        "_LENGTH_DIGITS",
        "_CONTINUE",
        "_Head",
        "_shown",
        "_hopeless",
        "_take_head",
        "_read_length",
        "_read_chunks",
        "_response",
    ),
    "http.py": (
        "_Connection.data_received",
        "_Connection.eof_received",
        "_Connection._parse",
        "_Connection._answerer",
        "_Connection._handled",
        "_Connection._refuse",
    ),
}
# What the h11 variant adds to read and write HTTP with h11 in their place.
H11_GLUE = ("_METHOD", "H11Connection")


def code_lines(path: Path, names: tuple[str, ...]) -> int:
    """Lines that hold code (not blank, not only a comment, not a docstring) in the named top-level
    definitions and methods (`Class.method`) of `path`."""
    source = path.read_text()
    tree = ast.parse(source)
    docstrings = {
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and ast.get_docstring(node, clean=False) is not None
        for line in range(node.body[0].lineno, (node.body[0].end_lineno or 0) + 1)
    }
    spans: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        for name, child in [(None, node), *_members(node)]:
            label = _label(child) if name is None else f"{name}.{_label(child)}"
            if label in names:
                spans[label] = (child.lineno, child.end_lineno or child.lineno)
    if missing := set(names) - set(spans):  # renamed: the list here must follow
        raise SystemExit(f"{path.name} has no {', '.join(sorted(missing))}")
    lines = source.splitlines()
    counted = {
        number
        for start, end in spans.values()
        for number in range(start, end + 1)
        if number not in docstrings
        and lines[number - 1].strip()
        and not lines[number - 1].strip().startswith("#")
    }
    return len(counted)


def _members(node: ast.stmt) -> list[tuple[str, ast.stmt]]:
    return [(node.name, child) for child in node.body] if isinstance(node, ast.ClassDef) else []


def _label(node: ast.stmt) -> str:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return ""


# the run ----------------------------------------------------------------------------------------


def run(rounds: int, requests: int, folder: Path) -> None:
    samples: dict[str, dict[str, list[float]]] = {server: {kind: [] for kind in KINDS} for server in SERVERS}
    sockets = {server: folder / f"{server}.sock" for server in SERVERS}
    with ExitStack() as stack:
        stops = {server: stack.enter_context(server_process(server, sockets[server])) for server in SERVERS}
        for number in range(WARMUP_ROUNDS + rounds):
            order = SERVERS if number % 2 == 0 else SERVERS[::-1]
            for server in order:
                measured = round_of(sockets[server], requests)
                if number >= WARMUP_ROUNDS:
                    for kind, taken in measured.items():
                        samples[server][kind] += taken
        reports = {server: stop() for server, stop in stops.items()}
    sent = (WARMUP_ROUNDS + rounds) * requests * len(KINDS)
    for server in SERVERS:
        if reports[server]["answered"] != sent:
            raise SystemExit(f"{server}: {reports[server]['answered']} answers to {sent} requests")
    figures: dict[str, dict[str, dict[str, float]]] = {server: {} for server in SERVERS}
    for kind in KINDS:
        for server in SERVERS:
            taken = samples[server][kind]
            figures[server][kind] = {
                "median_us": round(statistics.median(taken) * 1e6, 1),
                "p95_us": round(percentile(taken, 0.95) * 1e6, 1),
                "requests_per_s": round(len(taken) / sum(taken)),
            }
        ours, theirs = figures["ours"][kind], figures["h11"][kind]
        emit(
            {
                "bench": f"daemon socket HTTP: {kind}",
                "rounds": rounds,
                "requests_per_round": requests,
                **{
                    f"{server}_{key}": value
                    for server in SERVERS
                    for key, value in figures[server][kind].items()
                },
                "h11_over_ours_median": round(theirs["median_us"] / ours["median_us"], 3),
            }
        )
    cpu = {server: reports[server]["cpu_seconds"] / sent * 1e6 for server in SERVERS}
    lines = {
        "ours": sum(code_lines(DAEMON / name, names) for name, names in OUR_PARSER.items()),
        "h11": code_lines(REPO / "benchmarks" / "h11_server.py", H11_GLUE),
    }
    emit(
        {
            "bench": "daemon socket HTTP: server CPU and code",
            "requests": sent,
            "ours_cpu_us_per_request": round(cpu["ours"], 1),
            "h11_cpu_us_per_request": round(cpu["h11"], 1),
            "ours_http_code_lines": lines["ours"],
            "h11_http_code_lines": lines["h11"],
            "http_py_lines": sum(len((DAEMON / name).read_text().splitlines()) for name in OUR_PARSER),
        }
    )
    summary(
        "median per request, ours vs h11: "
        + ", ".join(
            f"{kind} {figures['ours'][kind]['median_us']} vs {figures['h11'][kind]['median_us']} us"
            for kind in KINDS
        )
        + f"; server CPU per request {cpu['ours']:.0f} vs {cpu['h11']:.0f} us;"
        f" code lines reading and writing HTTP {lines['ours']} vs {lines['h11']} (+ h11 itself)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="of each kind, per round and server")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "SOCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(*args.serve))
        return
    with tempfile.TemporaryDirectory(prefix="multus-bench-http-") as folder:
        run(args.rounds, args.requests, Path(folder))


if __name__ == "__main__":
    main()
