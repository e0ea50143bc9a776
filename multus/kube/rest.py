"""A small asynchronous client for the few Kubernetes API calls the project makes.

The official client loads models for the whole API: tens of megabytes and half a second per process,
for a daemon that reads pods and NADs as plain JSON and writes one annotation and some Events. This one
speaks HTTP with `multus.kube.credentials` through a `Transport`: HTTP/1.1 on asyncio's streams
(`multus.kube.transport_asyncio`) unless another is given. It raises the errors of `multus.kube.errors`
for every failure, connection failures included.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, Protocol

from multus.kube.credentials import Credentials
from multus.kube.errors import error_for, unanswered
from multus.kube.transport_asyncio import AsyncioTransport

MERGE_PATCH = "application/merge-patch+json"


class Transport(Protocol):
    """Moves bytes to and from the API server. Every failure to get an answer raises
    `multus.kube.errors.Unavailable`; an answer is returned whatever its status."""

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
        """Status, reason and body text of one request."""
        ...

    def lines(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | bool,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        connect_timeout: float,
        idle_seconds: float,
    ) -> AsyncGenerator[bytes, None]:
        """The lines of a streamed GET, until the server ends it; an error status raises its ApiError."""
        ...

    async def close(self) -> None: ...


class RestClient:
    """JSON over HTTPS to one API server. `timeout` bounds each request (watches excepted)."""

    def __init__(self, credentials: Credentials, timeout: float, transport: Transport | None = None) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self.transport = AsyncioTransport() if transport is None else transport

    async def close(self) -> None:
        await self.transport.close()

    def _headers(self) -> dict[str, str]:
        try:
            return self.credentials.headers()
        except OSError as error:  # the token file
            raise unanswered(error) from error

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """The decoded answer; an `ApiError` subclass for an error status or for no answer."""
        data = None if body is None else json.dumps(body).encode()
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = content_type
        status, reason, text = await self.transport.request(
            method,
            self.credentials.server + path,
            ssl_context=self.credentials.ssl_context,
            params=params,
            headers=headers,
            data=data,
            timeout=self.timeout,
        )
        if status >= 400:
            raise error_for(status, reason, text)
        decoded: dict[str, Any] = json.loads(text) if text else {}
        return decoded

    async def watch(
        self, path: str, params: Mapping[str, str], idle_seconds: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, until the server ends it. A connection silent for
        `idle_seconds` (bookmarks arrive about every minute) is taken as dead and ends the watch with
        `Unavailable`; an ERROR event ends it with the error its Status object means (`Gone`...)."""
        stream = self.transport.lines(
            self.credentials.server + path,
            ssl_context=self.credentials.ssl_context,
            params={**params, "watch": "true"},
            headers=self._headers(),
            connect_timeout=self.timeout,
            idle_seconds=idle_seconds,
        )
        async with aclosing(stream) as lines:  # a watch given up closes its connection at once
            async for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise error_for(
                        int(status.get("code") or 500), str(status.get("message")), json.dumps(status)
                    )
                yield event
