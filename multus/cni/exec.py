"""Running one delegate plugin: find its binary, give it its environment and stdin, bound its time, read
its answer.

Async, because the daemon runs many delegates at once. Each plugin starts in a process group of its
own, so a plugin that outlives its time limit is killed together with any helper it started (bridge
runs host-local, for instance). The plugin is always waited for, even when the caller's task is
cancelled, so it never lingers as our zombie; its killed helpers are orphans that init reaps.

Every failure comes out as a `CNIError`: the plugin's own error with its own code, `DelegateTimeout`,
or `DelegateFailed` with the exit status or signal and the end of stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from multus.cni.environment import CNIEnvironment, Command
from multus.cni.errors import CNIError, DelegateFailed, DelegateTimeout, InvalidConfig, PluginNotAvailable
from multus.cni.jsontext import load_json
from multus.cni.names import plugin_type_error
from multus.cni.results import Result, parse_result
from multus.cni.versions import LATEST_VERSION, VersionInfo

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
# Enough of a plugin's output to explain a failure without flooding a log line or an error reply.
_TAIL_BYTES = 2048
# After a kill, how long to wait for pipes held open by a process that escaped the group.
_DRAIN_GRACE = 1.0


@dataclass(frozen=True)
class PluginRun:
    returncode: int
    stdout: bytes
    stderr: bytes


def find_plugin(plugin_type: str, search_dirs: Sequence[str]) -> Path:
    """The first regular file named `plugin_type` in `search_dirs` (libcni's FindInPath)."""
    if why := plugin_type_error(plugin_type):
        raise InvalidConfig(f"plugin type {why}")
    for folder in search_dirs:
        candidate = os.path.join(folder, plugin_type)
        if os.path.isfile(candidate):
            return Path(candidate)
    raise PluginNotAvailable(
        f'plugin "{plugin_type}" not found', f"searched: {os.pathsep.join(search_dirs) or '(no folders)'}"
    )


@contextlib.contextmanager
def children_watched_by_pidfd() -> Iterator[None]:
    """While inside, the running event loop learns of plugin exits through pidfds (Linux 5.3+).

    Python 3.11's default watcher starts a thread for every child, a few hundred microseconds per
    delegate; 3.12 and later use pidfds by themselves. The watcher is process-wide but bound to one
    loop, so the program that owns the loop (the daemon, the plugin's one-shot run) enters this from
    inside it, and leaving restores the default for whatever loop comes next.
    """
    if sys.version_info >= (3, 12) or not _pidfd_works():
        yield
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)
    try:
        yield
    finally:
        asyncio.set_child_watcher(asyncio.ThreadedChildWatcher())


def _pidfd_works() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # an old kernel, or a seccomp profile that refuses the call
        return False
    return True


def tail(output: bytes) -> str:
    return output[-_TAIL_BYTES:].decode(errors="replace").strip()


class DelegateExecutor:
    """Runs plugins found in `search_dirs` (in order: the meta-plugin's binDir first, then CNI_PATH).

    `environ` is the environment plugins inherit (default: this process's, as it is when the executor
    is made), without any `CNI_*` variable of our own; `timeout` bounds each run; an exec refused with
    "text file busy" (a binary still being written by an installer) is retried `busy_retries` times with
    growing pauses. `observer`, when given, hears of every run as (plugin type, command, seconds).
    """

    def __init__(
        self,
        search_dirs: Sequence[str | os.PathLike[str]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        busy_retries: int = 5,
        busy_pause: float = 0.05,
        environ: Mapping[str, str] | None = None,
        observer: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.search_dirs = tuple(os.fspath(folder) for folder in search_dirs)
        self._observer = observer
        self.timeout = timeout
        self._busy_pauses = [busy_pause * 2**attempt for attempt in range(busy_retries)]
        # Taken once: reading os.environ costs more than a tenth of a millisecond per call.
        inherited = os.environ if environ is None else environ
        self._inherited = {name: value for name, value in inherited.items() if not name.startswith("CNI_")}

    def find(self, plugin_type: str) -> Path:
        return find_plugin(plugin_type, self.search_dirs)

    async def execute(self, plugin_type: str, env: CNIEnvironment, stdin: bytes) -> bytes:
        """The stdout of a successful run; the plugin's error, DelegateFailed or DelegateTimeout otherwise.

        `env.path` is replaced by this executor's search folders: delegates always get CNI_PATH.
        """
        path = self.find(plugin_type)
        environ = {**self._inherited, **replace(env, path=self.search_dirs).to_environ()}
        started = time.monotonic()
        run = await self._run(path, environ, stdin, f"{env.command} {plugin_type}")
        elapsed = time.monotonic() - started
        log.debug("%s %s: exit %s in %.1f ms", env.command, path, run.returncode, elapsed * 1e3)
        if self._observer is not None:
            self._observer(plugin_type, str(env.command), elapsed)
        if run.returncode != 0:
            raise _failure(plugin_type, run)
        return run.stdout

    async def execute_with_result(
        self, plugin_type: str, env: CNIEnvironment, stdin: bytes, version: str
    ) -> Result:
        """Run a command that answers with a result (ADD); a missing `cniVersion` means `version`."""
        stdout = await self.execute(plugin_type, env, stdin)
        try:
            return parse_result(stdout, default_version=version)
        except CNIError as exc:
            raise DelegateFailed(
                f'plugin "{plugin_type}" printed an invalid result: {exc.msg}', f"stdout: {tail(stdout)}"
            ) from None

    async def version_info(self, plugin_type: str) -> VersionInfo:
        stdin = json.dumps({"cniVersion": LATEST_VERSION}).encode()
        stdout = await self.execute(plugin_type, CNIEnvironment(Command.VERSION), stdin)
        try:
            return VersionInfo.from_plugin_output(stdout)
        except CNIError as exc:
            raise DelegateFailed(
                f'plugin "{plugin_type}" printed an invalid VERSION reply: {exc.msg}',
                f"stdout: {tail(stdout)}",
            ) from None

    async def _run(self, path: Path, environ: dict[str, str], stdin: bytes, what: str) -> PluginRun:
        process = await self._spawn(path, environ)
        assert process.stdout is not None  # we asked for pipes
        assert process.stderr is not None
        stdout = asyncio.ensure_future(process.stdout.read())
        stderr = asyncio.ensure_future(process.stderr.read())
        try:
            await asyncio.wait_for(_feed_and_wait(process, stdin, stdout, stderr), self.timeout)
        except TimeoutError:
            await _kill_group(process)
            raise DelegateTimeout(
                f"{what} did not finish within {self.timeout:g} s and was killed",
                f"stderr: {tail(await _drain(stderr))}",
            ) from None
        finally:
            if process.returncode is None:  # the caller gave up on us: still leave no process behind
                await _kill_group(process)
            for reader in (stdout, stderr):
                reader.cancel()
        assert process.returncode is not None  # _feed_and_wait returned, so the process was reaped
        return PluginRun(process.returncode, _read(stdout), _read(stderr))

    async def _spawn(self, path: Path, environ: dict[str, str]) -> asyncio.subprocess.Process:
        pauses = iter(self._busy_pauses)
        while True:
            try:
                return await asyncio.create_subprocess_exec(
                    path,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=environ,
                    start_new_session=True,
                )
            except OSError as exc:
                pause = next(pauses, None)
                if exc.errno != errno.ETXTBSY or pause is None:
                    raise DelegateFailed(f"cannot run plugin {path}", exc.strerror or str(exc)) from None
                await asyncio.sleep(pause)
            except ValueError as exc:  # a NUL byte in the environment
                raise DelegateFailed(f"cannot run plugin {path}", str(exc)) from None


async def _feed_and_wait(
    process: asyncio.subprocess.Process, stdin: bytes, *readers: asyncio.Future[bytes]
) -> None:
    assert process.stdin is not None
    # A plugin may exit without reading its config; that is its answer, not our failure.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(stdin)
        await process.stdin.drain()
    process.stdin.close()
    # asyncio.wait, unlike gather, leaves the readers running when a timeout cancels us, so the
    # stderr read so far can still be reported.
    await asyncio.wait(readers)
    await process.wait()


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def _read(reader: asyncio.Future[bytes]) -> bytes:
    """What a finished pipe reader collected; a pipe that failed to read counts as empty."""
    return b"" if reader.cancelled() or reader.exception() is not None else reader.result()


async def _drain(reader: asyncio.Future[bytes]) -> bytes:
    if reader.cancelled():
        return b""
    try:
        return await asyncio.wait_for(asyncio.shield(reader), _DRAIN_GRACE)
    except TimeoutError:
        return b""


def _failure(plugin_type: str, run: PluginRun) -> CNIError:
    if run.returncode < 0:
        try:
            signame = signal.Signals(-run.returncode).name
        except ValueError:
            signame = str(-run.returncode)
        message = f'plugin "{plugin_type}" was killed by signal {signame}'
        return DelegateFailed(message, f"stderr: {tail(run.stderr)}")
    error = _plugin_error(run.stdout)
    if error is not None:
        return error
    return DelegateFailed(
        f'plugin "{plugin_type}" exited with status {run.returncode} without a CNI error',
        f"stdout: {tail(run.stdout)}; stderr: {tail(run.stderr)}",
    )


def _plugin_error(stdout: bytes) -> CNIError | None:
    """The plugin's own `{"code", "msg", "details"}`, when it printed one."""
    try:
        data = load_json(stdout, "plugin error")
    except CNIError:
        return None
    if not isinstance(data, dict):
        return None
    code, msg, details = data.get("code"), data.get("msg"), data.get("details", "")
    if not isinstance(code, int) or isinstance(code, bool) or code <= 0 or not isinstance(msg, str):
        return None
    return CNIError(msg, details if isinstance(details, str) else json.dumps(details), code=code)
