"""Fault injection: ADD/DEL cycles of pods, one injected fault each, and everything each cycle left behind.

A cycle makes a pod with eth0 (the cluster network) and one or two NAD networks (bridge + host-local), in
a network namespace of its own, ADDs it, injects its fault, DELs it as the runtime would (once more when
the first DEL fails, as a runtime retries), then counts what is left: links and their addresses in the
netns, host-side bridge ports, the attachment record, libcni's result cache, host-local's leases,
iptables rules, processes still running for the container. A cycle passes with nothing left and every
answer a CNI answer.

The faults (each cycle draws one; every block of len(FAULTS) cycles has each once, in a seeded order):

- failing-delegate, missing-delegate: the last plugin of one network's chain fails its ADD, or is not
  installed. The ADD must fail with a CNI error and leave nothing.
- killed-delegate, hung-delegate: the last plugin of a chain (fake-pause, after bridge) is SIGKILLed
  while it runs, or never answers and meets `delegateTimeoutSeconds`. The same.
- killed-mid-add: while a chain is paused, the plugin process (thin) or the daemon (thick, then
  restarted) is SIGKILLed, as a runtime's timeout or a crash does. DEL must remove what was made.
- api-unreachable-mid-add: while a chain is paused, the API server stops answering (connections drop,
  connecting is refused); the ADD may fail or succeed; DEL runs while it is still away.
- record-lost, record-corrupt, cache-lost, cache-corrupt, record-and-cache-lost: before DEL, the
  attachment record and/or libcni's result cache are deleted or cut in half (a torn write).
- del-twice, pod-deleted, nad-deleted, netns-removed: DEL twice; the pod or a NAD it uses deleted, or its
  netns removed, before DEL.

Not drawn, because nothing can clean it: the netns removed and record and result cache lost. Then
nothing names the host-local leases (the interfaces that held them are gone with the netns), DEL runs
no delegate, and the leases stay until the runtime's GC; `test_faults.py` checks that case on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import netns

from tests.e2e.daemon.support import OWN_FAKES as DAEMON_FAKES
from tests.e2e.daemon.support import DaemonProcess, ShimRuntime
from tests.e2e.faults.gate import Gate
from tests.e2e.meta.runtime import FAKE_PLUGINS, OWN_FAKE_PLUGINS, Reply, Runtime, Sandbox, wait_for

FAULTS = (
    "failing-delegate",
    "missing-delegate",
    "killed-delegate",
    "hung-delegate",
    "killed-mid-add",
    "api-unreachable-mid-add",
    "record-lost",
    "record-corrupt",
    "cache-lost",
    "cache-corrupt",
    "record-and-cache-lost",
    "del-twice",
    "pod-deleted",
    "nad-deleted",
    "netns-removed",
)
ADD_FAILS = {"failing-delegate", "missing-delegate", "killed-delegate", "hung-delegate"}
PAUSED = {"killed-delegate", "hung-delegate", "killed-mid-add", "api-unreachable-mid-add"}  # fake-pause
DELEGATE_TIMEOUT = 1.0  # seconds; what a hung delegate costs a cycle
SEED_VARIABLE = "MULTUS_FAULT_SEED"


def fault_seed() -> int:
    """`$MULTUS_FAULT_SEED` when set (to replay a run), else a new one."""
    given = os.environ.get(SEED_VARIABLE)
    return int(given) if given else secrets.randbelow(2**32)


@dataclass
class Cycle:
    index: int
    fault: str
    networks: list[str]
    problems: list[str] = field(default_factory=list)

    def describe(self, seed: int, path: str) -> str:
        return (
            f"seed {seed} {path} cycle {self.index} {self.fault} (eth0 + {', '.join(self.networks)}):"
            f" {'; '.join(self.problems)}"
        )


class Driver:
    """One path into the meta-plugin: `rt` execs it; the API server is reached through `gate`."""

    name = "thin"

    def __init__(self, rt: Runtime, gate: Gate) -> None:
        self.rt = rt
        self.gate = gate
        self.kubeconfig = gate.kubeconfig(rt.kubeconfig, rt.root / "gated-kubeconfig")
        # every run can find every fake plugin, so a DEL finds the chain its ADD ran
        self.env = {
            "CNI_PATH": os.pathsep.join(map(str, (rt.cni_bin, FAKE_PLUGINS, OWN_FAKE_PLUGINS, DAEMON_FAKES)))
        }

    def config(self) -> dict[str, Any]:
        return self.rt.multus_config(kubeconfig=str(self.kubeconfig), delegateTimeoutSeconds=DELEGATE_TIMEOUT)

    def run(self, command: str, box: Sandbox) -> Reply:
        return self.rt.run(command, sandbox=box, config=self.config(), env=self.env)

    def start_add(self, box: Sandbox) -> subprocess.Popen[bytes]:
        return self.rt.start("ADD", sandbox=box, config=self.config(), env=self.env)

    def kill_mid_add(self, adding: subprocess.Popen[bytes]) -> None:
        adding.kill()

    def recover(self) -> None:
        """After `kill_mid_add`, once the paused delegate is let go."""

    def check_killed_reply(self, reply: Reply) -> None:
        assert reply.status != 0, reply  # SIGKILLed: nothing to read


class ThickDriver(Driver):
    """Through the native shim to `daemon`, which reaches the API server through `gate`."""

    name = "thick"
    rt: ShimRuntime

    def __init__(self, rt: ShimRuntime, gate: Gate) -> None:
        super().__init__(rt, gate)
        self.daemon: DaemonProcess = rt.daemon

    def start_add(self, box: Sandbox) -> subprocess.Popen[bytes]:
        with tempfile.TemporaryFile() as body:
            body.write(json.dumps(self.config()).encode())
            body.seek(0)
            return subprocess.Popen(
                [str(self.rt.shim)],
                stdin=body,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**self.rt.shim_env("ADD", box), **self.env},
            )

    def kill_mid_add(self, adding: subprocess.Popen[bytes]) -> None:
        assert self.daemon.process is not None
        self.daemon.process.kill()
        self.daemon.process.wait()

    def recover(self) -> None:
        self.daemon.start()  # same node, same folders: what a DaemonSet's restart does

    def check_killed_reply(self, reply: Reply) -> None:
        reply.error(None)  # the shim answers for the daemon it lost


class Faults:
    """The networks every cycle draws from, made once in `driver`'s runtime."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        rt = self.rt = driver.rt
        for name in ("blue", "green"):
            rt.nad(name, rt.bridge_net(name, default_route=False).config)
        chained: dict[str, dict[str, Any]] = {
            "failing-delegate": {"type": "fake-fail", "failOn": ["ADD"]},
            "missing-delegate": {"type": "fake-absent"},
        }
        for fault, plugin in chained.items():
            rt.nad(fault, rt.bridge_net(fault, default_route=False, after=[plugin]).config)
        paused, self.started, self.release = rt.paused_net("paused")
        rt.nad("paused", paused.config)
        self.gone_config = rt.bridge_net("gone", default_route=False).config

    def run(self, seed: int, count: int) -> list[Cycle]:
        rng = random.Random(f"{seed}/{self.driver.name}")  # noqa: S311 - a replayable draw, not a secret
        order: list[str] = []
        while len(order) < count:
            order += rng.sample(FAULTS, len(FAULTS))
        return [self.cycle(index, fault, rng) for index, fault in enumerate(order[:count])]

    def cycle(self, index: int, fault: str, rng: random.Random) -> Cycle:
        rt, driver = self.rt, self.driver
        networks = rng.sample(["blue", "green"], rng.randint(1, 2))
        if fault in ADD_FAILS or fault in PAUSED:
            networks[rng.randrange(len(networks))] = "paused" if fault in PAUSED else fault
        elif fault == "nad-deleted":
            gone = f"gone-{index}"
            rt.nad(gone, {**self.gone_config, "name": gone})
            networks[rng.randrange(len(networks))] = gone
        cycle = Cycle(index, fault, networks)
        box = rt.pod(",".join(networks), own_netns=True)
        ports_before = set(rt.bridge_ports())
        try:
            self.add(cycle, box)
            self.break_before_del(cycle, box)
            self.delete(cycle, box)
        finally:
            if fault == "api-unreachable-mid-add":
                driver.gate.open()
        cycle.problems += [
            *rt.leftovers(box),
            *(f"host port {port}" for port in set(rt.bridge_ports()) - ports_before),
            *(f"delegate process {pid} still running" for pid in delegate_processes(box, wait=True)),
        ]
        if os.path.exists(box.netns):
            netns.remove(box.netns_name)
            rt.own_netns.remove(box.netns_name)
        return cycle

    def add(self, cycle: Cycle, box: Sandbox) -> None:
        fault, driver = cycle.fault, self.driver
        reply = driver.run("ADD", box) if fault not in PAUSED else self.add_paused(fault, box)
        if fault in ADD_FAILS:
            expect(cycle, "ADD", reply, lambda: reply.error(None))
            cycle.problems += [f"after the failed ADD: {left}" for left in self.rt.leftovers(box)]
        elif fault == "killed-mid-add":
            expect(cycle, "killed ADD", reply, lambda: driver.check_killed_reply(reply))
            driver.recover()
        elif fault == "api-unreachable-mid-add":  # either answer is right, as long as it is a CNI answer
            expect(
                cycle,
                "ADD without the API server",
                reply,
                lambda: reply.error(None) if reply.status else reply.ok(),
            )
        else:
            expect(cycle, "ADD", reply, reply.ok)

    def add_paused(self, fault: str, box: Sandbox) -> Reply:
        """An ADD whose paused chain meets the fault while it waits."""
        driver = self.driver
        self.started.unlink(missing_ok=True)
        self.release.unlink(missing_ok=True)
        adding = driver.start_add(box)
        try:
            wait_for(lambda: self.started.exists() or adding.poll() is not None)
            assert adding.poll() is None, f"the ADD ended before the pause: {adding.communicate()}"
            if fault == "killed-mid-add":
                driver.kill_mid_add(adding)
            elif fault == "killed-delegate":
                for pid in delegate_processes(box, program="fake-pause"):
                    os.kill(pid, signal.SIGKILL)
            elif fault == "api-unreachable-mid-add":
                driver.gate.shut()
        finally:
            if fault != "hung-delegate":  # that one waits for the delegate timeout
                self.release.touch()
        stdout, stderr = adding.communicate(timeout=120)
        return Reply(adding.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def break_before_del(self, cycle: Cycle, box: Sandbox) -> None:
        rt, fault = self.rt, cycle.fault
        record, caches = rt.cache_file(box), rt.result_cache_files(box)
        damaged: list[Path] = {
            "record-lost": [record],
            "record-corrupt": [record],
            "cache-lost": caches,
            "cache-corrupt": caches,
            "record-and-cache-lost": [record, *caches],
        }.get(fault, [])
        for path in damaged:
            if fault.endswith("corrupt"):
                text = path.read_bytes()
                path.write_bytes(text[: len(text) // 2])
            else:
                path.unlink()
        if fault == "pod-deleted":
            rt.delete_pod_object(box)
        elif fault == "nad-deleted":
            rt.delete_nad(f"gone-{cycle.index}")
        elif fault == "netns-removed":
            netns.remove(box.netns_name)
            rt.own_netns.remove(box.netns_name)

    def delete(self, cycle: Cycle, box: Sandbox) -> None:
        for attempt in range(2 if cycle.fault == "del-twice" else 1):
            reply = self.driver.run("DEL", box)
            if not expect(cycle, f"DEL {attempt + 1}", reply, reply.ok):
                retried = self.driver.run("DEL", box)
                expect(cycle, "DEL retried", retried, retried.ok)


def expect(cycle: Cycle, what: str, reply: Reply, check: Callable[[], object]) -> bool:
    """Run `check` on `reply`; when it fails, the answer becomes a problem of the cycle."""
    try:
        check()
    except AssertionError:
        answer = f"exit {reply.status}: {reply.stdout.strip()[:300]} {reply.stderr.strip()[-300:]}"
        cycle.problems.append(f"{what}: unexpected answer, {answer}")
        return False
    return True


def delegate_processes(box: Sandbox, *, wait: bool = False, program: str = "") -> list[int]:
    """Processes running for the sandbox (their environment names its container), of `program` when
    given; with `wait`, those still there after a moment, for a killed one to be reaped."""
    marker = f"CNI_CONTAINERID={box.container_id}".encode()
    deadline = time.monotonic() + (5 if wait else 0)
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if (
                    proc.name.isdigit()
                    and program.encode() in (proc / "cmdline").read_bytes()
                    and marker in (proc / "environ").read_bytes().split(b"\0")
                ):
                    found.append(int(proc.name))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def faults_by_kind(cycles: list[Cycle]) -> dict[str, int]:
    return dict(sorted(Counter(cycle.fault for cycle in cycles).items()))
