"""`RestClient`'s transport for the in-process plugin: `http.client` in worker threads.

The plugin is a new process for every pod operation, making a handful of requests: importing aiohttp
would cost it more than the requests themselves. Connections are kept for reuse within the process. The
timeout bounds each blocking step (connecting, sending, each read), not the request as a whole.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import urllib.parse
from collections.abc import AsyncGenerator, Mapping

from multus.kube.errors import error_for, unanswered

# What a request may fail with before any answer: refused, reset, TLS, timeouts, a garbled reply.
_NO_ANSWER = (OSError, http.client.HTTPException)


def _tls(ssl_context: ssl.SSLContext | bool) -> ssl.SSLContext:
    """`Credentials.ssl_context` as http.client takes it: True is the default verification, False none."""
    if not isinstance(ssl_context, bool):
        return ssl_context
    if ssl_context:
        return ssl.create_default_context()
    return ssl._create_unverified_context()  # noqa: S323  the kubeconfig's insecure-skip-tls-verify


class StdlibTransport:
    def __init__(self) -> None:
        self._idle: list[http.client.HTTPConnection] = []

    def _connect(
        self, url: urllib.parse.SplitResult, ssl_context: ssl.SSLContext | bool, timeout: float
    ) -> http.client.HTTPConnection:
        host, port = url.hostname or "", url.port
        if url.scheme == "http":
            return http.client.HTTPConnection(host, port, timeout=timeout)
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls(ssl_context))

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        ssl_context: ssl.SSLContext | bool,
        headers: Mapping[str, str],
        data: bytes | None,
        timeout: float,
    ) -> tuple[int, str, str]:
        parts = urllib.parse.urlsplit(url)
        connection = self._idle.pop() if self._idle else self._connect(parts, ssl_context, timeout)
        try:
            connection.request(
                method, _target(parts), body=data, headers={"Accept": "application/json", **headers}
            )
            reply = connection.getresponse()
            text = reply.read().decode()
        except BaseException:
            connection.close()
            raise
        if reply.will_close:
            connection.close()
        else:
            self._idle.append(connection)
        return reply.status, reply.reason or "", text

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

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
        if params:
            url = f"{url}?{urllib.parse.urlencode(params)}"
        try:
            return await asyncio.to_thread(
                self._exchange,
                method,
                url,
                ssl_context=ssl_context,
                headers=headers,
                data=data,
                timeout=timeout,
            )
        except _NO_ANSWER as error:
            raise unanswered(error, urllib.parse.urlsplit(url).netloc) from error

    def _open_stream(
        self,
        url: str,
        ssl_context: ssl.SSLContext | bool,
        headers: Mapping[str, str],
        connect_timeout: float,
        idle_seconds: float,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urllib.parse.urlsplit(url)
        connection = self._connect(parts, ssl_context, connect_timeout)
        try:
            connection.connect()
            assert connection.sock is not None
            connection.sock.settimeout(idle_seconds)
            connection.request("GET", _target(parts), headers={"Accept": "application/json", **headers})
            return connection, connection.getresponse()
        except BaseException:
            connection.close()
            raise

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
        url = f"{url}?{urllib.parse.urlencode(params)}"
        try:
            connection, reply = await asyncio.to_thread(
                self._open_stream, url, ssl_context, headers, connect_timeout, idle_seconds
            )
        except _NO_ANSWER as error:
            raise unanswered(error, urllib.parse.urlsplit(url).netloc) from error
        try:
            if reply.status >= 400:
                text = await asyncio.to_thread(reply.read)
                raise error_for(reply.status, reply.reason or "", text.decode())
            while line := await asyncio.to_thread(reply.readline):
                yield line
        except _NO_ANSWER as error:
            raise unanswered(error, urllib.parse.urlsplit(url).netloc) from error
        finally:
            connection.close()


def _target(url: urllib.parse.SplitResult) -> str:
    return f"{url.path or '/'}?{url.query}" if url.query else url.path or "/"
