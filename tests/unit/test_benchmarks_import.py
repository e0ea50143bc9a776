"""Every benchmark module imports and parses its arguments: `make bench` is not run by `make test`, so a
rename in the product would otherwise break a benchmark unnoticed until the next long run."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import MODULES

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
ALL_MODULES = sorted(
    f"benchmarks.{path.stem}" for path in BENCHMARKS.glob("*.py") if path.stem not in {"__init__", "__main__"}
)


@pytest.mark.parametrize("module", ALL_MODULES)
def test_benchmark_module_imports(module: str) -> None:
    importlib.import_module(module)


def test_make_bench_runs_existing_modules() -> None:
    assert set(MODULES) <= set(ALL_MODULES)


@pytest.mark.parametrize("module", [m for m in ALL_MODULES if m.startswith("benchmarks.bench_")])
def test_benchmark_parses_help(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=BENCHMARKS.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
