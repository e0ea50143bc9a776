"""The HTTP/1.1 server of the daemon's unix socket: what shims and `curl` send, parsed by hand.

A shim's request is one small POST on a fresh connection, answered with JSON. A general web framework
spent about half a millisecond of every pod operation on machinery this socket does not need; this
server parses the head itself, reads the body by `Content-Length` or in chunks, answers
`Expect: 100-continue`, keeps a connection open when the client wants it, and answers anything it
cannot parse with a 400 whose body is a CNI error naming what was wrong, then closes the connection.
The bytes (head, body, limits, answers) are multus/daemon/http_wire.py's; this module holds the
connections, routing, the idle timer and draining.

Handlers are found by path, then by method (404, then 405 with `Allow`). A handler answers with
`Request.respond` and may go on working afterwards: the runtime has its answer while the daemon writes
its log line and files. A handler that fails or ends without answering gets a 500 CNI error. The
server's `answered` hears of every answer given to a parsed request (metrics); a request refused as
unparseable gets none, as with Go's server.

Why not h11: `python -m benchmarks.bench_http` runs this server and the same one reading and writing
HTTP with h11 (benchmarks/h11_server.py) side by side. On 2026-12-06 (2 vCPUs, Python 3.11.7, shared
with other work, 20 interleaved rounds) a shim's request, POST /cni on a connection of its own, took
128 us at the median here and 252 us with h11 (p95 238 vs 416 us); on a kept connection 67 vs 158 us;
the server process spent 87 vs 185 us of CPU per request. Four runs later that day, on a busier
machine, h11 still added 105 to 125 us to that request and about 100 us of CPU. The parsing and
writing (http_wire.py, and the connection's reading here) are 172 lines of code, h11's glue 108 (plus
h11), and that glue still words its refusals its own way, takes folded headers and reads a chunk over
the body limit before refusing it. About 0.12 ms per pod operation for some 60 lines: this parser stays.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from multus.cni.errors import InternalError
from multus.daemon.http_wire import (
    _CONTINUE,
    _bad,
    _Head,
    _read_chunks,
    _read_length,
    _Refused,
    _request_error,
    _response,
    _take_head,
    _too_large,
    _wire,
)
from multus.logs import fields, get_logger

log = get_logger("http")

Handler = Callable[["Request"], Awaitable[None]]
Routes = Mapping[str, Mapping[str, Handler]]  # path -> method -> handler
Answered = Callable[[str, str, int], None]  # told (method, path, status) of each request a route got
_Answer = Callable[[int, bytes, Mapping[str, str]], None]

# How long a connection may wait for a whole request before it is closed.
DEFAULT_IDLE_SECONDS = 75.0


class Request:
    """One parsed request: its method, path (without the query), lower-cased headers and whole body."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes, answer: _Answer) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self._answer = answer
        self.responded = False

    def respond(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        """Send `payload` as JSON with `status`, now; later calls are ignored."""
        if not self.responded:
            body = json.dumps(payload).encode()  # a payload that fails here leaves the 500 to the server
            self.responded = True
            self._answer(status, body, headers or {})


class HTTPServer:
    """Serves `routes` on a unix socket; bodies above `max_body` bytes are refused."""

    def __init__(
        self,
        routes: Routes,
        *,
        max_body: int,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        answered: Answered | None = None,
    ) -> None:
        self.routes = routes
        self.max_body = max_body
        self.idle_seconds = idle_seconds
        self.answered = answered or (lambda method, path, status: None)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._handling: set[asyncio.Task[None]] = set()
        self.closing = False  # no new request starts, even on a connection kept open

    async def start(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _Connection(self), path)

    async def close(self, grace: float) -> None:
        """Stop accepting, give the requests in flight `grace` seconds to finish, then close every
        connection (cancelling what is still running)."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in set(self._connections):
            connection.close_if_idle()
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=grace)
        for task in set(self._handling):
            task.cancel()
        if self._handling:
            await asyncio.wait(set(self._handling))
        for connection in set(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _handle(self, request: Request) -> asyncio.Task[None]:
        task = asyncio.create_task(self._dispatch(request))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)
        return task

    async def _dispatch(self, request: Request) -> None:
        methods = self.routes.get(request.path)
        if methods is None:
            log.error("no such path", extra=fields(path=request.path, method=request.method))
            request.respond(HTTPStatus.NOT_FOUND, _wire(_request_error(f"no such path: {request.path}")))
            return
        handler = methods.get(request.method)
        if handler is None:
            allowed = ", ".join(methods)
            log.error("method not allowed", extra=fields(path=request.path, method=request.method))
            request.respond(
                HTTPStatus.METHOD_NOT_ALLOWED,
                _wire(_request_error(f"{request.path} takes {allowed}, not {request.method}")),
                {"Allow": allowed},
            )
            return
        try:
            await handler(request)
        except Exception as error:  # a bug: the client still gets a CNI error, and we keep serving
            log.exception("handler failed", extra=fields(path=request.path))
            request.respond(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                _wire(InternalError(f"internal error: {type(error).__name__}: {error}")),
            )
        if not request.responded:
            request.respond(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                _wire(InternalError(f"{request.path}: the handler gave no answer")),
            )


class _Connection(asyncio.Protocol):
    """One client connection: reads a request, hands it to a handler, writes the answer, and reads the
    next one if the client keeps the connection open."""

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._head: _Head | None = None
        self._body = bytearray()
        self._discarding = 0  # bytes of a refused body still to read before closing
        self._busy = False  # a handler has the current request
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server._connections.add(self)
        self._wait_for_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        self._cancel_idle()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            self._discard(data)
            return
        self._buffer += data
        if not self._busy:
            self._advance()

    def eof_received(self) -> bool:
        if (self._buffer or self._head is not None) and not self._busy:
            self._refuse(_bad("connection closed in the middle of a request"))
        return False

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self) -> None:
        """Closed now unless a handler has its request; that one closes once answered."""
        if not self._busy:
            self.close()

    def _advance(self) -> None:
        try:
            request = self._parse()
        except _Refused as refused:
            self._refuse(refused)
            return
        if request is None:
            return
        self._busy = True
        self._cancel_idle()
        assert self._transport is not None
        self._transport.pause_reading()
        self._server._handle(request).add_done_callback(lambda _: self._handled())

    def _parse(self) -> Request | None:
        """The next whole request from the buffer, or None while more bytes are needed."""
        if self._head is None:
            head = _take_head(self._buffer)
            if head is None:
                return None
            if head.length > self._server.max_body:
                self._discarding = head.length - len(self._buffer)
                raise _too_large(self._server.max_body)
            self._head = head
            if head.expects_continue and head.version == b"1.1" and (head.chunked or head.length):
                self._write(_CONTINUE)
        body = (
            _read_chunks(self._buffer, self._body, self._server.max_body)
            if self._head.chunked
            else _read_length(self._buffer, self._head.length)
        )
        if body is None:
            return None
        head, self._head = self._head, None
        return Request(head.method, head.path, head.headers, body, self._answerer(head))

    def _answerer(self, head: _Head) -> _Answer:
        def answer(status: int, body: bytes, headers: Mapping[str, str]) -> None:
            last = not head.keep_alive or self._server.closing
            self._write(_response(status, body, headers, close=last))
            if last:
                self.close()
            self._server.answered(head.method, head.path, status)

        return answer

    def _handled(self) -> None:
        self._busy = False
        if self._server.closing:
            self.close()
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.resume_reading()
        self._wait_for_request()
        if self._buffer:
            self._advance()

    def _refuse(self, refused: _Refused) -> None:
        log.error("bad request", extra=fields(error=refused.error.msg))
        body = json.dumps(_wire(refused.error)).encode()
        self._write(_response(HTTPStatus.BAD_REQUEST, body, {}, close=True))
        self._buffer.clear()
        if self._discarding <= 0:
            self.close()

    def _discard(self, data: bytes) -> None:
        """Reads a refused body to its end, so that its sender, still writing, gets to read the answer."""
        self._discarding -= len(data)
        if self._discarding <= 0:
            self.close()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _wait_for_request(self) -> None:
        self._cancel_idle()
        self._idle = asyncio.get_running_loop().call_later(self._server.idle_seconds, self.close)

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
