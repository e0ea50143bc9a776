"""`RestClient`'s transport for long-lived processes (the daemon, the controller): aiohttp, one pooled
session per event loop, watches streamed without a thread."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncGenerator, Mapping

import aiohttp

from multus.kube.errors import error_for, unanswered

# What a request may fail with before any answer: refused, reset, TLS, timeouts; the token file.
_NO_ANSWER = (aiohttp.ClientError, OSError, TimeoutError)


class AiohttpTransport:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self, ssl_context: ssl.SSLContext | bool) -> aiohttp.ClientSession:
        # A session belongs to one event loop; a caller that runs several loops in turn gets one each.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._loop = loop
            connector = aiohttp.TCPConnector(ssl=ssl_context, limit=64)
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=json.dumps, headers={"Accept": "application/json"}
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        try:
            async with self._client(ssl_context).request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as reply:
                return reply.status, reply.reason or "", await reply.text()
        except _NO_ANSWER as error:
            raise unanswered(error) from error

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
        try:
            async with self._client(ssl_context).get(
                url,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=connect_timeout, sock_read=idle_seconds
                ),
            ) as reply:
                if reply.status >= 400:
                    raise error_for(reply.status, reply.reason or "", await reply.text())
                while line := await reply.content.readline():
                    yield line
        except _NO_ANSWER as error:
            raise unanswered(error) from error
