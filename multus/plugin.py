"""The `multus` executable in in-process mode: a CNI plugin that runs the orchestrator itself.

The runtime gives the CNI environment and the network config on stdin; the result (ADD) or the error
goes to stdout as CNI JSON, with exit status 0 or 1. No failure ever ends in a traceback.

Every run is a new process, so what it imports is most of what it costs: VERSION is answered with
`multus.cni.versions`, which imports the standard library's json and re alone (not even typing), and each
other command loads only what it uses (logging, the config's records, asyncio, the cluster
client), imported where it is first needed.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # without importing typing: see multus.cni.errors
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from multus.cni.environment import CNIEnvironment, Command
    from multus.config import MultusConfig, Stdin
    from multus.k8s.view import ClusterView

IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


def make_view(config: MultusConfig, environ: Mapping[str, str]) -> ClusterView | None:
    """The cluster the config points at: a folder of YAML files, a kubeconfig, the pod's service
    account, or none (then only the cluster network and `delegates` are attached)."""
    if config.cluster_folder is not None:
        from multus.kube.fileview import FileView  # noqa: PLC0415  only what the config asks for is imported

        return FileView(config.cluster_folder, config.state_folder)
    if config.kubeconfig is not None or environ.get(IN_CLUSTER_ENV):
        from multus.kube.apiview import ApiSettings, ApiView  # noqa: PLC0415
        from multus.kube.transport_asyncio import AsyncioTransport  # noqa: PLC0415

        settings = ApiSettings(
            kubeconfig=config.kubeconfig,
            request_timeout=config.api.request,
            retries=config.api.retries,
            retry_backoff=config.api.backoff,
        )
        # One connection, its requests in turn: each TLS handshake would cost this process more.
        return ApiView(settings, AsyncioTransport(connections=1))
    return None


def _view_for(command: Command, config: MultusConfig, environ: Mapping[str, str]) -> ClusterView | None:
    """DEL, CHECK and GC work from the node's own records: a cluster client that cannot even be built (a
    kubeconfig removed or damaged) must not stop them, least of all the DEL that frees a pod's addresses."""
    if command in ("ADD", "STATUS"):
        return make_view(config, environ)
    try:
        return make_view(config, environ)
    except Exception as error:  # whatever broke, these commands go on without the cluster
        from multus.logs import fields, get_logger  # noqa: PLC0415

        get_logger("plugin").error(
            "no cluster view: going on without it", extra=fields(command=command, error=str(error))
        )
        return None


async def _run(env: CNIEnvironment, stdin: Stdin, view: ClusterView | None) -> dict[str, Any] | None:
    from multus.orchestrator import Parts, RequestScope, run_command  # noqa: PLC0415  VERSION and bad input stay cheap

    try:
        return await run_command(
            RequestScope(env, stdin), Parts.for_request(stdin.config, view, cni_path=env.path)
        )
    finally:
        if view is not None:
            await view.close()


def handle(environ: Mapping[str, str], stdin: bytes) -> tuple[dict[str, Any] | None, int]:
    """The reply to print and the exit status, for one invocation."""
    from multus.cni.versions import reply_version, version_reply  # noqa: PLC0415  the standard library's alone

    version = reply_version(stdin)
    if environ.get("CNI_COMMAND") == "VERSION":
        # Whatever the other variables hold, as both shims answer it; nothing else is imported for it.
        return version_reply(version).to_dict(), 0
    return _handle(environ, stdin, version)


def _handle(environ: Mapping[str, str], stdin: bytes, version: str) -> tuple[dict[str, Any] | None, int]:
    import asyncio  # noqa: PLC0415  imported here, not at the top: VERSION never needs these

    from multus.cni.environment import CNIEnvironment, Command, NothingToDelete  # noqa: PLC0415
    from multus.cni.errors import CNIError, InternalError, IOFailure  # noqa: PLC0415
    from multus.logs import fields, get_logger  # noqa: PLC0415

    log = get_logger("plugin")
    try:
        env = CNIEnvironment.from_environ(environ)
        from multus.config import read_stdin  # noqa: PLC0415  a bad environment is refused before this

        parsed = read_stdin(stdin)
        parsed.config.configure_logging()
        reply = asyncio.run(_run(env, parsed, _view_for(env.command, parsed.config, environ)))
        return reply, 0
    except NothingToDelete as error:
        log.info("nothing to delete", extra=fields(command=Command.DEL, reason=error.msg))
        return None, 0
    except CNIError as error:
        failure = error
    except OSError as error:
        failure = IOFailure(f"{error.strerror or error}", str(error.filename or ""))
    except Exception as error:  # a bug: still a CNI error on stdout, with the traceback in the log
        log.exception("internal error", extra=fields(command=environ.get("CNI_COMMAND")))
        return InternalError(f"internal error: {type(error).__name__}: {error}").to_dict(version), 1
    log.error(
        "request failed",
        extra=fields(
            command=environ.get("CNI_COMMAND"), container=environ.get("CNI_CONTAINERID"), error=str(failure)
        ),
    )
    return failure.to_dict(version), 1


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # a person's question; a runtime gives no arguments
        from multus import version  # noqa: PLC0415

        print(f"multus {version()}")
        sys.exit(0)
    if os.environ.get("CNI_COMMAND") != "VERSION":  # which logs nothing
        from multus.logs import configure  # noqa: PLC0415

        configure()  # until the config says otherwise: what fails before it is read is logged all the same
    reply, status = handle(os.environ, sys.stdin.buffer.read())
    if reply is not None:
        sys.stdout.write(json.dumps(reply) + "\n")
    sys.exit(status)
