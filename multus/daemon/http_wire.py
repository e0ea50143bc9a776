"""HTTP/1.1 as the daemon's socket server (multus/daemon/http.py) reads and writes it: the request
head parsed and checked, the body read by `Content-Length` or in chunks within the limits, the response
bytes, and the refusal a request that cannot be parsed gets (a 400 whose body is a CNI error naming what
was wrong). The names keep their underscore: they are that server's, not an API of the daemon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from multus.cni.errors import CNIError, DecodeFailure
from multus.cni.versions import LATEST_VERSION

# A request line and headers far beyond any client's: the shims send about 150 bytes.
MAX_HEAD_BYTES = 64 * 1024

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_METHOD_LETTERS = re.compile(rb"[A-Z]*")
_LONGEST_METHOD = 16
_REQUEST_LINE = re.compile(rb"([A-Z]{1,16}) (/[!-~]*) HTTP/(1\.[01])")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")
# A header value holds visible characters, spaces and tabs only: a NUL or another control byte is
# refused, not passed to a handler that might cut the value there.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# More digits than any body this server would take: refused before int() (which limits digits itself).
_LENGTH_DIGITS = 18
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _wire(error: CNIError) -> dict[str, Any]:
    return error.to_dict(LATEST_VERSION)


def _request_error(what: str) -> DecodeFailure:
    return DecodeFailure(f"HTTP request: {what}")


class _Refused(Exception):
    """A request that cannot be served: answered 400 with `error`, then the connection closes."""

    def __init__(self, error: CNIError) -> None:
        super().__init__(error.msg)
        self.error = error


def _bad(what: str) -> _Refused:
    return _Refused(_request_error(what))


def _too_large(limit: int) -> _Refused:
    return _Refused(DecodeFailure(f"daemon request: larger than {limit} bytes"))


class _Head:
    """A parsed request line and headers, with what they say of the body and the connection."""

    def __init__(self, raw: bytes) -> None:
        lines = raw.split(b"\r\n")
        start = _REQUEST_LINE.fullmatch(lines[0])
        if start is None:
            raise _bad(f"request line {_shown(lines[0])} is not METHOD /path HTTP/1.x")
        self.method = start[1].decode()
        self.path = start[2].decode("latin-1").partition("?")[0]
        self.version = version = start[3]
        self.headers: dict[str, str] = {}
        lengths: set[str] = set()
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or _TOKEN.fullmatch(name) is None:
                raise _bad(f"header line {_shown(line)} is not name: value")
            if _CONTROL.search(value):
                raise _bad(f"header {name.decode()!r}: its value holds a control character")
            key, text = name.decode().lower(), value.strip(b" \t").decode("latin-1")
            if key == "content-length":
                lengths.add(text)
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        if version == b"1.1" and "host" not in self.headers:
            raise _bad("Host: missing (HTTP/1.1 requires it)")
        connection = {token.strip().lower() for token in self.headers.get("connection", "").split(",")}
        self.keep_alive = "close" not in connection and (version == b"1.1" or "keep-alive" in connection)
        self.chunked = False
        self.length = 0
        if "transfer-encoding" in self.headers:
            if lengths:
                raise _bad("Transfer-Encoding and Content-Length: only one may be given")
            if self.headers["transfer-encoding"].lower() != "chunked":
                raise _bad(f"Transfer-Encoding: {self.headers['transfer-encoding']!r} (only chunked is read)")
            self.chunked = True
        elif lengths:
            if len(lengths) > 1 or not all(text.isdigit() and text.isascii() for text in lengths):
                raise _bad(f"Content-Length: {_shown(', '.join(sorted(lengths)).encode())} is not one number")
            if len(next(iter(lengths))) > _LENGTH_DIGITS:
                raise _bad(f"Content-Length: more than {_LENGTH_DIGITS} digits")
            self.length = int(lengths.pop())
        self.expects_continue = self.headers.get("expect", "").lower() == "100-continue"


def _shown(line: bytes) -> str:
    return repr(line[:80].decode("latin-1"))


def _hopeless(buffer: bytes | bytearray) -> bool:
    """Bytes that cannot begin a request line (a TLS hello, binary): refused before a line end comes."""
    letters = _METHOD_LETTERS.match(buffer)
    count = letters.end() if letters else 0
    if count == len(buffer):
        return count > _LONGEST_METHOD
    return count == 0 or count > _LONGEST_METHOD or buffer[count] != ord(" ")


def _take_head(buffer: bytearray) -> _Head | None:
    """The request line and headers at the start of `buffer`, taken from it; None while more bytes are
    needed."""
    while buffer.startswith(b"\r\n"):  # empty lines before a request line are ignored
        del buffer[:2]
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if _hopeless(buffer[: _LONGEST_METHOD + 1]):
            raise _bad(f"not HTTP: {_shown(bytes(buffer[:16]))}")
        if len(buffer) > MAX_HEAD_BYTES:
            raise _bad(f"request line and headers larger than {MAX_HEAD_BYTES} bytes")
        return None
    if end > MAX_HEAD_BYTES:
        raise _bad(f"request line and headers larger than {MAX_HEAD_BYTES} bytes")
    head = _Head(bytes(buffer[:end]))
    del buffer[: end + 4]
    return head


def _read_length(buffer: bytearray, length: int) -> bytes | None:
    """A body of `length` bytes, taken from `buffer` once it holds them all."""
    if len(buffer) < length:
        return None
    body = bytes(buffer[:length])
    del buffer[:length]
    return body


def _read_chunks(buffer: bytearray, body: bytearray, max_body: int) -> bytes | None:
    """Moves each whole chunk from `buffer` to `body`; the body once the last chunk and the trailers
    have come (`body` is then emptied)."""
    while True:
        line_end = buffer.find(b"\r\n")
        if line_end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise _bad("chunk size line too long")
            return None
        size_line = _CHUNK_SIZE.fullmatch(buffer, 0, line_end)
        if size_line is None:
            raise _bad(f"chunk size {_shown(bytes(buffer[:line_end]))} is not hexadecimal")
        size = int(size_line[1], 16)
        if size == 0:  # the last chunk, then trailer lines (usually none) and an empty line
            trailers_end = buffer.find(b"\r\n\r\n", line_end)
            if trailers_end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise _bad(f"trailers larger than {MAX_HEAD_BYTES} bytes")
                return None
            del buffer[: trailers_end + 4]
            whole = bytes(body)
            body.clear()
            return whole
        if len(body) + size > max_body:
            raise _too_large(max_body)
        chunk_end = line_end + 2 + size
        if len(buffer) < chunk_end + 2:
            return None
        if buffer[chunk_end : chunk_end + 2] != b"\r\n":
            raise _bad(f"chunk of {size} bytes not followed by CRLF")
        body += buffer[line_end + 2 : chunk_end]
        del buffer[: chunk_end + 2]


def _response(status: int, body: bytes, headers: Mapping[str, str], *, close: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
        *(["Connection: close"] if close else []),
    ]
    return "\r\n".join([*lines, "", ""]).encode() + body
