"""Running one delegate: lookup, environment, time limit, retries, and every way a plugin can fail."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

import multus.cni.exec as exec_module
from multus.cni import (
    CNIEnvironment,
    CNIError,
    Command,
    DelegateExecutor,
    DelegateFailed,
    DelegateTimeout,
    InvalidConfig,
    PluginNotAvailable,
    VersionInfo,
    find_plugin,
)
from tests.unit.cni.fakes import FAKE_PLUGINS, process_is_gone, records

ADD = CNIEnvironment(Command.ADD, "ctr1", "/var/run/netns/none", "net1", (("IgnoreUnknown", "1"),))


def _stdin(**config: object) -> bytes:
    return json.dumps({"cniVersion": "1.1.0", "name": "fake", **config}).encode()


def test_find_plugin_searches_folders_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "bin", tmp_path / "cni-path"
    for folder in (first, second):
        folder.mkdir()
        (folder / "bridge").write_text("")
    (first / "ptp").mkdir()  # a folder is not a plugin
    (second / "ptp").write_text("")
    assert find_plugin("bridge", [str(first), str(second)]) == first / "bridge"
    assert find_plugin("ptp", [str(first), str(second)]) == second / "ptp"
    with pytest.raises(PluginNotAvailable, match='plugin "macvlan" not found') as caught:
        find_plugin("macvlan", [str(first), str(second)])
    assert caught.value.details == f"searched: {first}:{second}"


@pytest.mark.parametrize("plugin_type", ["", "../bridge", "sub/bridge", "..", ".", "a..b", "a\\b"])
def test_plugin_types_that_could_leave_the_search_path_are_refused(plugin_type: str) -> None:
    with pytest.raises(InvalidConfig, match=r"^plugin type"):
        find_plugin(plugin_type, ["/opt/cni/bin"])


def test_delegate_gets_cni_variables_path_and_no_stale_cni_variables(tmp_path: Path) -> None:
    record = tmp_path / "record"
    executor = DelegateExecutor(
        ["/nonexistent", FAKE_PLUGINS],
        environ={"PATH": "/usr/bin:/bin", "CNI_NETNS": "/stale", "CNI_COMMAND": "DEL", "HOME": "/root"},
    )
    status = CNIEnvironment(Command.STATUS, path=("/ignored",))
    asyncio.run(executor.execute("fake-record", status, _stdin(recordFile=str(record))))
    asyncio.run(executor.execute("fake-record", ADD, _stdin(recordFile=str(record), result={})))
    seen_status, seen_add = records(record)
    assert seen_status["env"] == {
        "CNI_COMMAND": "STATUS",
        "CNI_PATH": f"/nonexistent:{FAKE_PLUGINS}",
        "PATH": "/usr/bin:/bin",
    }
    assert seen_add["env"] == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "ctr1",
        "CNI_NETNS": "/var/run/netns/none",
        "CNI_IFNAME": "net1",
        "CNI_ARGS": "IgnoreUnknown=1",
        "CNI_PATH": f"/nonexistent:{FAKE_PLUGINS}",
        "PATH": "/usr/bin:/bin",
    }
    assert seen_add["stdin"] == json.loads(_stdin(recordFile=str(record), result={}))


def test_version_info(tmp_path: Path) -> None:
    info = asyncio.run(DelegateExecutor([FAKE_PLUGINS]).version_info("fake-record"))
    assert info == VersionInfo("1.1.0", ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"))
    with pytest.raises(DelegateFailed, match='plugin "fake-garbage" printed an invalid VERSION reply'):
        asyncio.run(DelegateExecutor([FAKE_PLUGINS]).version_info("fake-garbage"))


def test_hung_plugin_is_killed_with_its_helpers_and_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    executor = DelegateExecutor([FAKE_PLUGINS], timeout=1.5)
    started = time.monotonic()
    with pytest.raises(DelegateTimeout) as caught:
        asyncio.run(executor.execute("fake-hang", ADD, _stdin(pidFile=str(pid_file))))
    assert time.monotonic() - started < 10
    assert caught.value.code == 101
    assert caught.value.msg == "ADD fake-hang did not finish within 1.5 s and was killed"
    assert "hanging on purpose" in caught.value.details
    plugin_pid, helper_pid = (int(pid) for pid in pid_file.read_text().split())
    assert not Path(f"/proc/{plugin_pid}").exists()  # our child: killed and reaped, no zombie
    assert process_is_gone(helper_pid)  # its child, in its process group: killed too


def test_cancelled_caller_leaves_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    executor = DelegateExecutor([FAKE_PLUGINS], timeout=60)

    async def give_up_soon() -> None:
        task = asyncio.create_task(executor.execute("fake-hang", ADD, _stdin(pidFile=str(pid_file))))
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(give_up_soon())
    plugin_pid, helper_pid = (int(pid) for pid in pid_file.read_text().split())
    assert not Path(f"/proc/{plugin_pid}").exists()
    assert process_is_gone(helper_pid)


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM", "SIGSEGV"])
def test_plugin_killed_by_a_signal(signal_name: str) -> None:
    with pytest.raises(DelegateFailed) as caught:
        asyncio.run(DelegateExecutor([FAKE_PLUGINS]).execute("fake-signal", ADD, _stdin(signal=signal_name)))
    assert caught.value.msg == f'plugin "fake-signal" was killed by signal {signal_name}'
    assert caught.value.details == "stderr: dying on purpose"


def test_garbage_instead_of_a_result() -> None:
    executor = DelegateExecutor([FAKE_PLUGINS])
    with pytest.raises(DelegateFailed) as caught:
        asyncio.run(executor.execute_with_result("fake-garbage", ADD, _stdin(), "1.1.0"))
    assert caught.value.msg.startswith(
        'plugin "fake-garbage" printed an invalid result: result is not valid JSON'
    )
    assert caught.value.details == "stdout: this is not JSON {"


def test_garbage_instead_of_an_error() -> None:
    with pytest.raises(DelegateFailed) as caught:
        asyncio.run(DelegateExecutor([FAKE_PLUGINS]).execute("fake-garbage", ADD, _stdin(exitCode=3)))
    assert caught.value.msg == 'plugin "fake-garbage" exited with status 3 without a CNI error'
    assert caught.value.details == "stdout: this is not JSON {; stderr: garbage on purpose"


def test_plugin_error_keeps_its_code_and_words() -> None:
    with pytest.raises(CNIError) as caught:
        asyncio.run(DelegateExecutor([FAKE_PLUGINS]).execute("fake-fail", ADD, _stdin(code=7)))
    assert (caught.value.code, caught.value.msg, caught.value.details) == (
        7,
        "failed on purpose",
        "ADD of net1",
    )


def test_result_without_version_takes_the_requested_one(tmp_path: Path) -> None:
    stdin = _stdin(
        recordFile=str(tmp_path / "r"), result={"ips": [{"version": "4", "address": "10.232.0.5/24"}]}
    )
    result = asyncio.run(
        DelegateExecutor([FAKE_PLUGINS]).execute_with_result("fake-record", ADD, stdin, "0.4.0")
    )
    assert result.cni_version == "0.4.0"
    assert str(result.ips[0].address) == "10.232.0.5/24"


def test_plugin_that_ignores_its_stdin(tmp_path: Path) -> None:
    true = shutil.which("true")
    assert true is not None
    shutil.copy(true, tmp_path / "quick")
    stdout = asyncio.run(DelegateExecutor([tmp_path]).execute("quick", ADD, b" " * (4 << 20)))
    assert stdout == b""


def test_unexecutable_plugin(tmp_path: Path) -> None:
    (tmp_path / "noexec").write_text("#!/bin/sh\n")
    with pytest.raises(DelegateFailed, match=r"cannot run plugin .*/noexec") as caught:
        asyncio.run(DelegateExecutor([tmp_path]).execute("noexec", ADD, b"{}"))
    assert caught.value.details == "Permission denied"


def _busy_binary(path: Path) -> int:
    """A plugin still open for writing, as while an installer copies it: exec fails with ETXTBSY."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
    os.write(fd, b'#!/bin/sh\necho \'{"cniVersion": "1.0.0"}\'\n')
    return fd


def test_text_file_busy_is_retried(tmp_path: Path) -> None:
    fd = _busy_binary(tmp_path / "installing")

    async def run_while_installer_finishes() -> bytes:
        asyncio.get_running_loop().call_later(0.2, os.close, fd)
        return await DelegateExecutor([tmp_path], busy_retries=8).execute("installing", ADD, b"{}")

    assert asyncio.run(run_while_installer_finishes()) == b'{"cniVersion": "1.0.0"}\n'


def test_text_file_busy_gives_up(tmp_path: Path) -> None:
    fd = _busy_binary(tmp_path / "installing")
    try:
        with pytest.raises(DelegateFailed, match="cannot run plugin") as caught:
            asyncio.run(DelegateExecutor([tmp_path], busy_retries=2).execute("installing", ADD, b"{}"))
        assert caught.value.details == "Text file busy"
    finally:
        os.close(fd)


def test_a_plugin_moved_after_its_lookup_is_looked_up_again(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "moving").write_text('#!/bin/sh\necho \'{"from": "first"}\'\n')
    (first / "moving").chmod(0o755)
    executor = DelegateExecutor([first, second])
    assert asyncio.run(executor.execute("moving", ADD, b"{}")) == b'{"from": "first"}\n'
    (first / "moving").rename(second / "moving")

    with pytest.raises(DelegateFailed, match=r"cannot run plugin .*/first/moving"):
        asyncio.run(executor.execute("moving", ADD, b"{}"))  # where it was found: gone
    assert asyncio.run(executor.execute("moving", ADD, b"{}")) == b'{"from": "first"}\n'
    assert executor.find("moving") == second / "moving"


def test_many_delegates_run_at_once(tmp_path: Path) -> None:
    executor = DelegateExecutor([FAKE_PLUGINS])

    async def forty() -> list[bytes]:
        runs = [
            executor.execute("fake-record", ADD, _stdin(recordFile=str(tmp_path / "r"), result={"n": n}))
            for n in range(40)
        ]
        return await asyncio.gather(*runs)

    answers = asyncio.run(forty())
    assert sorted(json.loads(answer)["n"] for answer in answers) == list(range(40))
    assert len(records(tmp_path / "r")) == 40


def test_runs_leave_no_descriptor_behind() -> None:
    executor = DelegateExecutor([FAKE_PLUGINS])
    before = set(os.listdir("/proc/self/fd"))

    async def runs() -> None:
        for n in range(10):  # reaped as their outputs close, or through their pidfd
            await executor.execute("fake-record", ADD, _stdin(result={"n": n}))
        await asyncio.gather(*(executor.execute("fake-record", ADD, _stdin(result={})) for _ in range(10)))

    asyncio.run(runs())
    assert set(os.listdir("/proc/self/fd")) <= before


def test_nul_in_the_environment_is_a_delegate_failure() -> None:
    env = CNIEnvironment(Command.DEL, "ctr1", "/var/run/netns/a\0b", "net1")
    with pytest.raises(DelegateFailed, match="cannot run plugin") as caught:
        asyncio.run(DelegateExecutor([FAKE_PLUGINS]).execute("fake-record", env, b"{}"))
    assert "null byte" in caught.value.details


def test_observer_hears_every_run(tmp_path: Path) -> None:
    heard: list[tuple[str, str, float]] = []
    plugin = tmp_path / "quick"
    plugin.write_text('#!/bin/sh\nprintf \'{"cniVersion": "1.0.0"}\'\n')
    plugin.chmod(0o755)
    executor = DelegateExecutor([tmp_path], observer=lambda *run: heard.append(run))
    env = CNIEnvironment(Command.ADD, "c1", "/var/run/netns/x", "eth0")
    asyncio.run(executor.execute("quick", env, b"{}"))
    assert [(plugin_type, command) for plugin_type, command, _ in heard] == [("quick", "ADD")]
    assert heard[0][2] > 0


def test_succeeded_wakes_its_waiter_before_the_run_is_observed(tmp_path: Path) -> None:
    """The caller's next plugin may start before this run's log line and metric; only after exit 0."""
    _script(tmp_path, "quick", 'printf \'{"cniVersion": "1.0.0"}\'')
    _script(tmp_path, "fails", "exit 1")
    events: list[str] = []

    async def run(plugin: str) -> None:
        executor = DelegateExecutor([tmp_path], observer=lambda *_: events.append(f"observed {plugin}"))
        woken = asyncio.Event()

        async def waiter() -> None:
            await woken.wait()
            events.append(f"next after {plugin}")

        waiting = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        try:
            await executor.execute(plugin, ADD, b"{}", succeeded=woken.set)
        finally:
            woken.set()
            await waiting

    asyncio.run(run("quick"))
    with pytest.raises(DelegateFailed):
        asyncio.run(run("fails"))
    assert events == ["next after quick", "observed quick", "observed fails", "next after fails"]


def _script(folder: Path, name: str, body: str) -> None:
    plugin = folder / name
    plugin.write_text(f"#!/bin/sh\n{body}\n")
    plugin.chmod(0o755)


def test_stdin_and_output_larger_than_a_pipe_flow_both_ways_at_once(tmp_path: Path) -> None:
    # The plugin writes 1 MiB before it reads its 1 MiB of stdin: feeding and reading must overlap.
    _script(tmp_path, "chatty", "head -c 1048576 /dev/zero >&2; cat")
    config = b"x" * (1 << 20)
    run = asyncio.run(DelegateExecutor([tmp_path])._run(tmp_path / "chatty", {}, config, "ADD chatty"))
    assert (run.returncode, run.stdout, len(run.stderr)) == (0, config, 1 << 20)


def test_plugins_run_and_are_killed_without_pidfds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pidfds(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfds)  # as on a kernel before 5.3
    _script(tmp_path, "quick", 'printf \'{"cniVersion": "1.0.0"}\'; exit 0')
    assert (
        asyncio.run(DelegateExecutor([tmp_path]).execute("quick", ADD, b"{}")) == b'{"cniVersion": "1.0.0"}'
    )
    pid_file = tmp_path / "pids"
    with pytest.raises(DelegateTimeout):
        asyncio.run(
            DelegateExecutor([FAKE_PLUGINS], timeout=1.0).execute(
                "fake-hang", ADD, _stdin(pidFile=str(pid_file))
            )
        )
    plugin_pid, helper_pid = (int(pid) for pid in pid_file.read_text().split())
    assert not Path(f"/proc/{plugin_pid}").exists()  # reaped by the worker thread's waitpid
    assert process_is_gone(helper_pid)


def test_plugins_get_default_signal_handling_and_no_descriptor_of_ours(tmp_path: Path) -> None:
    # Python ignores SIGPIPE; a plugin must not inherit that, nor any of the daemon's descriptors.
    _script(tmp_path, "inspect", "grep -E '^SigIgn' /proc/self/status; ls /proc/self/fd")
    kept = os.open(tmp_path, os.O_RDONLY)  # non-inheritable, as Python makes them
    try:
        run = asyncio.run(DelegateExecutor([tmp_path])._run(tmp_path / "inspect", {}, b"", "ADD inspect"))
    finally:
        os.close(kept)
    ignored_mask = int(run.stdout.split()[1], 16)
    assert not ignored_mask & (1 << (signal.SIGPIPE - 1))
    assert set(run.stdout.split()[2:]) <= {b"0", b"1", b"2", b"3"}  # 3: the directory ls reads


def test_plugins_get_a_process_group_of_their_own_in_our_session(tmp_path: Path) -> None:
    # A group, so a timeout's kill reaches the plugin's helpers; not a new session, which costs a
    # scheduler autogroup per run on kernels that have them.
    _script(tmp_path, "ids", "cut -d' ' -f1,5,6 /proc/$$/stat")
    run = asyncio.run(DelegateExecutor([tmp_path])._run(tmp_path / "ids", {}, b"", "ADD ids"))
    pid, group, session = (int(field) for field in run.stdout.split())
    assert group == pid
    assert session == os.getsid(0)


def _spawns_recorded(
    monkeypatch: pytest.MonkeyPatch,
    spawned: list[str],
    release: threading.Event,
    pids: list[int] | None = None,
) -> None:
    """Each spawn's thread name in `spawned` (and pid in `pids`); a spawn off the loop's thread waits for
    `release`."""
    real = exec_module._spawn_process

    def recorded(path: Path, environ: Mapping[str, str], *, off_loop: bool) -> tuple[int, int, int, int]:
        spawned.append(threading.current_thread().name)
        if off_loop:
            release.wait(10)
        started = real(path, environ, off_loop=off_loop)
        if pids is not None:
            pids.append(started[0])
        return started

    monkeypatch.setattr(exec_module, "_spawn_process", recorded)


def test_spawns_wait_off_the_loop_while_other_plugins_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a plugin running, the next spawn waits for its exec in a worker thread: the loop goes on
    (here it hears the first plugin end while the second is still being spawned)."""
    _script(tmp_path, "ids", "cut -d' ' -f1,5 /proc/$$/stat; grep -E '^SigIgn' /proc/self/status")
    _script(tmp_path, "slow", "read line; printf '%s' \"$line\"")
    spawned: list[str] = []
    release = threading.Event()
    _spawns_recorded(monkeypatch, spawned, release)
    executor = DelegateExecutor([tmp_path])

    async def two() -> tuple[bytes, bytes]:
        first = asyncio.create_task(executor.execute("slow", ADD, b"done\n"))
        await asyncio.sleep(0)  # the first one spawns on the loop
        second = asyncio.create_task(executor.execute("ids", ADD, b""))
        output = await first  # ends while the second one's spawn still waits
        release.set()
        return output, await second

    first, second = asyncio.run(two())
    assert first == b"done"
    assert spawned[0] == threading.main_thread().name
    assert spawned[1].startswith("multus-spawn")
    pid, group, _, mask = second.split()
    assert int(group) == int(pid)
    assert not int(mask, 16) & (1 << (signal.SIGPIPE - 1))


def test_caller_giving_up_during_a_spawn_off_the_loop_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[str] = []
    pids: list[int] = []
    release = threading.Event()
    _spawns_recorded(monkeypatch, spawned, release, pids)
    executor = DelegateExecutor([FAKE_PLUGINS], timeout=60)

    async def give_up_during_the_spawn() -> None:
        running = asyncio.create_task(executor.execute("fake-hang", ADD, _stdin(pidFile=str(tmp_path / "a"))))
        await asyncio.sleep(0)
        task = asyncio.create_task(executor.execute("fake-hang", ADD, _stdin(pidFile=str(tmp_path / "b"))))
        while len(spawned) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(give_up_during_the_spawn())
    assert spawned[1].startswith("multus-spawn")
    assert len(pids) == 2  # the second plugin did start, after its caller had given up
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)  # killed and reaped, no zombie


def test_spawns_off_the_loop_fail_as_those_on_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exec refused, or an environment execve cannot take, is the same DelegateFailed either way."""
    (tmp_path / "noexec").write_text("#!/bin/sh\n")
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    _script(tmp_path, "waits", f"read line < {gate}")
    nul = CNIEnvironment(Command.DEL, "ctr1", "/var/run/netns/a\0b", "net1")
    spawned: list[str] = []
    release = threading.Event()
    release.set()
    _spawns_recorded(monkeypatch, spawned, release)
    executor = DelegateExecutor([tmp_path])

    async def while_another_runs() -> list[BaseException | bytes]:
        running = asyncio.create_task(executor.execute("waits", ADD, b""))
        await asyncio.sleep(0)
        failures = await asyncio.gather(
            executor.execute("noexec", ADD, b"{}"),
            executor.execute("waits", nul, b""),
            return_exceptions=True,
        )
        await asyncio.to_thread(gate.write_text, "open\n")
        await running
        return failures

    refused, unencodable = asyncio.run(while_another_runs())
    assert all(name.startswith("multus-spawn") for name in spawned[1:])
    assert isinstance(refused, DelegateFailed)
    assert refused.details == "Permission denied"
    assert isinstance(unencodable, DelegateFailed)
    assert "null byte" in unencodable.details
