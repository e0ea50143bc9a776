"""The daemon's socket server with h11 (the HTTP/1.1 state machine httpx and uvicorn use) in place of
the hand-written parser and writer of multus.daemon.http: what benchmarks/bench_http.py measures that
parser against. Benchmark-only; the product does not import it.

`H11Server` is `multus.daemon.http.HTTPServer` with connections of this module's kind: the same routes,
`Request`, dispatch (404, 405, 500), `answered` counter, idle timer and draining. Each connection keeps
the product's contract on top of h11: a body whose Content-Length is over `max_body` is refused before
it is read (and read to its end, unseen, so its sender gets the answer); a chunked body is refused once
it passes `max_body`; bytes that cannot begin a request, a request line that is not `METHOD /path
HTTP/1.x`, a header value with a control byte, or both Content-Length and Transfer-Encoding, are
refused as the product refuses them; every refusal is a 400 CNI error naming what was wrong (h11's
words for what h11 finds), then the connection closes. Where it still differs from the product (run
tests/unit/daemon/test_http.py against it to see): those words; folded header lines are taken; a chunk
announced over `max_body` is read until the body passes the limit, not refused from its size line.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from http import HTTPStatus

import h11

from multus.daemon.http import HTTPServer, Request, _Connection, log
from multus.daemon.http_wire import (
    _CONTROL,
    _LONGEST_METHOD,
    MAX_HEAD_BYTES,
    _bad,
    _hopeless,
    _Refused,
    _shown,
    _too_large,
    _wire,
)
from multus.logs import fields

_METHOD = re.compile(rb"[A-Z]{1,16}")


class H11Server(HTTPServer):
    """`HTTPServer` whose connections parse and write HTTP with h11."""

    async def start(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: H11Connection(self), path)


class H11Connection(_Connection):
    """One client connection, its HTTP read and written by an `h11.Connection`; the transport, idle
    timer and closing are the product connection's."""

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._started: h11.Request | None = None

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            self._discard(data)
            return
        if self._started is None and not self._h11.trailing_data[0]:
            data = data.lstrip(b"\r\n")  # empty lines before a request line are ignored (h11 refuses them)
        self._h11.receive_data(data)
        if not self._busy:
            self._advance()

    def eof_received(self) -> bool:
        self._h11.receive_data(b"")
        if not self._busy:
            self._advance()
        return False

    def _parse(self) -> Request | None:
        """The next whole request h11 has read, or None while it needs more bytes."""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as error:
                raise _bad(str(error)) from None
            if event is h11.NEED_DATA:
                pending = self._h11.trailing_data[0].lstrip(b"\r\n")
                if self._started is None and _hopeless(pending[: _LONGEST_METHOD + 1]):
                    raise _bad(f"not HTTP: {_shown(bytes(pending[:16]))}")
                return None
            if event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                self._start(event)
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._server.max_body:
                    raise _too_large(self._server.max_body)
            elif isinstance(event, h11.EndOfMessage):
                started, self._started = self._started, None
                assert started is not None
                body, self._body = bytes(self._body), bytearray()
                return self._request(started, body)

    def _start(self, event: h11.Request) -> None:
        """Refuses what h11 lets through and the product does not; says 100 Continue when asked."""
        if _METHOD.fullmatch(event.method) is None or not event.target.startswith(b"/"):
            raise _bad(
                f"request line {_shown(event.method + b' ' + event.target)} is not METHOD /path HTTP/1.x"
            )
        if event.http_version not in (b"1.0", b"1.1"):
            raise _bad(f"request line: HTTP/{event.http_version.decode()} (only HTTP/1.x is read)")
        names = set()
        for name, value in event.headers:
            if _CONTROL.search(value):
                raise _bad(f"header {name.decode()!r}: its value holds a control character")
            names.add(name)
        if {b"content-length", b"transfer-encoding"} <= names:
            raise _bad("Transfer-Encoding and Content-Length: only one may be given")
        length = dict(event.headers).get(b"content-length")
        if length is not None and int(length) > self._server.max_body:
            self._discarding = int(length) - len(self._h11.trailing_data[0])
            raise _too_large(self._server.max_body)
        self._started = event
        if self._h11.they_are_waiting_for_100_continue:
            self._write(
                self._h11.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
                or b""
            )

    def _request(self, event: h11.Request, body: bytes) -> Request:
        method, path = event.method.decode(), event.target.decode("latin-1").partition("?")[0]
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode(), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text

        def answer(status: int, payload: bytes, extra: Mapping[str, str]) -> None:
            if not self._send(status, payload, extra):
                self.close()
            self._server.answered(method, path, status)

        return Request(method, path, headers, body, answer)

    def _send(self, status: int, body: bytes, extra: Mapping[str, str]) -> bool:
        """Writes one whole answer through h11; whether the connection may serve another request."""
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *extra.items(),
            *([("Connection", "close")] if self._server.closing else []),
        ]
        try:
            data = self._h11.send(
                h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)
            )
            data = (data or b"") + (self._h11.send(h11.Data(data=body)) or b"")
            data += self._h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:  # a refusal after h11 itself gave up on the connection
            data = b""
        self._write(data)
        return self._h11.our_state is h11.DONE

    def _handled(self) -> None:
        if self._h11.our_state is h11.DONE:  # answered, and the connection stays open
            self._h11.start_next_cycle()
        super()._handled()
        if self._transport is not None and not self._transport.is_closing():
            self._advance()  # what h11 already holds of the next request

    def _refuse(self, refused: _Refused) -> None:
        log.error("bad request", extra=fields(error=refused.error.msg))
        body = json.dumps(_wire(refused.error)).encode()
        self._send(HTTPStatus.BAD_REQUEST, body, {"Connection": "close"})
        if self._discarding <= 0:
            self.close()
