"""Every executable says its version with `--version` (exit 0), the project's, from pyproject.toml."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from multus.shim import multus_shim

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("name", ["multus", "multusctl", "multus-daemon", "multus-shim", "multus-controller"])
def test_each_console_script_says_its_version(name: str) -> None:
    said = subprocess.run(
        [str(BIN / name), "--version"], capture_output=True, text=True, timeout=30, check=False
    )

    assert (said.returncode, said.stderr) == (0, "")
    assert said.stdout.split()[:2] == [name, VERSION]


def test_the_python_shim_copied_alone_knows_the_version() -> None:
    assert multus_shim.VERSION == VERSION


def test_the_native_shim_says_the_version_it_was_built_with() -> None:
    native = Path(os.environ.get("MULTUS_NATIVE_SHIM") or REPO / "build" / "multus-shim")
    assert native.is_file(), "make shim"
    said = subprocess.run([str(native), "--version"], capture_output=True, text=True, timeout=30, check=False)

    assert (said.returncode, said.stdout) == (0, f"multus-shim {VERSION} (native)\n")
