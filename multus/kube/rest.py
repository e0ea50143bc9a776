"""A small asynchronous client for the few Kubernetes API calls the project makes.

The official client loads models for the whole API: tens of megabytes and half a second per process,
for a daemon that reads pods and NADs as plain JSON and writes one annotation and some Events. This one
speaks HTTP through aiohttp with `multus.kube.credentials`, and raises the errors of
`multus.kube.errors` for every failure, connection failures included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from multus.kube.credentials import Credentials
from multus.kube.errors import error_for, unanswered

MERGE_PATCH = "application/merge-patch+json"
# What a request may fail with before any answer: refused, reset, TLS, timeouts; the token file.
_NO_ANSWER = (aiohttp.ClientError, OSError, TimeoutError)


class RestClient:
    """JSON over HTTPS to one API server. `timeout` bounds each request (watches excepted)."""

    def __init__(self, credentials: Credentials, timeout: float) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        # A session belongs to one event loop; a caller that runs several loops in turn gets one each.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._loop = loop
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context, limit=64)
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
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """The decoded answer; an `ApiError` subclass for an error status or for no answer."""
        data = None if body is None else json.dumps(body).encode()
        try:
            headers = self.credentials.headers()
            if data is not None:
                headers["Content-Type"] = content_type
            async with self._client().request(
                method,
                self.credentials.server + path,
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as reply:
                text = await reply.text()
                status, reason = reply.status, reply.reason or ""
        except _NO_ANSWER as error:
            raise unanswered(error) from error
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
        try:
            async with self._client().get(
                self.credentials.server + path,
                params={**params, "watch": "true"},
                headers=self.credentials.headers(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=idle_seconds),
            ) as reply:
                if reply.status >= 400:
                    raise error_for(reply.status, reply.reason or "", await reply.text())
                while line := await reply.content.readline():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise error_for(
                            int(status.get("code") or 500), str(status.get("message")), json.dumps(status)
                        )
                    yield event
        except _NO_ANSWER as error:
            raise unanswered(error) from error
