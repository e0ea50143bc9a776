"""The daemon's HTTP/1.1 server, spoken to over a real unix socket: bodies by length and in chunks,
100-continue, connections kept open or closed, routing, every kind of bad request (a 400 CNI error
naming what was wrong, and the server keeps serving), handler failures, the answer before the handler's
later work, draining and idle connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from multus.daemon.http import HTTPServer, Request, Routes
from multus.daemon.http_wire import MAX_HEAD_BYTES

MAX_BODY = 1024 * 1024


class Seen:
    """What the echo handler was given."""

    def __init__(self) -> None:
        self.requests: list[Request] = []


def echo_routes(seen: Seen) -> Routes:
    async def echo(request: Request) -> None:
        seen.requests.append(request)
        request.respond(200, {"length": len(request.body), "path": request.path})

    return {"/echo": {"POST": echo, "PUT": echo}, "/ping": {"GET": echo}}


async def start_server(tmp_path: Path, routes: Routes, **options: Any) -> HTTPServer:
    """A server on `tmp_path`'s socket; the test closes it."""
    server = HTTPServer(routes, max_body=options.pop("max_body", MAX_BODY), **options)
    await server.start(str(tmp_path / "http.sock"))
    return server


@asynccontextmanager
async def serving(tmp_path: Path, routes: Routes, **options: Any) -> AsyncIterator[HTTPServer]:
    server = await start_server(tmp_path, routes, **options)
    try:
        yield server
    finally:
        await server.close(1.0)


async def exchange(tmp_path: Path, data: bytes) -> bytes:
    """Send `data` and read until the server closes the connection."""
    reader, writer = await asyncio.open_unix_connection(str(tmp_path / "http.sock"))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5.0)
    finally:
        writer.close()


def parse_answers(raw: bytes) -> list[tuple[int, dict[str, str], Any]]:
    """Every response in `raw`, in order: status, lower-cased headers, JSON body."""
    answers = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        if status == 100:
            answers.append((status, headers, None))
            raw = rest
            continue
        length = int(headers["content-length"])
        answers.append((status, headers, json.loads(rest[:length])))
        raw = rest[length:]
    return answers


def post(body: bytes, *, path: str = "/echo", extra: str = "Connection: close\r\n") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_a_post_with_a_length_is_read_whole_and_answered_as_json(tmp_path: Path) -> None:
    seen = Seen()

    async def test() -> None:
        async with serving(tmp_path, echo_routes(seen)):
            raw = await exchange(
                tmp_path, post(b'{"a": 1}', path="/echo?x=1", extra="X-Thing: Yes\r\nConnection: close\r\n")
            )
        [(status, headers, body)] = parse_answers(raw)
        assert (status, body) == (200, {"length": 8, "path": "/echo"})
        assert headers["content-type"] == "application/json"
        assert headers["connection"] == "close"
        [request] = seen.requests
        assert (request.method, request.body) == ("POST", b'{"a": 1}')
        assert request.headers["x-thing"] == "Yes"

    run(test)


def test_a_connection_kept_open_serves_one_request_after_the_other(tmp_path: Path) -> None:
    seen = Seen()

    async def test() -> None:
        async with serving(tmp_path, echo_routes(seen)):
            first = post(b"1", extra="")
            second = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
            last = b"GET /ping HTTP/1.0\r\n\r\n"  # HTTP/1.0 closes unless asked otherwise
            raw = await exchange(tmp_path, first + second + last)
        answers = parse_answers(raw)
        assert [status for status, _, _ in answers] == [200, 200, 200]
        assert [body["path"] for _, _, body in answers] == ["/echo", "/ping", "/ping"]
        assert "connection" not in answers[0][1]
        assert answers[2][1]["connection"] == "close"

    run(test)


def test_a_chunked_body_is_put_together(tmp_path: Path) -> None:
    seen = Seen()

    async def test() -> None:
        async with serving(tmp_path, echo_routes(seen)):
            chunks = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
            head = b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            raw = await exchange(tmp_path, head + chunks)
        assert parse_answers(raw)[0][:1] == (200,)
        assert seen.requests[0].body == b"hello world"

    run(test)


def test_expect_100_continue_gets_the_interim_answer_before_the_body_is_sent(tmp_path: Path) -> None:
    seen = Seen()

    async def test() -> None:
        async with serving(tmp_path, echo_routes(seen)):
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "http.sock"))
            head = post(b"", extra="Expect: 100-continue\r\nConnection: close\r\n").replace(
                b"Content-Length: 0", b"Content-Length: 4"
            )
            writer.write(head)
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            writer.write(b"body")
            final = await asyncio.wait_for(reader.read(), 5.0)
            writer.close()
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert parse_answers(final)[0][0] == 200
        assert seen.requests[0].body == b"body"

    run(test)


def test_unknown_paths_and_methods_are_404_and_405_with_allow(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path, echo_routes(Seen())):
            missing = parse_answers(await exchange(tmp_path, post(b"", path="/nothing")))
            wrong = parse_answers(await exchange(tmp_path, b"DELETE /echo HTTP/1.0\r\n\r\n"))
        assert missing[0][0] == 404
        assert missing[0][2]["code"] == 6
        assert "/nothing" in missing[0][2]["msg"]
        assert wrong[0][0] == 405
        assert wrong[0][1]["allow"] == "POST, PUT"
        assert "DELETE" in wrong[0][2]["msg"]

    run(test)


BAD_REQUESTS = {
    "binary": (b"\x00\x01\x02 hello\r\n\r\n", "request line"),
    "tls-hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)), "not HTTP"),
    "lowercase-method": (b"post /echo HTTP/1.1\r\n", "not HTTP"),
    "bad-request-line": (b"POST echo HTTP/1.1\r\nHost: x\r\n\r\n", "request line"),
    "http-2": (b"POST /echo HTTP/2.0\r\nHost: x\r\n\r\n", "request line"),
    "header-without-colon": (b"POST /echo HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n", "header line"),
    "folded-header": (b"POST /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n continued\r\n\r\n", "header line"),
    "no-host": (b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", "Host"),
    "bad-content-length": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
        "Content-Length",
    ),
    "negative-content-length": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "Content-Length",
    ),
    "two-content-lengths": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "Content-Length",
    ),
    "content-length-of-5000-digits": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        "Content-Length",
    ),
    "nul-in-a-header-value": (b"POST /echo HTTP/1.1\r\nHost: x\x00y\r\nContent-Length: 0\r\n\r\n", "control"),
    "escape-in-a-header-value": (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-A: \x1b[2J\r\n\r\n", "control"),
    "length-and-chunked": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "Transfer-Encoding",
    ),
    "gzip-encoding": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "Transfer-Encoding",
    ),
    "bad-chunk-size": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "chunk size",
    ),
    "chunk-without-crlf": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n",
        "CRLF",
    ),
    "head-too-large": (
        b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10),
        "larger than",
    ),
}


@pytest.mark.parametrize(("data", "named"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_a_bad_request_is_a_400_cni_error_and_the_server_keeps_serving(
    tmp_path: Path, data: bytes, named: str
) -> None:
    seen = Seen()

    async def test() -> None:
        async with serving(tmp_path, echo_routes(seen)):
            raw = await exchange(tmp_path, data)
            after = await exchange(tmp_path, b"GET /ping HTTP/1.0\r\n\r\n")
        [(status, headers, error)] = parse_answers(raw)
        assert status == 400, raw
        assert headers["connection"] == "close"
        assert error["code"] == 6, error
        assert named in error["msg"], error
        assert parse_answers(after)[0][0] == 200
        assert [request.path for request in seen.requests] == ["/ping"]  # the bad one reached no handler

    run(test)


@pytest.mark.parametrize("body_sent", [b"abc", b""], ids=["part-of-the-body", "head-only"])
def test_a_request_cut_short_is_answered_when_the_client_stops_sending(
    tmp_path: Path, body_sent: bytes
) -> None:
    async def test() -> None:
        async with serving(tmp_path, echo_routes(Seen())):
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "http.sock"))
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" + body_sent)
            writer.write_eof()
            raw = await asyncio.wait_for(reader.read(), 5.0)
            writer.close()
        [(status, _, error)] = parse_answers(raw)
        assert (status, error["code"]) == (400, 6)
        assert "closed in the middle" in error["msg"]

    run(test)


def test_a_body_over_the_limit_is_refused_after_the_sender_finished_writing_it(tmp_path: Path) -> None:
    seen = Seen()
    body = b"x" * (4 * MAX_BODY)  # far more than a socket buffer: the sender blocks unless it is read

    async def test() -> None:
        async with serving(tmp_path, echo_routes(seen), max_body=MAX_BODY):
            raw = await exchange(tmp_path, post(body))
            chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            raw_chunked = await exchange(tmp_path, chunked + f"{MAX_BODY + 1:x}\r\n".encode())
        for answer in (raw, raw_chunked):
            [(status, _, error)] = parse_answers(answer)
            assert (status, error["code"]) == (400, 6)
            assert f"larger than {MAX_BODY} bytes" in error["msg"]
        assert seen.requests == []

    run(test)


def test_a_failing_or_silent_handler_gets_a_500_and_the_server_keeps_serving(tmp_path: Path) -> None:
    async def fails(_: Request) -> None:
        raise RuntimeError("boom")

    async def silent(_: Request) -> None:
        return None

    seen = Seen()
    routes: Routes = {**echo_routes(seen), "/fails": {"GET": fails}, "/silent": {"GET": silent}}

    async def test() -> None:
        async with serving(tmp_path, routes):
            failed = parse_answers(await exchange(tmp_path, b"GET /fails HTTP/1.0\r\n\r\n"))
            unanswered = parse_answers(await exchange(tmp_path, b"GET /silent HTTP/1.0\r\n\r\n"))
            after = parse_answers(await exchange(tmp_path, b"GET /ping HTTP/1.0\r\n\r\n"))
        assert failed[0][0] == 500
        assert failed[0][2]["code"] == 199
        assert "RuntimeError: boom" in failed[0][2]["msg"]
        assert unanswered[0][0] == 500
        assert "no answer" in unanswered[0][2]["msg"]
        assert unanswered[0][2]["code"] == 199
        assert after[0][0] == 200

    run(test)


def test_the_answer_goes_out_before_the_handler_ends(tmp_path: Path) -> None:
    async def test() -> None:
        answered = asyncio.Event()
        ended = asyncio.Event()

        async def slow_after(request: Request) -> None:
            request.respond(200, {"done": True})
            request.respond(500, {"ignored": True})  # one answer per request
            await answered.wait()
            ended.set()

        async with serving(tmp_path, {"/slow": {"GET": slow_after}}):
            raw = await exchange(tmp_path, b"GET /slow HTTP/1.0\r\n\r\n")
            assert not ended.is_set()
            answered.set()
            await asyncio.wait_for(ended.wait(), 5.0)
        [(status, _, body)] = parse_answers(raw)
        assert (status, body) == (200, {"done": True})

    run(test)


def test_close_lets_requests_in_flight_finish_then_refuses_connections(tmp_path: Path) -> None:
    async def test() -> None:
        release = asyncio.Event()
        started = asyncio.Event()

        async def waits(request: Request) -> None:
            started.set()
            await release.wait()
            request.respond(200, {"finished": True})

        server = await start_server(tmp_path, {"/wait": {"GET": waits}})
        in_flight = asyncio.create_task(exchange(tmp_path, b"GET /wait HTTP/1.0\r\n\r\n"))
        await asyncio.wait_for(started.wait(), 5.0)
        closing = asyncio.create_task(server.close(5.0))
        await asyncio.sleep(0.05)
        assert not closing.done()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_unix_connection(str(tmp_path / "http.sock"))
        release.set()
        await asyncio.wait_for(closing, 5.0)
        assert parse_answers(await in_flight)[0][2] == {"finished": True}

    run(test)


def test_close_cancels_what_outlives_the_grace(tmp_path: Path) -> None:
    async def test() -> None:
        cancelled = asyncio.Event()

        async def hangs(_: Request) -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        server = await start_server(tmp_path, {"/hang": {"GET": hangs}})
        in_flight = asyncio.create_task(exchange(tmp_path, b"GET /hang HTTP/1.0\r\n\r\n"))
        await asyncio.sleep(0.05)
        await asyncio.wait_for(server.close(0.1), 5.0)
        assert cancelled.is_set()
        assert await in_flight == b""  # closed without an answer

    run(test)


def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path, echo_routes(Seen()), idle_seconds=0.1):
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "http.sock"))
            assert await asyncio.wait_for(reader.read(), 5.0) == b""
            writer.close()

    run(test)


def test_empty_lines_before_a_request_line_are_ignored(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path, echo_routes(Seen())):
            raw = await exchange(tmp_path, b"\r\n\r\nGET /ping HTTP/1.0\r\n\r\n")
        assert parse_answers(raw)[0][0] == 200

    run(test)


def test_an_http_1_0_client_gets_no_interim_answer(tmp_path: Path) -> None:
    seen = Seen()

    async def test() -> None:
        async with serving(tmp_path, echo_routes(seen)):
            raw = await exchange(
                tmp_path, b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
            )
        assert [status for status, _, _ in parse_answers(raw)] == [200]
        assert seen.requests[0].body == b"ok"

    run(test)


def test_close_starts_no_new_request_on_a_connection_kept_open(tmp_path: Path) -> None:
    async def test() -> None:
        release = asyncio.Event()
        started: list[str] = []

        async def waits(request: Request) -> None:
            started.append(request.path)
            await release.wait()
            request.respond(200, {"finished": True})

        server = await start_server(tmp_path, {"/wait": {"GET": waits}, "/next": {"GET": waits}})
        idle_reader, idle_writer = await asyncio.open_unix_connection(str(tmp_path / "http.sock"))
        pipelined = b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"
        in_flight = asyncio.create_task(exchange(tmp_path, pipelined))
        while not started:
            await asyncio.sleep(0.01)
        closing = asyncio.create_task(server.close(5.0))
        assert await asyncio.wait_for(idle_reader.read(), 5.0) == b""  # an idle connection is closed at once
        idle_writer.close()
        release.set()
        await asyncio.wait_for(closing, 5.0)
        [(status, headers, body)] = parse_answers(await in_flight)
        assert (status, body, headers["connection"]) == (200, {"finished": True}, "close")
        assert started == ["/wait"]  # the pipelined one was not started

    run(test)
