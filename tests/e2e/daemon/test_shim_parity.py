"""The two shims answer alike: for the same environment, stdin and daemon answer they send the daemon
the same request and give the runtime the same answer with the same exit status. What defines both is
the socket API and CNI's error object (docs/reference.md, sections 8 and 6.2), not Python's json: the
request bodies and the printed answers are compared as parsed JSON (the native shim writes non-ASCII
text as UTF-8 where Python writes \\u escapes), and the native shim's output must be valid UTF-8 JSON.

The daemon answers here come from `ScriptedPeer`, a unix-socket server that replays given bytes: a real
daemon never sends a truncated, chunked, non-HTTP or non-JSON answer, and the shims must still handle
one. Where the two differ by definition (the wording of an HTTP parse error; JSON that Python's json
reads beyond RFC 8259) the test says so and compares everything else.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multus.shim.multus_shim import request as unix_request
from tests.e2e.daemon.support import PYTHON_SHIM, DaemonProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

Piece = bytes | float  # bytes to send, or seconds to wait before the next piece
READY = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"ready": true}'
DEL_ENV = {
    "CNI_COMMAND": "DEL",
    "CNI_CONTAINERID": "mpy-parity",
    "CNI_NETNS": "/var/run/netns/nowhere",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod",
    "CNI_PATH": "/opt/cni/bin",
}


@dataclass
class Received:
    request_line: bytes
    headers: dict[bytes, bytes]
    body: bytes


@dataclass
class ScriptedPeer:
    """Answers each connection with the next script (pieces of bytes and pauses), then closes it.
    Requests to /readyz get `ready` instead, without using up a script."""

    folder: Path
    scripts: list[Sequence[Piece]]
    ready: Sequence[Piece] = (READY,)
    received: list[Received] = field(default_factory=list)
    readiness_polls: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.folder / "multus.sock"))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed: the test is over
            with conn:
                conn.settimeout(30)
                received = self._read(conn)
                if received.request_line.startswith(b"GET /readyz "):
                    self.readiness_polls += 1
                    script = self.ready
                else:
                    self.received.append(received)
                    script = self.scripts.pop(0) if self.scripts else ()
                for piece in script:
                    if isinstance(piece, bytes):
                        conn.sendall(piece)
                    else:
                        time.sleep(piece)

    @staticmethod
    def _read(conn: socket.socket) -> Received:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in lines[1:] if b": " in line)
        length = int(headers.get(b"Content-Length", b"0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return Received(lines[0], headers, body)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone would not)
        self.sock.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def peer_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "peer"
    folder.mkdir()
    return folder


@dataclass
class Outcome:
    status: int
    stdout: bytes
    stderr: bytes

    def answer(self) -> Any:
        """What the runtime reads: the output as JSON (strict UTF-8), None when there is none."""
        return json.loads(self.stdout.decode()) if self.stdout else None

    def error(self) -> dict[str, Any]:
        loaded: dict[str, Any] = self.answer()
        return loaded


def same_answer(python: Outcome, native: Outcome) -> None:
    assert (native.status, native.answer()) == (python.status, python.answer())


def run_shim(shim: Path, stdin: bytes, env: Mapping[str, str | bytes], timeout: float = 60.0) -> Outcome:
    environment: dict[str | bytes, str | bytes] = {"PATH": "/usr/bin:/bin", **env}
    done = subprocess.run(
        [str(shim)],
        input=stdin,
        env=environment,  # type: ignore[arg-type]  # bytes values: what a runtime may really pass
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def both(
    native_shim: Path,
    folder: Path,
    scripts: Sequence[Sequence[Piece]],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str | bytes] = DEL_ENV,
    ready: Sequence[Piece] = (READY,),
) -> tuple[Outcome, Outcome, list[Received]]:
    """Each shim against a peer playing `scripts`; their outcomes and what the peer received."""
    stdin = (
        stdin if stdin is not None else json.dumps({"cniVersion": "1.0.0", "socketDir": str(folder)}).encode()
    )
    outcomes, received = [], []
    for shim in (PYTHON_SHIM, native_shim):
        peer = ScriptedPeer(folder, [list(script) for script in scripts], ready)
        try:
            outcomes.append(run_shim(shim, stdin, env))
        finally:
            peer.close()
            (folder / "multus.sock").unlink()
        received += peer.received
    for outcome in outcomes:
        assert b"Traceback" not in outcome.stderr, outcome.stderr.decode(errors="replace")
    return outcomes[0], outcomes[1], received


def http(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "mac": "0a:58:0a:f4:00:05", "sandbox": "/var/run/netns/x"}],
    "ips": [{"address": "10.244.0.5/24", "gateway": "10.244.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.0.1"}],
    "dns": {"nameservers": ["10.0.0.10"], "search": ["café.example", "\u2603", "\U0001f600", "\ud800"]},
    "mtu": 1.5e3,
    "big": 2**70,
    "nested": [[[], {}], None, True, False, -0.0, 'tab\tquote"slash\\nul\u0000'],
}
DAEMON_ANSWER = json.dumps({"Result": RESULT}).encode()  # exactly how the daemon writes it
PRINTED = json.dumps(RESULT).encode() + b"\n"  # exactly what the Python shim prints
CNI_ERROR = b'{"cniVersion": "1.0.0", "code": 7, "msg": "bad"}'


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ([http("200 OK", DAEMON_ANSWER)], PRINTED),
        ([http("200 OK", b'{"Result": null}')], b""),
        ([http("200 OK", b'{"Result": 1, "Result": [2]}')], b"[2]\n"),  # json: the last key wins
        ([http("200 OK", DAEMON_ANSWER)[:40], 0.2, http("200 OK", DAEMON_ANSWER)[40:]], PRINTED),
        (
            [bytes([byte]) for byte in http("200 OK", DAEMON_ANSWER)[:120]]
            + [http("200 OK", DAEMON_ANSWER)[120:]],
            PRINTED,
        ),
        (
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"%x\r\n%s\r\n" % (10, DAEMON_ANSWER[:10]),
                0.1,
                b"%x;ext=1\r\n%s\r\n" % (len(DAEMON_ANSWER) - 10, DAEMON_ANSWER[10:]),
                b"0\r\n\r\n",
            ],
            PRINTED,
        ),
        ([b"HTTP/1.0 200 OK\r\n\r\n" + DAEMON_ANSWER], PRINTED),  # no length: the body runs to the close
        ([b"HTTP/1.1 100 Continue\r\n\r\n", http("200 OK", DAEMON_ANSWER)], PRINTED),
        ([http("400 Bad Request", CNI_ERROR)], CNI_ERROR),  # printed as it came, exit 1
        ([http("400 Bad Request", b"")], b""),
        ([http("200 OK", b"not json")], 6),
        ([http("200 OK", b'{"result": {}}')], 6),
        ([http("200 OK", b"[1, 2]")], 6),
        ([http("200 OK", b'{"Result": 1} trailing')], 6),
        ([http("200 OK", b'{"Result": "\xff"}')], 6),
        ([http("500 Internal Server Error", b"caf\xc3\xa9 \xe2\x82 \xff" + b"x" * 300)], 11),
        ([http("503 Service Unavailable", b"")], 11),
        ([], 11),  # closed without a word
    ],
    ids=[
        "result",
        "null",
        "duplicate-key",
        "pause",
        "byte-by-byte",
        "chunked",
        "http-1.0-to-close",
        "100-continue",
        "cni-error",
        "empty-error",
        "not-json",
        "no-result-key",
        "not-an-object",
        "trailing-garbage",
        "invalid-utf8",
        "http-500-long-body",
        "http-503",
        "hang-up",
    ],
)
def test_both_shims_print_the_same_for_the_same_answer(
    native_shim: Path, peer_dir: Path, script: list[Piece], expected: bytes | int
) -> None:
    """`expected`: the exact output of a success (or of a 400, printed as it is), or the CNI error code
    the shims make up themselves."""
    python, native, _ = both(native_shim, peer_dir, [script])

    same_answer(python, native)
    if isinstance(expected, bytes):
        assert python.stdout == expected
        refused = any(isinstance(piece, bytes) and piece.startswith(b"HTTP/1.1 400 ") for piece in script)
        assert python.status == (1 if refused else 0)
    else:
        assert python.status == 1
        error = python.error()
        assert (error["code"], error["cniVersion"]) == (expected, "1.0.0")
        if expected == 11:  # what the runtime shows: where, that it retries, and no errno
            assert f"{peer_dir}/multus.sock" in error["msg"], error
            assert error["msg"].endswith("; the runtime will retry"), error
            assert "Errno" not in json.dumps(error), error
        else:
            assert "Result" in error["msg"], error


@pytest.mark.parametrize(
    "script",
    [
        [b"SSH-2.0-OpenSSH_9.2\r\n"],
        [b"HTTP/2 200\r\n\r\n{}"],
        [b"HTTP/1.1 20x OK\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + DAEMON_ANSWER],
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort"],
    ],
    ids=["not-http", "http-2", "bad-status", "cut-short", "chunk-cut-short"],
)
def test_both_shims_refuse_an_answer_that_is_not_http_with_code_6(
    native_shim: Path, peer_dir: Path, script: list[Piece]
) -> None:
    """Same code and message; `details` quote the parse error, which each HTTP client words its way."""
    python, native, _ = both(native_shim, peer_dir, [script])

    assert python.status == native.status == 1
    errors = [python.error(), native.error()]
    for error in errors:
        assert error["code"] == 6
        assert error["msg"] == f"multus daemon at {peer_dir}/multus.sock sent a malformed HTTP answer"
        assert error["details"]
    assert {key: value for key, value in errors[0].items() if key != "details"} == {
        key: value for key, value in errors[1].items() if key != "details"
    }


@pytest.mark.parametrize(
    "answer",
    [b'\xef\xbb\xbf{"Result": "bom"}', b'{"Result": NaN}', b'{"Result": "\xed\xa0\x80"}'],
    ids=["bom", "nan", "encoded-surrogate"],
)
def test_an_answer_only_python_reads_is_code_6_from_the_native_shim(
    native_shim: Path, peer_dir: Path, answer: bytes
) -> None:
    """Beyond RFC 8259 the two differ by definition: Python's json reads a BOM, NaN and encoded
    surrogates, the native shim reads JSON and says code 6, never printing what a runtime could not read."""
    python, native, _ = both(native_shim, peer_dir, [[http("200 OK", answer)]])

    assert python.status == 0
    assert native.status == 1
    error = native.error()
    assert (error["code"], error["cniVersion"]) == (6, "1.0.0")
    assert "Result" in error["msg"]


@pytest.mark.parametrize(
    "config",
    [
        *({"cniVersion": version} for version in ("0.1.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")),
        {"cniVersion": "0.5.0"},  # not one we speak: answered in the latest
        {"cniVersion": 1},
        {},
        b"not json",
        b"",
    ],
    ids=["0.1.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", "unknown", "not-a-string", "none", "not-json", "empty"],
)
def test_both_shims_answer_version_as_the_daemon_does_without_asking_it(
    native_shim: Path, shared_daemon: DaemonProcess, peer_dir: Path, config: dict[str, Any] | bytes
) -> None:
    """Each shim prints exactly what a daemon's /cni answers to VERSION for the same stdin (its
    `Result`, printed as a shim prints one), without a word to the socket the config names."""
    stdin = (
        config if isinstance(config, bytes) else json.dumps({**config, "socketDir": str(peer_dir)}).encode()
    )
    asked = {"env": {"CNI_COMMAND": "VERSION"}, "config": base64.b64encode(stdin).decode()}
    status, reply = unix_request(
        str(shared_daemon.socket_path), "POST", "/cni", json.dumps(asked).encode(), 30
    )
    assert status == 200
    daemons = json.dumps(json.loads(reply)["Result"]).encode() + b"\n"

    peer = ScriptedPeer(peer_dir, [])
    try:
        outcomes = [run_shim(shim, stdin, {"CNI_COMMAND": "VERSION"}) for shim in (PYTHON_SHIM, native_shim)]
    finally:
        peer.close()

    assert [(outcome.status, outcome.stdout) for outcome in outcomes] == [(0, daemons)] * 2
    assert (peer.received, peer.readiness_polls) == ([], 0)


def test_both_shims_send_the_same_request(native_shim: Path, peer_dir: Path) -> None:
    env: dict[str, str | bytes] = {
        "CNI_COMMAND": "CHECK",
        "CNI_CONTAINERID": 'c"quote\\back',
        "CNI_NETNS": "/var/run/netns/caf\u00e9-\u2603-\U0001f600",
        "CNI_IFNAME": b"bad\xff\xfeutf8\xed\xa0\x80",  # not UTF-8: Python sends surrogate escapes
        "CNI_ARGS": "K8S_POD_NAME=a\tb\x01\x7f",
        "UNRELATED": "not forwarded",
    }
    stdin = json.dumps({"cniVersion": "0.4.0", "socketDir": str(peer_dir), "name": "n\u00e9"}).encode()

    python, native, received = both(
        native_shim, peer_dir, [[http("200 OK", b'{"Result": null}')]] * 2, stdin=stdin, env=env
    )

    assert (python.status, native.status) == (0, 0)
    assert len(received) == 2
    assert json.loads(received[0].body) == json.loads(received[1].body.decode())
    for request in received:
        assert request.request_line == b"POST /cni HTTP/1.1"
        assert request.headers[b"Content-Type"] == b"application/json"
        assert int(request.headers[b"Content-Length"]) == len(request.body)
        assert request.headers[b"Host"] == b"localhost"
    sent = json.loads(received[0].body)
    assert list(sent["env"]) == ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"]
    assert sent["env"]["CNI_IFNAME"] == "bad\udcff\udcfeutf8\udced\udca0\udc80"
    assert sent["config"] == base64.b64encode(stdin).decode()


@pytest.mark.parametrize("extra", [0, 1, 2, 5_000_000])
def test_both_shims_send_any_stdin_as_base64(native_shim: Path, peer_dir: Path, extra: int) -> None:
    """Every length modulo 3 (base64 padding), multi-byte UTF-8, and 5 MB."""
    text = "".join(chr(code) for code in range(0x20, 0xD800)) * (1 + extra // 100_000)
    config = {"socketDir": str(peer_dir), "padding": text[: 1000 + extra]}
    stdin = json.dumps(config, ensure_ascii=False).encode()

    python, native, received = both(
        native_shim, peer_dir, [[http("200 OK", b'{"Result": null}')]] * 2, stdin=stdin
    )

    assert (python.status, native.status) == (0, 0)
    assert json.loads(received[0].body) == json.loads(received[1].body)
    assert json.loads(received[0].body)["config"] == base64.b64encode(stdin).decode()


def add_through(shim: Path, peer: ScriptedPeer, stdin: bytes) -> Outcome:
    """One ADD through `shim` against `peer`, which is closed afterwards."""
    try:
        return run_shim(shim, stdin, {**DEL_ENV, "CNI_COMMAND": "ADD"})
    finally:
        peer.close()
        (peer.folder / "multus.sock").unlink()


def test_add_to_a_ready_daemon_goes_straight_to_it(native_shim: Path, peer_dir: Path) -> None:
    stdin = json.dumps({"socketDir": str(peer_dir)}).encode()
    for shim in (PYTHON_SHIM, native_shim):
        peer = ScriptedPeer(peer_dir, [[http("200 OK", DAEMON_ANSWER)]])
        outcome = add_through(shim, peer, stdin)
        assert (outcome.status, outcome.stdout) == (0, PRINTED), outcome
        assert (len(peer.received), peer.readiness_polls) == (1, 0)


@pytest.mark.parametrize(
    ("ready", "why"),
    [
        ([http("503 Service Unavailable", b'{"ready": false}')], "/readyz answered 503"),
        ([b"garbage\r\n\r\n"], "the answer is not HTTP"),
        ([], "the daemon closed the connection without an answer"),
    ],
    ids=["not-ready", "not-http", "hang-up"],
)
def test_add_gives_up_when_readyz_never_answers_200(
    native_shim: Path, peer_dir: Path, ready: list[Piece], why: str
) -> None:
    """Both say why in the same words, in the config's version."""
    env = {**DEL_ENV, "CNI_COMMAND": "ADD"}
    stdin = json.dumps(
        {"socketDir": str(peer_dir), "daemonWaitSeconds": 0.35, "cniVersion": "0.3.1"}
    ).encode()
    syncing = [http("503 Service Unavailable", CNI_ERROR)]  # the daemon's answer to an ADD before it is ready

    python, native, received = both(native_shim, peer_dir, [syncing], stdin=stdin, env=env, ready=ready)

    assert len(received) == 2  # once by each shim: never ready, so not sent again
    same_answer(python, native)
    assert python.error() == {
        "cniVersion": "0.3.1",
        "code": 11,
        "msg": f"multus daemon at {peer_dir}/multus.sock is not ready after 0.35s: {why}; "
        "the runtime will retry",
    }


class FlakyReadiness(ScriptedPeer):
    """Answers the first ADD with 503 (not ready), /readyz with 503, then garbage, then 200: the shim must
    keep polling through both, then send the ADD again."""

    def _serve(self) -> None:
        answers = [http("503 Service Unavailable", b"{}"), b"garbage\r\n\r\n", READY]
        syncing = True
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                received = self._read(conn)
                if received.request_line.startswith(b"GET /readyz "):
                    conn.sendall(answers.pop(0) if len(answers) > 1 else answers[0])
                    continue
                self.received.append(received)
                conn.sendall(
                    http("503 Service Unavailable", CNI_ERROR) if syncing else http("200 OK", DAEMON_ANSWER)
                )
                syncing = False


def test_add_keeps_polling_through_503_and_garbage(native_shim: Path, peer_dir: Path) -> None:
    stdin = json.dumps({"socketDir": str(peer_dir), "daemonWaitSeconds": 20}).encode()
    for shim in (PYTHON_SHIM, native_shim):
        peer = FlakyReadiness(peer_dir, [])
        outcome = add_through(shim, peer, stdin)
        assert (outcome.status, outcome.stdout) == (0, PRINTED), outcome
        assert len(peer.received) == 2
        assert peer.received[0].body == peer.received[1].body


# Any stdin: both shims read the same settings from it (or fall back to the same defaults). ----------

json_text = st.text(st.characters(exclude_categories=[]), max_size=12)  # lone surrogates too
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=8,
)
settings_keys = st.sampled_from(["socketDir", "cniVersion", "daemonWaitSeconds", "name"])


@st.composite
def stdins(draw: st.DrawFn, missing: str) -> bytes:
    kind = draw(st.sampled_from(["config", "config", "config", "mangled", "bytes", "nested"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "nested":
        # No settings inside: past Python's recursion limit json.loads gives up (defaults), where the
        # native scanner reads on; both must then print the defaults, and neither may crash.
        depth = draw(st.integers(1, 100_000))
        closed = draw(st.booleans())
        return b'{"a": ' + b"[" * depth + (b"]" * depth if closed else b"") + b"}"
    config = draw(st.dictionaries(settings_keys, json_values | json_text, max_size=4))
    if isinstance(config.get("socketDir"), str) and config["socketDir"]:
        config["socketDir"] = f"{missing}/{config['socketDir']}"  # keep clear of real sockets
    text = json.dumps(config, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    if draw(st.booleans()):
        text = text.replace(
            '"socketDir"', '"socket\\u0044ir"'
        )  # a key spelled with an escape is the same key
    data = text.encode("utf-8", "surrogatepass")
    if kind == "mangled":
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=4)) + data[cut:]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_both_shims_read_the_same_settings_from_any_stdin(
    native_shim: Path, tmp_path: Path, data: st.DataObject
) -> None:
    """CHECK (no readiness wait) against sockets that do not exist: what each prints names the socket
    path and the cniVersion it read, so equal answers mean equal settings. A stdin that Python's json
    reads beyond RFC 8259 (NaN, a BOM, encoded surrogates, UTF-16) is outside the native shim's
    definition: there its answer need only be a valid CNI error."""
    missing = str(tmp_path / "no-daemon-here")
    stdin = data.draw(stdins(missing))
    env = {**DEL_ENV, "CNI_COMMAND": "CHECK"}  # harmless even to a real daemon at the default path

    python = run_shim(PYTHON_SHIM, stdin, env)
    native = run_shim(native_shim, stdin, env)

    assert b"Traceback" not in python.stderr
    assert native.stderr == b""
    if python_reads_beyond_rfc_8259(stdin):
        if native.status != 0:
            error = native.error()
            assert set(error) <= {"cniVersion", "code", "msg", "details"}, error
            assert isinstance(error["code"], int), error
            assert isinstance(error["msg"], str), error
    else:
        assert (native.status, native.answer()) == (python.status, shown_as_utf8(python.answer())), stdin


def python_reads_beyond_rfc_8259(stdin: bytes) -> bool:
    """Whether Python's json reads `stdin` as the Python shim does and a strict RFC 8259 reader (UTF-8,
    no BOM, no NaN or Infinity) does not."""

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    try:
        json.loads(stdin)
    except (ValueError, RecursionError):
        return False  # neither reads settings from it
    try:
        json.loads(stdin.decode(), parse_constant=refuse)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return True
    return False


def shown_as_utf8(answer: Any) -> Any:
    """`answer` with each lone surrogate (a JSON "\\ud800" in the config) as the native shim shows text
    that is not UTF-8: U+FFFD for each ill-formed part of its 3-byte form."""
    if isinstance(answer, str):
        return answer.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(answer, dict):
        return {key: shown_as_utf8(value) for key, value in answer.items()}
    return answer


def test_the_native_shim_is_static_and_small(native_shim: Path) -> None:
    described = subprocess.run(["file", "-L", str(native_shim)], capture_output=True, text=True, check=False)
    if described.returncode == 0:
        assert "statically linked" in described.stdout or "static-pie linked" in described.stdout
    dynamic = subprocess.run(["ldd", str(native_shim)], capture_output=True, text=True, check=False)
    assert "not a dynamic executable" in dynamic.stdout + dynamic.stderr
    assert native_shim.stat().st_size < 2 * 1024 * 1024
    assert os.access(native_shim, os.X_OK)


def test_both_shims_survive_being_stopped_and_continued_mid_request(
    native_shim: Path, peer_dir: Path
) -> None:
    """SIGSTOP + SIGCONT while a read with a timeout is pending makes it fail with EINTR (signal(7));
    the shim must retry, not report an error. The peer pauses twice; the shim is stopped in each pause."""
    answer = http("200 OK", DAEMON_ANSWER)
    for shim in (PYTHON_SHIM, native_shim):
        peer = ScriptedPeer(peer_dir, [[1.5, answer[:50], 1.5, answer[50:]]])
        try:
            with tempfile.TemporaryFile() as stdin:
                stdin.write(json.dumps({"socketDir": str(peer_dir)}).encode())
                stdin.seek(0)
                process = subprocess.Popen(
                    [str(shim)],
                    stdin=stdin,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={"PATH": "/usr/bin:/bin", **DEL_ENV},
                )
            wait_for("the request", lambda current=peer: current.received, timeout=10, interval=0.01)
            begun = time.monotonic()
            for moment in (0.6, 2.1):
                time.sleep(max(0.0, begun + moment - time.monotonic()))
                process.send_signal(signal.SIGSTOP)
                time.sleep(0.2)
                process.send_signal(signal.SIGCONT)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            peer.close()
            (peer_dir / "multus.sock").unlink()
        assert (process.returncode, stdout) == (0, PRINTED), (shim, stdout, stderr)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wait=st.floats(max_value=0.05, allow_nan=False, allow_infinity=False) | st.integers(-(10**300), 0))
def test_both_shims_read_and_print_the_same_readiness_limit(
    native_shim: Path, tmp_path: Path, wait: float
) -> None:
    """ADD against a socket that does not exist gives up after `daemonWaitSeconds` (kept short here) and
    prints the limit with Python's `{:g}`."""
    stdin = json.dumps({"socketDir": str(tmp_path / "no-daemon-here"), "daemonWaitSeconds": wait}).encode()
    env = {**DEL_ENV, "CNI_COMMAND": "ADD"}

    python = run_shim(PYTHON_SHIM, stdin, env)
    native = run_shim(native_shim, stdin, env)

    same_answer(python, native)
    assert f" is not ready after {float(wait):g}s: " in python.error()["msg"]
