"""`RestClient`'s transport: HTTP/1.1 on asyncio's streams, the standard library alone.

One transport for every process: the daemon and the controller, which keep it for their lifetime, and
the in-process plugin, a new process per pod operation that cannot afford a larger HTTP library's
import. It speaks only what the API server answers: a status line and headers, then a body delimited by
`Content-Length`, by chunks (lists and watches), or by the end of the connection. A few connections are
kept for reuse; a watch has its own, closed when the watch ends.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from collections.abc import AsyncGenerator, Mapping
from contextlib import AbstractAsyncContextManager, aclosing, nullcontext, suppress
from dataclasses import dataclass, field

from multus.kube.errors import error_for, unanswered

# Idle connections kept: the daemon's requests come a few at a time.
POOL_SIZE = 4
# A status line or a header block longer than this is not an API server's.
_MAX_HEAD = 64 * 1024
_READ_SIZE = 64 * 1024
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_MAX_CHUNK_DIGITS = 16


class Garbled(Exception):
    """The server's bytes are not the HTTP this client reads."""


# What a request may fail with before a whole answer came: refused, reset, TLS, timeouts, the
# connection ending early, garbled bytes.
_NO_ANSWER = (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, Garbled)


@dataclass(frozen=True)
class _Server:
    host: str
    port: int
    tls: ssl.SSLContext | None

    @property
    def netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def usable(self) -> bool:
        """Still open on both sides: an idle connection the server closed has seen the end of its
        stream by now."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        with suppress(RuntimeError):  # its event loop is closed already: the socket goes with it
            self.writer.close()


@dataclass
class _Reply:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    keep_alive: bool = True


class AsyncioTransport:
    def __init__(self, connections: int | None = None) -> None:
        """`connections`: how many requests may be under way at once, each on a connection of its own
        (None: any number); the others wait for one to be free. A short-lived process sets 1: one TLS
        handshake costs more CPU than several requests in turn on the connection it opened."""
        self._idle: list[_Connection] = []
        self._pooled_for: _Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._default_tls: dict[bool, ssl.SSLContext] = {}
        self._connections = connections
        self._free: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _turn(self) -> AbstractAsyncContextManager[object]:
        if self._connections is None:
            return nullcontext()
        loop = asyncio.get_running_loop()
        if self._free is None or self._free[0] is not loop:
            self._free = (loop, asyncio.Semaphore(self._connections))
        return self._free[1]

    def _server(self, url: urllib.parse.SplitResult, ssl_context: ssl.SSLContext | bool) -> _Server:
        if url.scheme not in ("http", "https") or not url.hostname:
            raise Garbled(f"{url.geturl()!r} is not an http(s) URL")
        if url.scheme == "http":
            return _Server(url.hostname, url.port or 80, None)
        return _Server(url.hostname, url.port or 443, self._tls(ssl_context))

    def _tls(self, ssl_context: ssl.SSLContext | bool) -> ssl.SSLContext:
        """`Credentials.ssl_context` as a context: True is the default verification, False none."""
        if not isinstance(ssl_context, bool):
            return ssl_context
        if ssl_context not in self._default_tls:
            self._default_tls[ssl_context] = (
                ssl.create_default_context() if ssl_context else ssl._create_unverified_context()  # noqa: S323  the kubeconfig's insecure-skip-tls-verify
            )
        return self._default_tls[ssl_context]

    async def _connect(self, server: _Server) -> _Connection:
        reader, writer = await asyncio.open_connection(
            server.host, server.port, ssl=server.tls, limit=_MAX_HEAD, happy_eyeballs_delay=0.25
        )
        return _Connection(reader, writer)

    def _take_idle(self, server: _Server) -> _Connection | None:
        # Kept connections are one server's, with one TLS context, on one event loop: reloaded
        # credentials (a new context) or a caller running several loops in turn start afresh.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._pooled_for != server:
            self._drop_idle()
            self._loop, self._pooled_for = loop, server
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                connection.reused = True
                return connection
            connection.close()
        return None

    def _give_back(self, server: _Server, connection: _Connection) -> None:
        if server == self._pooled_for and len(self._idle) < POOL_SIZE and connection.usable():
            self._idle.append(connection)
        else:
            connection.close()

    def _drop_idle(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def close(self) -> None:
        self._drop_idle()

    async def request(
        self,
        method: str,
        url: str,
        *,
        ssl_context: ssl.SSLContext | bool,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        data: bytes | None,
        timeout: float,
    ) -> tuple[int, str, str]:
        parts = urllib.parse.urlsplit(url)
        try:
            server = self._server(parts, ssl_context)
            message = _message(method, parts, server, params=params, headers=headers, data=data)
            async with self._turn(), asyncio.timeout(timeout):
                while True:
                    connection = self._take_idle(server) or await self._connect(server)
                    try:
                        reply = await _exchange(connection, message)
                        async with aclosing(_body(connection.reader, reply)) as pieces:
                            body = b"".join([piece async for piece in pieces])
                    except _Stale:
                        connection.close()
                        continue  # the server had closed it before reading: a new connection
                    except BaseException:
                        connection.close()
                        raise
                    if reply.keep_alive:
                        self._give_back(server, connection)
                    else:
                        connection.close()
                    return reply.status, reply.reason, body.decode()
        except _NO_ANSWER as error:
            raise unanswered(error, parts.netloc) from error

    async def lines(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | bool,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        connect_timeout: float,
        idle_seconds: float,
    ) -> AsyncGenerator[bytes, None]:
        parts = urllib.parse.urlsplit(url)
        connection: _Connection | None = None
        try:
            server = self._server(parts, ssl_context)
            async with asyncio.timeout(connect_timeout):
                connection = await self._connect(server)  # a watch's own, never pooled
                reply = await _exchange(
                    connection, _message("GET", parts, server, params=params, headers=headers, data=None)
                )
            async with aclosing(_body(connection.reader, reply)) as pieces:
                if reply.status >= 400:
                    async with asyncio.timeout(connect_timeout):
                        text = b"".join([piece async for piece in pieces]).decode()
                    raise error_for(reply.status, reply.reason, text)
                pending = bytearray()
                while True:
                    # Silence for `idle_seconds` means a dead connection (the server sends bookmarks).
                    async with asyncio.timeout(idle_seconds):
                        piece = await anext(pieces, None)
                    if piece is None:
                        break
                    pending += piece
                    start = 0
                    while (end := pending.find(b"\n", start)) >= 0:
                        yield bytes(pending[start : end + 1])
                        start = end + 1
                    del pending[:start]
                if pending:
                    yield bytes(pending)
        except _Stale as error:  # a new connection that ended at once
            raise unanswered(
                ConnectionResetError("connection closed before any answer"), parts.netloc
            ) from error
        except _NO_ANSWER as error:
            raise unanswered(error, parts.netloc) from error
        finally:
            if connection is not None:
                connection.close()


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: the server had closed it."""


def _message(
    method: str,
    url: urllib.parse.SplitResult,
    server: _Server,
    *,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str],
    data: bytes | None,
) -> bytes:
    query = "&".join(part for part in (url.query, urllib.parse.urlencode(params or {})) if part)
    target = f"{url.path or '/'}?{query}" if query else url.path or "/"
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {server.netloc}",
        "Accept: application/json",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    if data is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(data or b'')}")
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + (data or b"")


async def _exchange(connection: _Connection, message: bytes) -> _Reply:
    """Sends `message`; the status line and headers of the answer."""
    try:
        connection.writer.write(message)
        await connection.writer.drain()
        head = await connection.reader.readuntil(b"\r\n\r\n")
    except (ConnectionError, asyncio.IncompleteReadError) as error:
        if connection.reused and not getattr(error, "partial", b""):
            raise _Stale from error
        raise
    return _parse_head(head)


def _parse_head(head: bytes) -> _Reply:
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or not (code.isdigit() and len(code) == 3):
        raise Garbled(f"status line {status_line[:80]!r}")
    reply = _Reply(int(code), reason)
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise Garbled(f"header line {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        reply.headers[key] = f"{reply.headers[key]}, {value}" if key in reply.headers else value
    tokens = {token.strip().lower() for token in reply.headers.get("connection", "").split(",")}
    reply.keep_alive = version == "HTTP/1.1" and "close" not in tokens
    return reply


async def _body(reader: asyncio.StreamReader, reply: _Reply) -> AsyncGenerator[bytes, None]:
    """The answer's body as it arrives: by chunks, by `Content-Length`, or up to the connection's end
    (after which the connection is not reused)."""
    if reply.status in (204, 304) or 100 <= reply.status < 200:
        return
    if "chunked" in reply.headers.get("transfer-encoding", "").lower():
        while size := await _chunk_size(reader):
            chunk = await reader.readexactly(size + 2)
            if not chunk.endswith(b"\r\n"):
                raise Garbled(f"a chunk of {size} bytes not followed by CRLF")
            yield chunk[:-2]
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, usually none
            pass
        return
    length = reply.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise Garbled(f"Content-Length {length[:40]!r}")
        remaining = int(length)
        while remaining:
            piece = await reader.read(min(remaining, _READ_SIZE))
            if not piece:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(piece)
            yield piece
        return
    reply.keep_alive = False
    while piece := await reader.read(_READ_SIZE):
        yield piece


async def _chunk_size(reader: asyncio.StreamReader) -> int:
    line = await reader.readuntil(b"\r\n")
    digits = line[:-2].partition(b";")[0].strip()  # a chunk extension after ";" is ignored
    if not digits or digits.strip(_HEX_DIGITS) or len(digits) > _MAX_CHUNK_DIGITS:
        raise Garbled(f"chunk size {line[:40]!r}")
    return int(digits, 16)
