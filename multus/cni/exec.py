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
import ctypes
import errno
import fcntl
import functools
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
        f'plugin "{plugin_type}" not found in binDir or CNI_PATH',
        f"searched: {os.pathsep.join(search_dirs) or '(no folders)'}",
    )


def plugin_result(plugin_type: str, stdout: bytes, version: str) -> Result:
    """The result a plugin printed; a missing `cniVersion` means `version`."""
    try:
        return parse_result(stdout, default_version=version)
    except CNIError as exc:
        raise DelegateFailed(
            f'plugin "{plugin_type}" printed an invalid result: {exc.msg}', f"stdout: {tail(stdout)}"
        ) from None


def tail(output: bytes) -> str:
    return output[-_TAIL_BYTES:].decode(errors="replace").strip()


class DelegateExecutor:
    """Runs plugins found in `search_dirs` (in order: the meta-plugin's binDir first, then CNI_PATH).

    `environ` is the environment plugins inherit (default: this process's, as it was when the first
    executor was made), without any `CNI_*` variable of our own; `timeout` bounds each run; an exec
    refused with "text file busy" (a binary still being written by an installer) is retried
    `busy_retries` times with growing pauses. `observer`, when given, hears of every run as (plugin
    type, command, seconds).
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
        self.search_dirs = tuple(dict.fromkeys(os.fspath(folder) for folder in search_dirs))
        self._observer = observer
        self.timeout = timeout
        self._busy_pauses = [busy_pause * 2**attempt for attempt in range(busy_retries)]
        self._inherited = _without_cni(environ) if environ is not None else _process_environ()
        self._found: dict[str, Path] = {}

    def find(self, plugin_type: str) -> Path:
        """The plugin's binary, looked up once: a daemon request checks every plugin before running any.
        Forgotten when it fails to start (an installer may have moved it)."""
        found = self._found.get(plugin_type)
        if found is None:
            found = self._found[plugin_type] = find_plugin(plugin_type, self.search_dirs)
        return found

    async def execute(
        self,
        plugin_type: str,
        env: CNIEnvironment,
        stdin: bytes,
        *,
        succeeded: Callable[[], None] | None = None,
    ) -> bytes:
        """The stdout of a successful run; the plugin's error, DelegateFailed or DelegateTimeout otherwise.

        `env.path` is replaced by this executor's search folders: delegates always get CNI_PATH.
        `succeeded` is called as soon as the plugin has exited 0, and what it wakes runs before this
        run's log line and metric: a caller's next plugin starts that much sooner.
        """
        path = self.find(plugin_type)
        environ = {**self._inherited, **replace(env, path=self.search_dirs).to_environ()}
        started = time.monotonic()
        run = await self._run(path, environ, stdin, f"{env.command} {plugin_type}")
        elapsed = time.monotonic() - started
        if run.returncode == 0 and succeeded is not None:
            succeeded()
            await asyncio.sleep(0)
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
        return plugin_result(plugin_type, await self.execute(plugin_type, env, stdin), version)

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
        child = await self._spawn(path, environ)
        try:
            async with asyncio.timeout(self.timeout):  # in this task: its stdin goes out at once
                await child.finish(stdin)
        except TimeoutError:
            await child.kill()
            raise DelegateTimeout(
                f"{what} did not finish within {self.timeout:g} s and was killed",
                f"stderr: {tail(await child.stderr_after_kill(_DRAIN_GRACE))}",
            ) from None
        finally:
            if child.returncode is None:  # the caller gave up on us: still leave no process behind
                await child.kill()
            child.close()
        assert child.returncode is not None  # finish() returned, so the process was reaped
        return PluginRun(child.returncode, child.stdout, child.stderr)

    async def _spawn(self, path: Path, environ: dict[str, str]) -> _Child:
        pauses = iter(self._busy_pauses)
        while True:
            try:
                return await _Child.start(path, environ)
            except OSError as exc:
                pause = next(pauses, None)
                if exc.errno != errno.ETXTBSY or pause is None:
                    self._found = {name: found for name, found in self._found.items() if found != path}
                    raise DelegateFailed(f"cannot run plugin {path}", exc.strerror or str(exc)) from None
                await asyncio.sleep(pause)
            except ValueError as exc:  # a NUL byte in the environment
                raise DelegateFailed(f"cannot run plugin {path}", str(exc)) from None


class _Child:
    """A running plugin. The event loop feeds its stdin and reads its stdout and stderr straight from the
    pipes, and learns of its exit through a pidfd (a worker thread's waitpid on kernels without them).

    Leaner than asyncio's subprocess transports: a fraction of the CPU per run, which the daemon pays
    for every delegate of every pod.
    """

    running = 0  # started and not yet reaped, in this process

    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int, stderr_fd: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._loop = asyncio.get_running_loop()
        _Child.running += 1
        self._stdin_fd = stdin_fd
        self._stdout_fd, self._stderr_fd = stdout_fd, stderr_fd
        self._output = {stdout_fd: bytearray(), stderr_fd: bytearray()}
        self._reading = set(self._output)
        self._outputs_closed: asyncio.Future[None] = self._loop.create_future()
        for fd in self._reading:
            os.set_blocking(fd, False)
            self._loop.add_reader(fd, self._readable, fd)
        self._exit = self._watch_exit()
        self._exit.add_done_callback(_reaped)

    @classmethod
    async def start(cls, path: Path, environ: Mapping[str, str]) -> _Child:
        """The plugin started. The spawn waits until the plugin has exec'd, which on a busy node takes
        milliseconds: while other plugins of ours run, it waits in a worker thread (without the GIL),
        so that the loop goes on reading their outputs and serving requests meanwhile. With none
        running, the loop has nothing else of ours to do and waits itself, sparing a thread's wake-up."""
        if not cls.running:
            return cls(*_spawn_process(path, environ, off_loop=False))
        spawn = functools.partial(_spawn_process, path, environ, off_loop=True)
        spawning = asyncio.get_running_loop().run_in_executor(_spawner(), spawn)
        try:
            started = await asyncio.shield(spawning)
        except asyncio.CancelledError:  # the caller gave up: a plugin started meanwhile is killed
            try:
                orphan = cls(*await spawning)
            except (OSError, ValueError):
                raise asyncio.CancelledError from None
            await orphan.kill()
            orphan.close()
            raise
        return cls(*started)

    @property
    def stdout(self) -> bytes:
        return bytes(self._output[self._stdout_fd])

    @property
    def stderr(self) -> bytes:
        return bytes(self._output[self._stderr_fd])

    async def finish(self, stdin: bytes) -> None:
        """Give the plugin its stdin, read until both outputs close, and reap it."""
        await self._feed(stdin)
        # Shielded: a timeout cancels this wait, not the reaping that kill() still needs.
        await asyncio.shield(self._outputs_closed)
        self.returncode = await asyncio.shield(self._exit)

    async def kill(self) -> None:
        """SIGKILL to the plugin's whole process group, then reap the plugin."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.returncode = await asyncio.shield(self._exit)

    async def stderr_after_kill(self, grace: float) -> bytes:
        """stderr to its end, or as far as it got in `grace` seconds: a helper that left the process group
        may still hold the pipe open."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._outputs_closed), grace)
        return self.stderr

    def close(self) -> None:
        for fd in list(self._reading):
            self._stop_reading(fd)
        if self._stdin_fd >= 0:
            os.close(self._stdin_fd)
            self._stdin_fd = -1

    async def _feed(self, data: bytes) -> None:
        fd = self._stdin_fd
        os.set_blocking(fd, False)
        rest = memoryview(data)
        try:
            while rest:
                try:
                    rest = rest[os.write(fd, rest) :]
                except BlockingIOError:  # more than the pipe holds: wait until the plugin reads some
                    writable: asyncio.Future[None] = self._loop.create_future()
                    self._loop.add_writer(fd, writable.set_result, None)
                    try:
                        await writable
                    finally:
                        self._loop.remove_writer(fd)
        except BrokenPipeError:
            pass  # the plugin exited without reading its config: that is its answer, not our failure
        finally:
            os.close(fd)
            self._stdin_fd = -1

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # a pipe that fails to read counts as closed
        if data:
            self._output[fd] += data
        else:
            self._stop_reading(fd)

    def _stop_reading(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        os.close(fd)
        self._reading.discard(fd)
        if not self._reading and not self._outputs_closed.done():
            self._outputs_closed.set_result(None)

    def _watch_exit(self) -> asyncio.Future[int]:
        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError:  # before Linux 5.3, or refused by a seccomp profile
            return asyncio.ensure_future(asyncio.to_thread(_reap, self.pid))
        exited: asyncio.Future[int] = self._loop.create_future()

        def readable() -> None:
            self._loop.remove_reader(pidfd)
            os.close(pidfd)
            exited.set_result(_reap(self.pid))  # it has exited: waitpid returns at once

        self._loop.add_reader(pidfd, readable)
        return exited


def _pipe() -> tuple[int, int]:
    """A close-on-exec pipe whose ends are above 0, 1 and 2, so that the child's dup2s cannot clobber them."""
    ends = []
    for end in os.pipe2(os.O_CLOEXEC):
        if end < 3:
            ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 3))
            os.close(end)
        else:
            ends.append(end)
    return ends[0], ends[1]


def _reaped(_: asyncio.Future[int]) -> None:
    _Child.running -= 1


@functools.cache
def _spawner() -> ThreadPoolExecutor:
    """Threads for spawns only: the default executor's may all be busy with file writes and fsyncs."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="multus-spawn")


def _spawn_process(path: Path, environ: Mapping[str, str], *, off_loop: bool) -> tuple[int, int, int, int]:
    """posix_spawn (a vfork underneath) in a process group of its own, so a kill reaches its helpers
    too; the pid and our ends of its stdin, stdout and stderr pipes. Not a session of its own: where
    the kernel has scheduler autogroups, each new session costs one, about half a millisecond per run.

    os.posix_spawn holds the GIL until the child has exec'd: `off_loop` (a worker thread's spawn) goes
    through libc with ctypes instead, which lets the GIL go; os.posix_spawn costs less otherwise."""
    _seal_inherited_descriptors()
    (stdin_r, stdin_w), (stdout_r, stdout_w), (stderr_r, stderr_w) = _pipe(), _pipe(), _pipe()
    theirs, ours = (stdin_r, stdout_w, stderr_w), (stdin_w, stdout_r, stderr_r)
    try:
        if off_loop:
            pid = _libc_spawn(path, environ, theirs)
        else:
            pid = os.posix_spawn(
                path,
                [str(path)],
                environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(theirs)],
                setpgroup=0,
                setsigmask=(),
                setsigdef=_DEFAULT_SIGNALS,
            )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in theirs:
            os.close(fd)
    return pid, *ours


# Ignored by Python; plugins get their defaults.
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
# Room for libc's opaque posix_spawnattr_t, posix_spawn_file_actions_t and sigset_t (glibc: 336, 80
# and 128 bytes).
_OPAQUE_BYTES = 1024
# posix_spawnattr_setflags flags, the same in glibc and musl.
_SETPGROUP, _SETSIGDEF, _SETSIGMASK = 0x02, 0x04, 0x08
_LIBC = ctypes.CDLL(None, use_errno=True)


def _checked(code: int) -> None:
    """posix_spawn and its helpers return an errno value rather than setting errno."""
    if code:
        raise OSError(code, os.strerror(code))


@functools.cache
def _spawn_attributes() -> ctypes.Array[ctypes.c_char]:
    """The attributes of every off-loop spawn, made once (posix_spawn only reads them): a process group
    of its own, no signal blocked, _DEFAULT_SIGNALS at their defaults."""
    attributes, no_signals, defaults = (ctypes.create_string_buffer(_OPAQUE_BYTES) for _ in range(3))
    _LIBC.sigemptyset(no_signals)
    _LIBC.sigemptyset(defaults)
    for number in _DEFAULT_SIGNALS:
        _LIBC.sigaddset(defaults, int(number))
    _checked(_LIBC.posix_spawnattr_init(attributes))
    _checked(
        _LIBC.posix_spawnattr_setflags(attributes, ctypes.c_short(_SETPGROUP | _SETSIGDEF | _SETSIGMASK))
    )
    _checked(_LIBC.posix_spawnattr_setpgroup(attributes, 0))
    _checked(_LIBC.posix_spawnattr_setsigmask(attributes, no_signals))
    _checked(_LIBC.posix_spawnattr_setsigdefault(attributes, defaults))
    return attributes


def _libc_spawn(path: Path, environ: Mapping[str, str], fds: Sequence[int]) -> int:
    """libc's posix_spawn of `path` with `environ`, `fds` as its 0, 1 and 2; its pid. Refuses what
    os.posix_spawn refuses (a NUL byte, a name with `=`) with the same ValueError."""
    program = _c_string(os.fsencode(path))
    entries = [_environment_entry(name, value) for name, value in environ.items()]
    attributes = _spawn_attributes()
    actions = ctypes.create_string_buffer(_OPAQUE_BYTES)
    _checked(_LIBC.posix_spawn_file_actions_init(actions))
    try:
        for target, fd in enumerate(fds):
            _checked(_LIBC.posix_spawn_file_actions_adddup2(actions, fd, target))
        pid = ctypes.c_int()
        argv = (ctypes.c_char_p * 2)(program, None)
        envp = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
        _checked(_LIBC.posix_spawn(ctypes.byref(pid), program, actions, attributes, argv, envp))
        return pid.value
    finally:
        _LIBC.posix_spawn_file_actions_destroy(actions)


def _c_string(data: bytes) -> bytes:
    if b"\0" in data:
        raise ValueError("embedded null byte")
    return data


def _environment_entry(name: str, value: str) -> bytes:
    if not name or "=" in name:
        raise ValueError(f"illegal environment variable name {name!r}")
    return _c_string(os.fsencode(name) + b"=" + os.fsencode(value))


@functools.cache
def _seal_inherited_descriptors() -> None:
    """Close-on-exec for the descriptors above 2 that whoever started us left open, once: those Python
    opens are close-on-exec already. Plugins get none of them, as with subprocess's close_fds."""
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            if int(name) > 2:
                os.set_inheritable(int(name), False)


def _without_cni(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if not name.startswith("CNI_")}


@functools.cache
def _process_environ() -> dict[str, str]:
    """Read once: the daemon's environment does not change, and reading os.environ costs more than a
    tenth of a millisecond, which a daemon would pay on every request."""
    return _without_cni(os.environ)


def _reap(pid: int) -> int:
    """Our child's exit status, as subprocess gives it: the exit code, or minus the killing signal."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


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
