"""The daemon's socket itself: its permissions, garbage of every kind (a 400 with a CNI error, and the
daemon keeps serving), and configs of several MB through both shims."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from multus.shim.multus_shim import request as unix_request
from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.daemon.support import (
    DaemonProcess,
    ShimRuntime,
    http_body,
    http_status,
    raw_exchange,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

DEL_ENV = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "mpy-garbage", "CNI_IFNAME": "eth0"}
VERSION_STDIN = json.dumps({"cniVersion": "1.0.0", "name": "x"}).encode()


def post(body: bytes) -> bytes:
    """A well-formed HTTP request carrying `body` to POST /cni."""
    head = (
        f"POST /cni HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def wire(env: Any, config: Any) -> bytes:
    return json.dumps({"env": env, "config": config}).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_still_serving(daemon: DaemonProcess) -> None:
    """The daemon answers a good request after the bad one."""
    status, reply = unix_request(
        str(daemon.socket_path), "POST", "/cni", wire({"CNI_COMMAND": "VERSION"}, b64(VERSION_STDIN)), 10.0
    )
    assert status == 200, reply
    assert json.loads(reply)["Result"]["cniVersion"] == "1.0.0"


def test_socket_is_0600_in_a_0700_folder(shared_daemon: DaemonProcess) -> None:
    folder, sock = shared_daemon.socket_dir.stat(), shared_daemon.socket_path.stat()

    assert stat.S_ISDIR(folder.st_mode)
    assert stat.S_IMODE(folder.st_mode) == 0o700
    assert stat.S_ISSOCK(sock.st_mode)
    assert stat.S_IMODE(sock.st_mode) == 0o600
    assert (sock.st_uid, folder.st_uid) == (0, 0)


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        (b"garbage", 6, "body"),
        (b"\xff\xfe\x00 not utf-8", 6, "body"),
        (b"[1, 2]", 6, "body"),
        (wire({"CNI_COMMAND": "VERSION"}, "%%% not base64 %%%"), 6, "config"),
        (json.dumps({"config": b64(VERSION_STDIN)}).encode(), 6, "env"),
        (wire({"CNI_COMMAND": "VERSION"}, None), 6, "config"),
        (wire({"CNI_COMMAND": 7}, b64(VERSION_STDIN)), 6, "env.CNI_COMMAND"),
        (wire([], b64(VERSION_STDIN)), 6, "env: Input should be an object"),
        (b'{"env": {}, "config": "", "env": {}}', 6, "names the key 'env' twice"),
        (
            json.dumps({"env": DEL_ENV, "config": b64(VERSION_STDIN), "interfaceAttributes": 5}).encode(),
            6,
            "interfaceAttributes: Input should be an object",
        ),
        (wire({}, b64(VERSION_STDIN)), 4, "CNI_COMMAND"),
        (wire({"CNI_COMMAND": "EXPLODE"}, b64(VERSION_STDIN)), 4, "EXPLODE"),
        (wire(DEL_ENV, b64(b"{not json")), 6, "JSON"),
        (wire(DEL_ENV, b64(b"[" * 5000)), 6, "nests deeper"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-an-object",
        "bad-base64",
        "missing-env",
        "config-not-a-string",
        "env-value-not-a-string",
        "env-not-an-object",
        "repeated-key",
        "attributes-not-an-object",
        "missing-command",
        "unknown-command",
        "stdin-not-json",
        "stdin-nested-too-deep",
    ],
)
def test_garbage_request_is_a_400_cni_error_and_the_daemon_keeps_serving(
    shared_daemon: DaemonProcess, body: bytes, code: int, named: str
) -> None:
    answer = raw_exchange(shared_daemon.socket_path, post(body))

    assert http_status(answer) == 400, answer
    error = json.loads(http_body(answer))
    assert set(error) <= {"cniVersion", "code", "msg", "details"}
    assert error["code"] == code, error
    assert named in error["msg"] + error.get("details", ""), error
    assert_still_serving(shared_daemon)


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\x00\xff\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),  # a TLS client hello
        b"POST /cni HTTP/1.1\r\nHost: localhost\r\nContent-Length: many\r\n\r\n{}",
        b"POST /cni HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /cni HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",  # HTTP/1.1 without Host
    ],
    ids=["binary", "tls-hello", "bad-content-length", "bad-chunk", "no-host"],
)
def test_http_garbage_is_a_400_and_the_daemon_keeps_serving(
    shared_daemon: DaemonProcess, data: bytes
) -> None:
    """What is not HTTP is refused before any handler runs: a 400 with a CNI error saying what was
    wrong, and the connection is closed. The daemon's log stays one JSON object per line."""
    answer = raw_exchange(shared_daemon.socket_path, data)

    assert http_status(answer) == 400, answer
    error = json.loads(http_body(answer))
    assert error["code"] == 6, error
    assert error["msg"].startswith("HTTP request: "), error
    assert_still_serving(shared_daemon)
    assert shared_daemon.unstructured_lines() == []


def test_unknown_paths_and_methods_are_refused(shared_daemon: DaemonProcess) -> None:
    for method, url, status in (("GET", "/nothing", 404), ("GET", "/cni", 405), ("DELETE", "/readyz", 405)):
        assert unix_request(str(shared_daemon.socket_path), method, url, None, 5.0)[0] == status
    assert unix_request(str(shared_daemon.socket_path), "GET", "/healthz", None, 5.0) == (
        200,
        b'{"healthy": true}',
    )
    assert_still_serving(shared_daemon)


def test_each_request_is_one_structured_log_line(shared_daemon: DaemonProcess) -> None:
    container = "mpy-log-line-check"
    before = len(shared_daemon.log_lines())

    raw_exchange(shared_daemon.socket_path, post(wire({**DEL_ENV, "CNI_CONTAINERID": container}, "%")))

    def logged() -> list[dict[str, Any]]:  # written once the answer is out
        return [line for line in shared_daemon.log_lines()[before:] if line.get("container") == container]

    wait_for("the request's log line", logged)
    time.sleep(0.2)  # and no second line
    lines = logged()
    assert len(lines) == 1, lines
    assert lines[0]["msg"] == "request"
    assert lines[0]["command"] == "DEL"
    assert lines[0]["result"] == "error 6"
    assert "config" in lines[0]["error"]


def padded(config: dict[str, Any], size: int) -> bytes:
    """`config` with an extra key that makes its JSON `size` bytes long."""
    base = len(json.dumps({**config, "padding": ""}).encode())
    return json.dumps({**config, "padding": "x" * (size - base)}).encode()


def test_a_config_of_several_megabytes_goes_through_where_the_limit_allows_it(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    rt = runtime_for(start_daemon(maxRequestBytes=16 * 1024 * 1024))
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    rt.pod("blue")
    stdin = padded(rt.multus_config(), 6_000_000)
    assert len(stdin) == 6_000_000

    result = rt.add(stdin=stdin)

    assert sorted(rt.links()) == ["eth0", "net1"]
    assert result["ips"]
    rt.check(stdin=stdin)
    rt.delete(stdin=stdin)
    assert rt.leftovers() == []


def test_a_config_beyond_the_request_limit_is_a_cni_error(rt: ShimRuntime) -> None:
    rt.pod()
    stdin = padded(rt.multus_config(), 1_000_000)  # 1.3 MB once base64-encoded: over the default 1 MiB

    error = rt.run("ADD", stdin=stdin).error(6)

    assert "larger than 1048576 bytes" in error["msg"]
    assert rt.leftovers() == []
    assert_still_serving(rt.daemon)


def resident_bytes(daemon: DaemonProcess) -> int:
    assert daemon.process is not None
    status = Path(f"/proc/{daemon.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kilobytes) * 1024


def test_a_stdin_of_many_megabytes_is_refused_unread_and_costs_the_daemon_no_memory(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    daemon = start_daemon()
    rt = runtime_for(daemon)
    rt.pod()
    assert_still_serving(daemon)  # the request path warmed up before the first measure
    before = resident_bytes(daemon)

    for _ in range(3):
        error = rt.run("ADD", stdin=padded(rt.multus_config(), 20_000_000)).error(6)
        assert "larger than 1048576 bytes" in error["msg"]

    # Read and decoded, 27 MB of base64 would leave tens of MB behind (the allocator keeps what it held).
    assert resident_bytes(daemon) - before < 8 * 1024 * 1024
    assert_still_serving(daemon)
    assert rt.leftovers() == []
