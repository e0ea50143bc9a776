"""What a connection to the API server needs, from a kubeconfig or the pod's service account.

Understood: a CA (file or inline), client certificates (files or inline), a bearer token (inline or as
a file, read again for every request since bound tokens rotate), `insecure-skip-tls-verify`. Credential
plugins (`exec`, `auth-provider`) are refused with a message saying so.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def kubeconfig_from_environment(environ: Mapping[str, str]) -> Path | None:
    """The first file `$KUBECONFIG` names, as kubectl reads it; None when it names none."""
    return next((Path(path) for path in environ.get("KUBECONFIG", "").split(os.pathsep) if path), None)


class ConfigError(ValueError):
    """The credentials cannot be loaded; the message says which file and which entry."""


@dataclass(frozen=True)
class TlsInputs:
    """The TLS material as the kubeconfig gives it: for each part a file name or PEM text (`_data`)."""

    ca_file: str | None = None
    ca_data: str | None = None
    cert_file: str | None = None
    cert_data: str | None = None
    key_file: str | None = None
    key_data: str | None = None
    verify: bool = True  # False: `insecure-skip-tls-verify`


@dataclass
class Credentials:
    server: str
    ssl_context: ssl.SSLContext | bool
    token: str | None = None
    token_file: Path | None = None
    sources: list[Path] = field(default_factory=list)  # files whose change means "load again"
    tls: TlsInputs = field(default_factory=TlsInputs)  # what `ssl_context` was built from

    def current_token(self) -> str | None:
        if self.token_file is not None:
            return self.token_file.read_text().strip()  # bound tokens rotate: read each time
        return self.token

    def headers(self) -> dict[str, str]:
        token = self.current_token()
        return {"Authorization": f"Bearer {token}"} if token else {}


def load_credentials(kubeconfig: Path | None) -> Credentials:
    """From a kubeconfig file, or (None) from the pod's service account."""
    return _from_kubeconfig(kubeconfig) if kubeconfig is not None else _in_cluster()


def _in_cluster() -> Credentials:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("no kubeconfig given and not in a pod (KUBERNETES_SERVICE_HOST is unset)")
    ca_file = str(SERVICE_ACCOUNT_DIR / "ca.crt")
    context = ssl.create_default_context(cafile=ca_file)
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    token = SERVICE_ACCOUNT_DIR / "token"
    return Credentials(server, context, token_file=token, sources=[token], tls=TlsInputs(ca_file=ca_file))


def _read_kubeconfig(path: Path) -> object:
    """The document: YAML, but one written as JSON (which YAML reads alike) is read without importing
    yaml, which costs the `multus` executable milliseconds on every pod operation."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"kubeconfig {path}: {error}") from error
    try:
        return json.loads(text)
    except ValueError:
        pass  # YAML, then
    import yaml  # noqa: PLC0415

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"kubeconfig {path}: {error}") from error


def _from_kubeconfig(path: Path) -> Credentials:
    document = _read_kubeconfig(path)
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
    tls = TlsInputs(
        ca_file=_file(cluster, "certificate-authority", base),
        ca_data=_data(cluster, "certificate-authority-data"),
        cert_file=_file(user, "client-certificate", base),
        cert_data=_data(user, "client-certificate-data"),
        key_file=_file(user, "client-key", base),
        key_data=_data(user, "client-key-data"),
        verify=not cluster.get("insecure-skip-tls-verify"),
    )
    ssl_context: ssl.SSLContext | bool = True
    if server.startswith("https://"):
        if not tls.verify:
            ssl_context = False
        else:
            ssl_context = ssl.create_default_context(cafile=tls.ca_file, cadata=tls.ca_data)
        if tls.cert_file or tls.cert_data:
            if isinstance(ssl_context, bool):
                ssl_context = ssl.create_default_context()
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
            _load_client_certificate(ssl_context, tls, path)
    token_file = user.get("tokenFile")
    return Credentials(
        server=server.rstrip("/"),
        ssl_context=ssl_context,
        token=user.get("token"),
        token_file=base / token_file if isinstance(token_file, str) else None,
        sources=[path],
        tls=tls,
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


def _load_client_certificate(context: ssl.SSLContext, tls: TlsInputs, path: Path) -> None:
    try:
        if tls.cert_file and tls.key_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
            return
        if not (tls.cert_data or tls.cert_file) or not (tls.key_data or tls.key_file):
            raise ConfigError(
                f"kubeconfig {path}: a client certificate needs both the certificate and the key"
            )
        # ssl loads certificates from files only: hand it private copies that vanish at once.
        with tempfile.TemporaryDirectory() as folder:
            files = []
            for index, (data, given) in enumerate(
                ((tls.cert_data, tls.cert_file), (tls.key_data, tls.key_file))
            ):
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
