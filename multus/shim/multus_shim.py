#!/usr/bin/env python3
"""multus-shim: forwards one CNI request (environment + stdin) to the multus daemon's unix socket.

It prints the daemon's answer and exits 0 on success, 1 on a CNI error. When the daemon cannot be
reached it answers code 11 ("try again later") for every command, DEL included, so the runtime retries
instead of forgetting an attachment; the message names the socket and says what went wrong in words (no
errno numbers). An ADD that finds no daemon, or one that answers 503 (its caches are still syncing),
waits up to `daemonWaitSeconds` (from the CNI config, default 10) for the daemon's /readyz and is then
sent once more. VERSION is answered here, as the daemon answers it, so it works while no daemon runs.
Errors the shim makes up are in the config's cniVersion when it has one. Standard library only.
"""

from __future__ import annotations

import base64
import errno
import http.client
import json
import math
import os
import socket
import sys
import time

# The project's version (pyproject.toml), written here as this file is copied alone onto nodes.
VERSION = "0.1.0"
DEFAULT_SOCKET_DIR = "/run/multus"
DEFAULT_WAIT_SECONDS = 10.0
# What the product speaks (multus.cni.versions, which this stdlib-only file cannot import).
SUPPORTED_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
REQUEST_TIMEOUT_SECONDS = 300.0  # above the daemon's own limits: it, not we, decides when a plugin hangs
TRY_AGAIN_LATER, DECODE_FAILURE = 11, 6
NOT_READY = 503  # the daemon's answer to an ADD while its caches are still syncing
# What a request may raise: the socket's errors, and http.client's for an answer that is not HTTP.
REQUEST_ERRORS = (OSError, http.client.HTTPException)
CNI_VARIABLES = ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")
RETRY = "; the runtime will retry"  # ends every code-11 message: the runtime shows it to people
# Socket errors in words (the native shim has the same table); others get the C library's wording.
REASONS = {
    errno.ENOENT: "the socket does not exist",
    errno.ENOTDIR: "the socket does not exist",
    errno.ECONNREFUSED: "connection refused",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ECONNRESET: "connection reset",
    errno.EPIPE: "the connection was closed",
    errno.EAGAIN: "timed out",  # a full backlog, or (native) a send or receive past its timeout
}


class ShimError(Exception):
    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details


class Unreachable(OSError):
    """No connection to the daemon: nothing was sent. Worded as the socket's own error."""


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            # As bytes: a socketDir with lone surrogates (JSON "\ud800") must not raise UnicodeError.
            sock.connect(self.socket_path.encode("utf-8", "surrogatepass"))
        except OSError as error:
            sock.close()
            raise Unreachable(*error.args) from None
        self.sock = sock


def request(path: str, method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
    connection = UnixConnection(path, timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, url, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def describe(error: Exception) -> str:
    """What went wrong with a request, in words: never Python's "[Errno N] ..." form."""
    if isinstance(error, http.client.RemoteDisconnected):  # an OSError as well as an HTTPException
        return "the daemon closed the connection without an answer"
    if isinstance(error, http.client.HTTPException):
        return "the answer is not HTTP"
    if isinstance(error, OSError) and error.errno is not None:
        return REASONS.get(error.errno) or os.strerror(error.errno)
    return str(error)  # "timed out", "AF_UNIX path too long": already words


def wait_until_ready(path: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    last = "no answer"
    while True:
        try:
            status, _ = request(path, "GET", "/readyz", None, timeout=2.0)
            if status == 200:
                return
            last = f"/readyz answered {status}"
        except REQUEST_ERRORS as error:
            last = describe(error)
        if time.monotonic() >= deadline:
            raise ShimError(
                TRY_AGAIN_LATER, f"multus daemon at {path} is not ready after {limit:g}s: {last}{RETRY}"
            )
        time.sleep(0.1)


def settings(stdin: bytes) -> tuple[str, float, str]:
    """Socket path, ADD wait limit and cniVersion from the config; defaults when it is unreadable."""
    try:
        config = json.loads(stdin)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting
        config = None
    if not isinstance(config, dict):
        config = {}
    socket_dir = config.get("socketDir")
    if not isinstance(socket_dir, str) or not socket_dir:
        socket_dir = DEFAULT_SOCKET_DIR
    wait = config.get("daemonWaitSeconds", DEFAULT_WAIT_SECONDS)
    try:
        wait = float(wait) if isinstance(wait, int | float) and not isinstance(wait, bool) else math.nan
    except OverflowError:  # an integer beyond a float
        wait = math.nan
    if not math.isfinite(wait):  # NaN or Infinity (json accepts both) would wait forever
        wait = DEFAULT_WAIT_SECONDS
    version = config.get("cniVersion") if isinstance(config.get("cniVersion"), str) else LATEST_VERSION
    return os.path.join(socket_dir, "multus.sock"), wait, version or LATEST_VERSION


def forward(environ: dict[str, str], stdin: bytes) -> tuple[bytes, int]:
    """The bytes to print and the exit status."""
    path, wait, version = settings(stdin)
    if environ.get("CNI_COMMAND") == "VERSION":
        answer = {
            "cniVersion": version if version in SUPPORTED_VERSIONS else LATEST_VERSION,
            "supportedVersions": list(SUPPORTED_VERSIONS),
        }
        return json.dumps(answer).encode() + b"\n", 0
    body = json.dumps(
        {
            "env": {name: environ[name] for name in CNI_VARIABLES if name in environ},
            "config": base64.b64encode(stdin).decode(),
        }
    ).encode()
    try:
        try:
            status, reply = request(path, "POST", "/cni", body, REQUEST_TIMEOUT_SECONDS)
        except Unreachable:
            if environ.get("CNI_COMMAND") != "ADD":
                raise
            status, reply = NOT_READY, b""
        if environ.get("CNI_COMMAND") == "ADD" and status == NOT_READY:
            wait_until_ready(path, wait)  # not there yet, or its caches still syncing: then once more
            status, reply = request(path, "POST", "/cni", body, REQUEST_TIMEOUT_SECONDS)
    except OSError as error:
        raise ShimError(
            TRY_AGAIN_LATER, f"cannot reach the multus daemon at {path}: {describe(error)}{RETRY}"
        ) from None
    except http.client.HTTPException as error:  # RemoteDisconnected is an OSError: handled above
        raise ShimError(
            DECODE_FAILURE, f"multus daemon at {path} sent a malformed HTTP answer", str(error)
        ) from None
    if status == 400:
        return reply, 1
    if status != 200:
        raise ShimError(
            TRY_AGAIN_LATER,
            f"multus daemon at {path} answered HTTP {status}{RETRY}",
            reply[:200].decode(errors="replace"),
        )
    try:
        result = json.loads(reply)["Result"]
    except (ValueError, KeyError, TypeError):
        raise ShimError(DECODE_FAILURE, 'multus daemon sent an answer that is not {"Result": ...}') from None
    return (b"" if result is None else json.dumps(result).encode() + b"\n"), 0


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"multus-shim {VERSION} (python)")
        sys.exit(0)
    stdin = sys.stdin.buffer.read()
    try:
        output, status = forward(dict(os.environ), stdin)
    except ShimError as error:
        reply = {"cniVersion": settings(stdin)[2], "code": error.code, "msg": error.msg}
        if error.details:
            reply["details"] = error.details
        output, status = json.dumps(reply).encode() + b"\n", 1
    sys.stdout.buffer.write(output)
    sys.stdout.flush()
    sys.exit(status)


if __name__ == "__main__":
    main()
