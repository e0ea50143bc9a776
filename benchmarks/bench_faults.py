"""The fault suite's cycles (tests/e2e/faults/cycles.py), longer: ADD/DEL cycles with one injected fault
each, half in thin mode, half through the native shim to a daemon, and what every cycle left behind.

Prints one JSON line per path (cycles, faults by kind, cycles that leaked, the seed) and a summary; a
leaking cycle is listed and fails the run. `MULTUS_FAULT_SEED` (or --seed) replays a run. Needs root and
the native shim (`make shim`, or MULTUS_NATIVE_SHIM).
Usage: python -m benchmarks.bench_faults [--cycles N] [--seed S]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config

from benchmarks.support import emit, summary
from tests.e2e.daemon.conftest import make_runtime
from tests.e2e.daemon.support import DaemonProcess, daemon_config
from tests.e2e.faults.cycles import DELEGATE_TIMEOUT, Driver, Faults, ThickDriver, fault_seed, faults_by_kind
from tests.e2e.faults.gate import Gate
from tests.e2e.meta.runtime import Runtime
from tests.testenv import CNI_BIN, REPO, TestEnv, running


@contextlib.contextmanager
def driver(path: str, env: TestEnv, api: client.ApiClient, root: Path) -> Iterator[Driver]:
    """A fault driver for `path` in a Kubernetes namespace of its own; every pod gets a netns of its own
    (the runtime's first-pod netns is never made)."""
    core = client.CoreV1Api(api)
    namespace = f"faults-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    gate = Gate(env.server)
    daemon: DaemonProcess | None = None
    kwargs: dict[str, Any] = {
        "cni_bin": CNI_BIN,
        "namespace": namespace,
        "netns_name": "unused",
    }
    rt: Runtime
    try:
        if path == "thin":
            root.mkdir()
            rt = Runtime(api=api, kubeconfig=env.kubeconfig, root=root, **kwargs)
            made: Driver = Driver(rt, gate)
        else:
            (root / "daemon").mkdir(parents=True)
            (root / "runtime").mkdir()
            kubeconfig = gate.kubeconfig(env.kubeconfig, root / "daemon-kubeconfig")
            settings = daemon_config(
                root / "daemon",
                env,
                f"faults-{uuid.uuid4().hex[:8]}",
                kubeconfig=str(kubeconfig),
                delegateTimeoutSeconds=DELEGATE_TIMEOUT,
            )
            daemon = DaemonProcess(root / "daemon", settings).start()
            shim = Path(os.environ.get("MULTUS_NATIVE_SHIM") or REPO / "build" / "multus-shim")
            rt = make_runtime(
                shim=shim, daemon=daemon, apiserver=env, api_client=api, root=root / "runtime", **kwargs
            )
            made = ThickDriver(rt, gate)
        try:
            yield made
        finally:
            rt.cleanup()
    finally:
        if daemon is not None and daemon.running:
            daemon.stop()
        gate.shut()
        with contextlib.suppress(client.ApiException):
            core.delete_namespace(namespace)


def run(cycles: int, seed: int, root: Path) -> list[dict[str, Any]]:
    lines = []
    with running(root / "testenv") as env:
        api = kube_config.new_client_from_config(config_file=str(env.kubeconfig))
        for path, count in (("thin", cycles // 2), ("thick", cycles - cycles // 2)):
            started = time.monotonic()
            with driver(path, env, api, root / path) as made:
                done = Faults(made).run(seed, count)
            leaked = [cycle.describe(seed, path) for cycle in done if cycle.problems]
            line = {
                "bench": f"fault injection: {path}, eth0 + 1-2 networks, one fault per ADD/DEL cycle",
                "path": path,
                "seed": seed,
                "cycles": len(done),
                "faults": faults_by_kind(done),
                "leaked_cycles": leaked,
                "errors": len(leaked),
                "goal_errors": 0,
                "seconds": round(time.monotonic() - started, 1),
            }
            emit(line)
            lines.append(line)
        api.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    seed = fault_seed() if args.seed is None else args.seed
    print(f"# fault seed {seed} (--seed {seed} or MULTUS_FAULT_SEED={seed} replays it)", flush=True)
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        lines = run(args.cycles, seed, Path(folder))
    summary(
        "; ".join(
            f"{line['cycles']} {line['path']} cycles in {line['seconds']} s, {line['errors']} leaked"
            for line in lines
        )
        + f" (seed {seed})"
    )
    if any(line["errors"] for line in lines):
        sys.exit(
            "\n".join(
                ["cycles left something behind:", *(c for line in lines for c in line["leaked_cycles"])]
            )
        )


if __name__ == "__main__":
    main()
