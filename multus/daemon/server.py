"""The node daemon's socket API, compatible with upstream Multus's thick plugin.

`POST /cni` takes `{"env": {CNI_* variables}, "config": "<base64 of the CNI stdin>",
"interfaceAttributes": {...}}` and answers `200 {"Result": <CNI result or null>}` or `400 <CNI error>`
(`503 <CNI error>` for an ADD before the daemon is ready: the shim then waits for readiness);
`GET /healthz` (or POST, as upstream) says the process serves, `GET /readyz` that it is ready (the
caches synced, the node config in place) and not draining. Requests are bounded in number, serialised
per container, logged one line each and counted in upstream's metric too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from multus.attachment_cache import SpareFiles
from multus.cni.cache import DEFAULT_CACHE_DIR
from multus.cni.environment import CNIEnvironment, Command, NothingToDelete
from multus.cni.errors import CNIError, DecodeFailure, InternalError, TryAgainLater
from multus.cni.jsontext import MalformedJSON, decode_json
from multus.cni.schema import Field, Record, SchemaError, any_dict, dict_of, nullable, string
from multus.cni.versions import version_reply
from multus.config import MultusConfig, Stdin, read_stdin, reply_version
from multus.daemon.http import HTTPServer, Request, Routes
from multus.daemon.metrics import DaemonMetrics
from multus.k8s.view import ClusterView
from multus.logs import fields, get_logger
from multus.orchestrator import Parts, RequestScope, pod_of, run_bookkeeping, run_command, run_delegate

log = get_logger("server")

SOCKET_NAME = "multus.sock"
# Reports wait, at most this many seconds, while pod requests are under way: in a burst, the finished
# pods' API writes would take CPU from the plugins of the pods still waiting for theirs.
REPORT_QUIET_WAIT = 2.0
# The methods promhttp names in its `method` label; any other is "unknown".
_STANDARD_METHODS = frozenset(
    {"GET", "PUT", "HEAD", "POST", "DELETE", "CONNECT", "OPTIONS", "NOTIFY", "TRACE", "PATCH"}
)
# A route's request scope, made before anything runs, so that the work it defers runs even when the
# request fails; None for a request answered without one (VERSION).
ScopeMaker = Callable[[CNIEnvironment, bytes], RequestScope | None]
# Runs the request in its scope, given its body (the CNI stdin, or /delegate's delegate config).
RequestRunner = Callable[[RequestScope, bytes, dict[str, Any]], Awaitable[dict[str, Any] | None]]


class NotReady(TryAgainLater):
    """An ADD before the caches synced: answered 503, after which the shim waits for /readyz."""


class UnsafeSocketDir(Exception):
    """socketDir cannot be trusted with the socket: the daemon stops, naming why."""


def secure_socket_dir(folder: Path) -> None:
    """Make `folder` (if missing) and check that it is a real folder of this user's before the daemon
    changes its mode and removes a stale socket in it: through a symlink, both would land on whatever
    the link names."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass  # not a folder: said below
    except OSError as error:
        raise UnsafeSocketDir(f"socketDir: cannot make {folder}: {error.strerror}") from None
    info = folder.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeSocketDir(f"socketDir: {folder} is a symbolic link; name the folder itself")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeSocketDir(f"socketDir: {folder} is not a folder")
    if info.st_uid != os.geteuid():
        raise UnsafeSocketDir(f"socketDir: {folder} belongs to user {info.st_uid}, not to the daemon's")
    folder.chmod(0o700)


class WireRequest(Record):
    """The shim's request, as upstream's shim sends it."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "env": Field(dict_of(string)),
        "config": Field(string),
        "interface_attributes": Field(nullable(any_dict), None, alias="interfaceAttributes"),
    }
    BY_NAME = True

    env: dict[str, str]
    config: str  # base64 of the CNI stdin
    interface_attributes: dict[str, Any] | None


@dataclass
class ServerSettings:
    socket_dir: Path = Path("/run/multus")
    max_concurrent: int = 32
    results_dir: Path = DEFAULT_CACHE_DIR
    drain_seconds: float = 30.0
    max_request_bytes: int = 1024 * 1024
    node_options: dict[str, Any] = field(default_factory=dict)  # multus keys for /delegate requests
    # Laid over each /cni request's config, as upstream's daemon lays its own config (empty: nothing).
    request_overrides: dict[str, Any] = field(default_factory=dict)


class CNIServer:
    def __init__(
        self,
        settings: ServerSettings,
        view: ClusterView | None,
        metrics: DaemonMetrics | None = None,
        *,
        ready: Any = None,
        status: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.view = view
        self.metrics = metrics or DaemonMetrics()
        self._is_ready = ready or (lambda: True)
        self._status = status
        self.in_flight = 0  # requests admitted and not yet answered, dynamic-network changes included
        self._quiet = asyncio.Event()  # set while nothing is in flight
        self._quiet.set()
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self._container_locks: dict[str, tuple[asyncio.Lock, int]] = {}  # lock, requests using it
        self.draining = False
        self._http: HTTPServer | None = None
        self._reports: set[asyncio.Task[None]] = set()  # network-status writes still going on
        self._latest_report: dict[str, asyncio.Task[None]] = {}  # by pod
        self._spares = SpareFiles()

    def _observe_delegate(self, plugin: str, command: str, seconds: float) -> None:
        self.metrics.delegate_latency.labels(plugin, command).observe(seconds)

    def _report_later(self, report: Coroutine[Any, Any, None], pod: str) -> None:
        """Run `report` now that the reply is out. It replaces the pod's report still pending, if any,
        which is about an older request: a DEL's clearing must not land after the next sandbox's
        network-status, nor an ADD's network-status after its sandbox's DEL."""
        earlier = self._latest_report.get(pod)
        if earlier is not None and earlier.cancel():
            log.info("pod report replaced by a newer one", extra=fields(pod=pod))
        task = asyncio.create_task(_after(earlier, self._quiet, report))
        self._reports.add(task)
        self._latest_report[pod] = task

        def done(finished: asyncio.Task[None]) -> None:
            self._reports.discard(finished)
            if self._latest_report.get(pod) is finished:
                del self._latest_report[pod]

        task.add_done_callback(done)

    @property
    def socket_path(self) -> Path:
        return self.settings.socket_dir / SOCKET_NAME

    def routes(self) -> Routes:
        return {
            "/cni": {"POST": self.handle_cni},
            "/delegate": {"POST": self.handle_delegate},
            "/healthz": {"GET": self.handle_healthz, "POST": self.handle_healthz},  # upstream takes both
            "/readyz": {"GET": self.handle_readyz},
            "/status": {"GET": self.handle_status},
        }

    async def start(self) -> None:
        """Serve on the unix socket: mode 0600 in a 0700 folder, since the socket runs pod networking."""
        secure_socket_dir(self.settings.socket_dir)
        self.socket_path.unlink(missing_ok=True)
        routes = self.routes()
        self._http = HTTPServer(
            routes, max_body=self.settings.max_request_bytes, answered=self._counter(routes)
        )
        old_umask = os.umask(0o177)
        try:
            await self._http.start(str(self.socket_path))
        finally:
            os.umask(old_umask)
        self.socket_path.chmod(0o600)
        log.info("serving", extra=fields(socket=str(self.socket_path)))

    def _counter(self, routes: Routes) -> Callable[[str, str, int], None]:
        """Counts each answer in upstream's `multus_server_request_total`: handler is the route's path,
        "NotFound" for any other path; code the status; method lower-case, "unknown" if not a standard
        one (promhttp's labels)."""

        def count(method: str, path: str, status: int) -> None:
            handler = path if path in routes else "NotFound"
            label = method.lower() if method in _STANDARD_METHODS else "unknown"
            self.metrics.server_requests.labels(handler, str(status), label).inc()

        return count

    async def drain(self) -> None:
        """Fail readiness first, then finish what is in flight and stop."""
        self.draining = True
        if self._http is not None:
            await self._http.close(self.settings.drain_seconds)
            self._http = None
        self.socket_path.unlink(missing_ok=True)
        if self._reports:  # pods already attached still get their network-status
            await asyncio.wait(set(self._reports), timeout=self.settings.drain_seconds)
        self._spares.discard()

    async def handle_healthz(self, request: Request) -> None:
        request.respond(200, {"healthy": True})

    def _ready(self) -> bool:
        return not self.draining and bool(self._is_ready())

    async def handle_readyz(self, request: Request) -> None:
        ready = self._ready()
        request.respond(200 if ready else 503, {"ready": ready})

    async def handle_status(self, request: Request) -> None:
        """What the node holds (`multusctl status`): read from disk, in a worker thread."""
        if self._status is None:
            request.respond(404, {"error": "this daemon keeps no status"})
            return
        document = await asyncio.to_thread(self._status)
        request.respond(200, document | {"draining": self.draining})

    async def handle_cni(self, request: Request) -> None:
        await self._serve(request, self._cni_scope, self._run)

    async def handle_delegate(self, request: Request) -> None:
        """Hot-plug of one network into a running pod, as upstream's dynamic-networks controller asks."""
        await self._serve(request, self._delegate_scope, self._run_delegate)

    async def _serve(self, request: Request, make_scope: ScopeMaker, run: RequestRunner) -> None:
        started = time.monotonic()
        command, container, pod, stdin = "", "", "", b""
        scope: RequestScope | None = None
        reply: dict[str, Any] | None
        async with contextlib.AsyncExitStack() as admitted:
            try:
                wire = _decode(request.body)
                command = wire.env.get("CNI_COMMAND", "")
                container = wire.env.get("CNI_CONTAINERID", "")
                stdin = _stdin(wire.config)  # first: an error in the environment answers in its version
                env = CNIEnvironment.from_environ(wire.env)
                pod = "/".join(part for part in pod_of(env) if part)
                if env.command == Command.ADD and not self._ready():
                    raise NotReady(
                        "multus daemon is not ready", "its caches of pods and networks are still syncing"
                    )
                await admitted.enter_async_context(self.admitted(env.container_id))
                scope = make_scope(env, stdin)
                if scope is None:
                    reply = version_reply(reply_version(stdin)).to_dict()
                else:
                    reply = await run(scope, stdin, wire.interface_attributes or {})
                status, payload = 200, {"Result": reply}
            except NothingToDelete as error:  # a DEL no ADD could have made anything for: success, as thin
                status, payload = 200, {"Result": None}
                log.info("nothing to delete", extra=fields(command=command, reason=error.msg))
            except CNIError as error:  # answered in the request's version: read only now, for errors alone
                status = 503 if isinstance(error, NotReady) else 400
                payload = error.to_dict(reply_version(stdin))
            except Exception as error:  # a bug must still answer the shim with a CNI error
                log.exception("internal error", extra=fields(command=command, container=container))
                failure = InternalError(f"internal error: {type(error).__name__}: {error}")
                status, payload = 400, failure.to_dict(reply_version(stdin))
            elapsed = time.monotonic() - started
            self.metrics.requests.labels(command or "invalid", "ok" if status == 200 else "error").inc()
            self.metrics.latency.labels(command or "invalid").observe(elapsed)
            # The runtime gets its answer first. The container's next request still waits for the files
            # (written by a worker thread: an fsync must not stall the loop), the pod's report not.
            request.respond(status, payload)
            context = {"command": command, "container": container, "pod": pod}
            log.log(
                logging.INFO if status == 200 else logging.ERROR,
                "request",
                extra=fields(
                    **context,
                    result="ok" if status == 200 else f"error {payload.get('code')}",
                    ms=round(elapsed * 1e3, 1),
                    error=payload.get("msg") if status != 200 else None,
                ),
            )
            bookkeeping = scope.take_bookkeeping() if scope is not None else []
            if self._spares.short():
                bookkeeping.append(self._spares.refill)
            if bookkeeping:
                await asyncio.to_thread(run_bookkeeping, bookkeeping, context)
            for report in scope.take_reports() if scope is not None else []:
                self._report_later(report, pod)

    def _cni_scope(self, env: CNIEnvironment, stdin: bytes) -> RequestScope | None:
        if env.command == Command.VERSION:
            return None
        return RequestScope(env, self.read_config(stdin), replies_first=True)

    def read_config(self, stdin: bytes) -> Stdin:
        """A /cni request's config, with what the daemon lays over it."""
        if self.settings.request_overrides:
            stdin = _overridden(stdin, self.settings.request_overrides)
        return read_stdin(stdin)

    def node_config(self) -> Stdin:
        """The node's multus settings (cniDir, binDir...), as the daemon config gives them."""
        return read_stdin(json.dumps(self.settings.node_options).encode())

    def _delegate_scope(self, env: CNIEnvironment, _: bytes) -> RequestScope:
        # The request carries the delegate's config, not ours: the node's settings apply.
        return RequestScope(env, self.node_config(), replies_first=True)

    async def _run(self, scope: RequestScope, _: bytes, __: dict[str, Any]) -> dict[str, Any] | None:
        return await run_command(scope, self._parts(scope))

    async def _run_delegate(
        self, scope: RequestScope, delegate: bytes, attributes: dict[str, Any]
    ) -> dict[str, Any] | None:
        return await run_delegate(scope, self._parts(scope), delegate, attributes)

    def _parts(self, scope: RequestScope) -> Parts:
        return self.parts_for(scope.config, scope.env.path)

    def parts_for(self, config: MultusConfig, cni_path: Sequence[str] = ()) -> Parts:
        """What a request's commands work with; `cni_path` is the runtime's, none for the daemon's own."""
        return Parts.for_request(
            config,
            self.view,
            cni_path=cni_path,
            results_dir=self.settings.results_dir,
            observer=self._observe_delegate,
            spares=self._spares,
        )

    @asynccontextmanager
    async def admitted(self, container_id: str) -> AsyncIterator[None]:
        """Within the concurrency bound, and after any other request for the same container."""
        self.metrics.in_flight.inc()
        self.in_flight += 1
        self._quiet.clear()
        try:
            async with self._slots, self._serialised(container_id):
                yield
        finally:
            self.metrics.in_flight.dec()
            self.in_flight -= 1
            if not self.in_flight:
                self._quiet.set()

    @asynccontextmanager
    async def _serialised(self, container_id: str) -> AsyncIterator[None]:
        """One request at a time per container: a DEL must not overtake the ADD it undoes."""
        if not container_id:
            yield
            return
        lock, users = self._container_locks.get(container_id, (asyncio.Lock(), 0))
        self._container_locks[container_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._container_locks[container_id]
            if users == 1:
                del self._container_locks[container_id]
            else:
                self._container_locks[container_id] = (lock, users - 1)


async def _after(
    earlier: asyncio.Task[None] | None, quiet: asyncio.Event, report: Coroutine[Any, Any, None]
) -> None:
    """`report`, once `earlier` (cancelled) has ended, as its request may be on the wire still, and once
    no pod request is under way (REPORT_QUIET_WAIT at most)."""
    try:
        if earlier is not None:
            await asyncio.wait({earlier})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(quiet.wait(), REPORT_QUIET_WAIT)
    except asyncio.CancelledError:
        report.close()  # replaced by a newer one before it began
        raise
    await report


def _overridden(stdin: bytes, overrides: dict[str, Any]) -> bytes:
    """The request's config with `overrides` laid over its keys; a config that is not a JSON object is
    left for parse_config to refuse."""
    try:
        config = decode_json(stdin)
    except MalformedJSON:
        return stdin
    if not isinstance(config, dict):
        return stdin
    return json.dumps(config | overrides).encode()


# A body that is not an object, or an object where one belongs, is said in JSON's words, as ever.
_JSON_WORDING = {"dict_type": "Input should be an object", "model_type": "Input should be an object"}


def _decode(body: bytes) -> WireRequest:
    try:
        return WireRequest.validate(decode_json(body))
    except MalformedJSON as error:
        raise DecodeFailure(f"daemon request: body: {error}") from None
    except SchemaError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        message = _JSON_WORDING.get(first["type"], first["msg"])
        raise DecodeFailure(f"daemon request: {where}: {message}") from None


def _stdin(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise DecodeFailure(
            "daemon request: config must be the base64 of the CNI config", str(error)
        ) from None
