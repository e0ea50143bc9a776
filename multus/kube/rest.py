"""A small asynchronous client for the few Kubernetes API calls the node side makes.

The official client loads models for the whole API: tens of megabytes and half a second per process,
for a daemon that reads pods and NADs as plain JSON and writes one annotation and some Events. This one
speaks HTTP through aiohttp and understands the credentials a node has: a kubeconfig with a CA, client
certificates or a bearer token (inline or as files), or the pod's service account.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(ValueError):
    """The credentials cannot be loaded; the message says which file and which entry."""


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.body = status, reason, body


@dataclass
class Credentials:
    server: str
    ssl_context: ssl.SSLContext | bool
    token: str | None = None
    token_file: Path | None = None
    sources: list[Path] = field(default_factory=list)  # files whose change means "load again"

    def headers(self) -> dict[str, str]:
        token = self.token
        if self.token_file is not None:
            token = self.token_file.read_text().strip()  # bound tokens rotate: read each time
        return {"Authorization": f"Bearer {token}"} if token else {}


def load_credentials(kubeconfig: Path | None) -> Credentials:
    """From a kubeconfig file, or (None) from the pod's service account."""
    return _from_kubeconfig(kubeconfig) if kubeconfig is not None else _in_cluster()


def _in_cluster() -> Credentials:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("no kubeconfig given and not in a pod (KUBERNETES_SERVICE_HOST is unset)")
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT_DIR / "ca.crt"))
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    token = SERVICE_ACCOUNT_DIR / "token"
    return Credentials(server, context, token_file=token, sources=[token])


def _from_kubeconfig(path: Path) -> Credentials:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"kubeconfig {path}: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"kubeconfig {path}: not a kubeconfig document")
    context_name = document.get("current-context")
    context = _named(document, "contexts", context_name, path).get("context") or {}
    cluster = _named(document, "clusters", context.get("cluster"), path).get("cluster") or {}
    user = _named(document, "users", context.get("user"), path).get("user") or {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise ConfigError(f"kubeconfig {path}: cluster {context.get('cluster')!r} has no server")
    if "exec" in user or "auth-provider" in user:
        who = context.get("user")
        raise ConfigError(
            f"kubeconfig {path}: user {who!r} needs a credential plugin; give a token or certificate"
        )
    base = path.parent
    ssl_context: ssl.SSLContext | bool = True
    if server.startswith("https://"):
        if cluster.get("insecure-skip-tls-verify"):
            ssl_context = False
        else:
            ssl_context = ssl.create_default_context(
                cafile=_file(cluster, "certificate-authority", base),
                cadata=_data(cluster, "certificate-authority-data"),
            )
        cert_file = _file(user, "client-certificate", base)
        cert_data = _data(user, "client-certificate-data")
        if cert_file or cert_data:
            if isinstance(ssl_context, bool):
                ssl_context = ssl.create_default_context()
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
            _load_client_certificate(ssl_context, user, base, path)
    token_file = user.get("tokenFile")
    return Credentials(
        server=server.rstrip("/"),
        ssl_context=ssl_context,
        token=user.get("token"),
        token_file=base / token_file if isinstance(token_file, str) else None,
        sources=[path],
    )


def _named(document: Mapping[str, Any], section: str, name: object, path: Path) -> Mapping[str, Any]:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise ConfigError(f"kubeconfig {path}: no entry {name!r} in {section}")


def _file(section: Mapping[str, Any], key: str, base: Path) -> str | None:
    value = section.get(key)
    return str(base / value) if isinstance(value, str) and value else None


def _data(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    return base64.b64decode(value).decode() if isinstance(value, str) and value else None


def _load_client_certificate(
    context: ssl.SSLContext, user: Mapping[str, Any], base: Path, path: Path
) -> None:
    cert_file, key_file = _file(user, "client-certificate", base), _file(user, "client-key", base)
    cert_data, key_data = _data(user, "client-certificate-data"), _data(user, "client-key-data")
    try:
        if cert_file and key_file:
            context.load_cert_chain(cert_file, key_file)
            return
        if not (cert_data or cert_file) or not (key_data or key_file):
            raise ConfigError(
                f"kubeconfig {path}: a client certificate needs both the certificate and the key"
            )
        # ssl loads certificates from files only: hand it private copies that vanish at once.
        with tempfile.TemporaryDirectory() as folder:
            files = []
            for index, (data, given) in enumerate(((cert_data, cert_file), (key_data, key_file))):
                if given:
                    files.append(given)
                    continue
                target = Path(folder, f"{index}.pem")
                target.touch(mode=0o600)
                target.write_text(data or "")
                files.append(str(target))
            context.load_cert_chain(files[0], files[1])
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"kubeconfig {path}: cannot load the client certificate: {error}") from error


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
        """The decoded answer; ApiError for an error status (404 included)."""
        headers = self.credentials.headers()
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        async with self._client().request(
            method,
            self.credentials.server + path,
            params=params,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as reply:
            text = await reply.text()
            if reply.status >= 400:
                raise ApiError(reply.status, reply.reason or "", text)
            decoded: dict[str, Any] = json.loads(text) if text else {}
            return decoded

    async def watch(
        self, path: str, params: Mapping[str, str], idle_seconds: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, until the server ends it. A connection silent for
        `idle_seconds` (bookmarks arrive about every minute) is taken as dead and ends the watch."""
        async with self._client().get(
            self.credentials.server + path,
            params={**params, "watch": "true"},
            headers=self.credentials.headers(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=idle_seconds),
        ) as reply:
            if reply.status >= 400:
                raise ApiError(reply.status, reply.reason or "", await reply.text())
            while line := await reply.content.readline():
                if line.strip():
                    yield json.loads(line)
