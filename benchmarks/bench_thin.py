"""The thin plugin: the `multus` executable, run by the runtime for every pod operation, against the
same delegates run directly.

Two installs of the same source are measured, each figure printed for both (`install`):

- `installed`: what a node runs, the package installed as the node image installs it (`pip install .`,
  not editable), in a venv of this checkout's under the components cache (`bench-thin-venv-*`),
  reinstalled when the source (pyproject.toml, multus/, controller/) changes. pip compiles the bytecode
  at install.
- `editable`: the development venv (`.venv`, `pip install -e`). Its start-up runs setuptools' editable
  finder from a `.pth` file, which no node has. Its bytecode is compiled first (the runs may inherit
  PYTHONDONTWRITEBYTECODE), so that compiling is not what is measured.

- VERSION: one exec of the `multus` console script with a minimal environment (the CNI variables and
  PATH), VERSION_RUNS times. All of it is start-up: the interpreter, the imports, the reply.
- ADD and DEL: bench_daemon's pod (eth0 on the cluster network, named in `confDir`, and two NAD
  networks: three bridge runs), through `multus` with a kubeconfig to a real API server: it reads the
  pod and both NADs and writes the pod's network-status. In rotating order with the direct runs
  (bench_daemon's `Direct`), each operation after a pause.
- Imports: `python -X importtime` of one VERSION and one ADD, each through the console script: the
  total, whether pydantic, aiohttp, yaml or pyroute2 were loaded, and the TOP_IMPORTS modules with the
  largest cumulative time (their own time beside it). Beside them, once: the installed console
  script's interpreter started bare and started importing the standard library's modules the ADD
  imported, the part of the ADD no code of the plugin's own can remove.

Needs root. Usage: python -m benchmarks.bench_thin [--rounds N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.support import (
    SYSTEM_PATH,
    Direct,
    Node,
    Sandbox,
    bridges_delegates,
    emit,
    interleaved_rounds,
    ms,
    node,
    percentile,
    summary,
    timed_run,
)
from tests.testenv import CACHE, CNI_BIN, REPO, running

EDITABLE = REPO / ".venv" / "bin" / "multus"
# One per checkout: two checkouts benchmarking at once would otherwise reinstall under each other's runs.
INSTALLED_VENV = CACHE / f"bench-thin-venv-{hashlib.sha256(str(REPO).encode()).hexdigest()[:12]}"
SOURCE_STAMP = INSTALLED_VENV / "multus-py-source.sha256"
GOAL_VERSION_MS = 40.0
GOAL_ADD_OVERHEAD_MS = 80.0
VERSION_RUNS = 30
WARMUP = 3
TOP_IMPORTS = 15
HEAVY = ("pydantic", "aiohttp", "yaml", "pyroute2", "kubernetes")


def source_digest() -> str:
    digest = hashlib.sha256()
    files = [REPO / "pyproject.toml", *REPO.glob("multus/**/*.py"), *REPO.glob("controller/**/*.py")]
    for path in sorted(files):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def installed_multus() -> Path:
    """The `multus` console script of a non-editable install of this source (see the module's doc)."""
    digest = source_digest()
    pip = INSTALLED_VENV / "bin" / "pip"
    if not pip.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(INSTALLED_VENV)], check=True)
    if not SOURCE_STAMP.exists() or SOURCE_STAMP.read_text() != digest:
        shutil.rmtree(REPO / "build" / "lib", ignore_errors=True)  # setuptools' copy of the last build
        subprocess.run([str(pip), "install", "-q", str(REPO)], check=True)  # the dependencies
        subprocess.run([str(pip), "install", "-q", "--no-deps", "--force-reinstall", str(REPO)], check=True)
        SOURCE_STAMP.write_text(digest)
    return INSTALLED_VENV / "bin" / "multus"


def version_times(multus: Path, runs: int) -> list[float]:
    env = {"CNI_COMMAND": "VERSION", "PATH": SYSTEM_PATH}
    stdin = b'{"cniVersion": "1.1.0"}'
    times = []
    for number in range(WARMUP + runs):
        took, status, output = timed_run([str(multus)], env, stdin)
        if status != 0:
            raise SystemExit(f"multus VERSION failed: {output!r}")
        if number >= WARMUP:
            times.append(took)
    return times


def thin_config(world: Node) -> bytes:
    return json.dumps(
        {
            "cniVersion": "1.1.0",
            "name": "multus-cni-network",
            "type": "multus",
            "kubeconfig": str(world.env.kubeconfig),
            "clusterNetwork": world.cluster.name,
            "confDir": str(world.conf_dir),
            "cniDir": str(world.cni_dir),
            "binDir": str(CNI_BIN),
        }
    ).encode()


def through_multus(multus: Path, box: Sandbox, command: str, config: bytes) -> float:
    took, status, output = timed_run([str(multus)], box.environment(command), config)
    if status != 0:
        raise SystemExit(f"multus {command} failed: {output!r}")
    return took


def import_profile(
    install: str, multus: Path, path: str, env: dict[str, str], stdin: bytes
) -> tuple[dict[str, Any], list[str]]:
    """`-X importtime` of one run of the console script: total, heavy packages, the slowest modules;
    and the names of the standard library's modules it imported."""
    done = subprocess.run(
        [str(multus.parent / "python"), "-X", "importtime", str(multus)],
        input=stdin,
        env=env,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"multus ({path}) failed under -X importtime: {done.stdout!r}")
    rows = []
    for line in done.stderr.decode().splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((name.strip(), int(own), int(cumulative)))
    top = sorted(rows, key=lambda row: row[2], reverse=True)[:TOP_IMPORTS]
    loaded = {name for name, _, _ in rows}
    standard = sorted({name for name, _, _ in rows if name.split(".")[0] in sys.stdlib_module_names})
    return {
        "bench": f"thin plugin imports: {path} path, {install} (python -X importtime)",
        "install": install,
        "path": path,
        "modules": len(rows),
        "total_ms": round(sum(own for _, own, _ in rows) / 1e3, 1),
        "heavy_imported": [name for name in HEAVY if name in loaded],
        "top": [
            {"module": name, "self_ms": round(own / 1e3, 1), "cumulative_ms": round(cum / 1e3, 1)}
            for name, own, cum in top
        ],
    }, standard


def standard_library_floor(multus: Path, modules: list[str]) -> dict[str, Any]:
    """The interpreter the console script runs, started bare and started importing the standard
    library's modules an ADD imported (asyncio, ssl, logging, ...): what any plugin in Python that runs
    this orchestrator pays before a line of its own, VERSION_RUNS times each, interleaved."""
    python = str(multus.parent / "python")
    # As the plugin did: those only some platforms have (msvcrt, _winapi) were tried and not found.
    tried = f"for name in {modules!r}:\n try: __import__(name)\n except ImportError: pass"
    probes = {"bare": "pass", "standard_library": tried}
    times: dict[str, list[float]] = {name: [] for name in probes}
    for number in range(WARMUP + VERSION_RUNS):
        for name, code in probes.items():
            took, status, output = timed_run([python, "-c", code], {"PATH": SYSTEM_PATH}, b"")
            if status != 0:
                raise SystemExit(f"{python} -c {code!r} failed: {output!r}")
            if number >= WARMUP:
                times[name].append(took)
    return {
        "bench": "thin plugin ADD: its interpreter alone, and with the standard library it imports",
        "modules": len(modules),
        "bare_median_ms": ms(statistics.median(times["bare"])),
        "standard_library_median_ms": ms(statistics.median(times["standard_library"])),
    }


def report(command: str, install: str, direct: list[float], thin: list[float]) -> dict[str, Any]:
    direct_median, thin_median = statistics.median(direct), statistics.median(thin)
    line = {
        "bench": f"pod {command} eth0+2 networks: thin multus ({install}) vs direct delegates",
        "command": command,
        "install": install,
        "rounds": len(direct),
        "direct_median_ms": ms(direct_median),
        "direct_p95_ms": ms(percentile(direct, 0.95)),
        "thin_median_ms": ms(thin_median),
        "thin_p95_ms": ms(percentile(thin, 0.95)),
        "ratio": round(thin_median / direct_median, 3),
        "overhead_median_ms": ms(thin_median - direct_median),
        "overhead_p95_ms": ms(percentile(thin, 0.95) - percentile(direct, 0.95)),
        "goal_overhead_median_ms": GOAL_ADD_OVERHEAD_MS if command == "ADD" else None,
    }
    emit(line)
    return line


def run(rounds: int, root: Path) -> list[dict[str, Any]]:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "multus")], check=True)
    installs = {"installed": installed_multus(), "editable": EDITABLE}
    lines = []
    for install, multus in installs.items():
        version = version_times(multus, VERSION_RUNS)
        lines.append(
            {
                "bench": f"thin plugin VERSION (exec of multus, {install}, minimal environment)",
                "install": install,
                "runs": len(version),
                "version_median_ms": ms(statistics.median(version)),
                "version_p95_ms": ms(percentile(version, 0.95)),
                # A VERSION is start-up alone: all of it is what the plugin adds.
                "overhead_median_ms": ms(statistics.median(version)),
                "goal_overhead_median_ms": GOAL_VERSION_MS,
            }
        )
        emit(lines[-1])
        version_env = {"CNI_COMMAND": "VERSION", "PATH": SYSTEM_PATH}
        emit(import_profile(install, multus, "VERSION", version_env, b'{"cniVersion": "1.1.0"}')[0])
    with running(root / "testenv") as env, node(env, root / "node") as world:
        config = thin_config(world)
        direct = Direct(bridges_delegates(world))
        box = world.sandbox()
        ways = {
            name: lambda way, command: through_multus(installs[way], box, command, config)
            for name in installs
        }
        samples = interleaved_rounds(box, direct, ways, rounds, WARMUP)
        for install, multus in installs.items():
            box.container_id = f"bench{os.urandom(10).hex()}"
            profile, standard = import_profile(install, multus, "ADD", box.environment("ADD"), config)
            emit(profile)
            through_multus(multus, box, "DEL", config)
            if install == "installed":
                emit(standard_library_floor(multus, standard))
        left = world.leftovers([box])
        if left:
            raise SystemExit(f"left behind after DEL: {left}")
    lines += [
        report(command, install, samples["direct", command], samples[install, command])
        for install in installs
        for command in ("ADD", "DEL")
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root for network namespaces")
    with tempfile.TemporaryDirectory(prefix="multus-bench-") as folder:
        lines = run(args.rounds, Path(folder))
    parts = []
    for install in ("installed", "editable"):
        version = next(line for line in lines if line.get("version_median_ms") and line["install"] == install)
        pod = [line for line in lines if line.get("command") and line["install"] == install]
        overheads = ", ".join(
            f"{line['command']} +{line['overhead_median_ms']} ms ({line['ratio']}x)" for line in pod
        )
        parts.append(f"{install}: VERSION {version['version_median_ms']} ms, {overheads}")
    summary(f"thin multus at the median (overhead vs direct delegates): {'; '.join(parts)}")


if __name__ == "__main__":
    main()
