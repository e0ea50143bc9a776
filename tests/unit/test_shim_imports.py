"""`multus/shim/` imports only the standard library: the shim runs on hosts where nothing else is
installed, and as a single file copied into a CNI bin dir."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from multus.cni.versions import SUPPORTED_VERSIONS
from multus.shim import multus_shim

SHIM = Path(__file__).resolve().parents[2] / "multus" / "shim"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module the file imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import: the file must work on its own"
            assert node.module is not None
            found.add(node.module.split(".")[0])
    return found


def test_the_shim_imports_only_the_standard_library() -> None:
    sources = sorted(SHIM.glob("*.py"))
    assert [path.name for path in sources] == ["__init__.py", "multus_shim.py"]
    imports = {path.name: imported_modules(path) for path in sources}
    assert "http" in imports["multus_shim.py"]  # the walk sees the imports (a guard against a vacuous pass)

    outside = {
        name: sorted(
            module for module in modules if module not in sys.stdlib_module_names and module != "__future__"
        )
        for name, modules in imports.items()
    }

    assert outside == {name: [] for name in imports}


def test_the_shim_file_runs_alone_with_an_isolated_interpreter(tmp_path: Path) -> None:
    """Copied alone and run with `python3 -I -S` (no site-packages, no project on the path), it still
    answers: here with code 11, since no daemon listens in the empty socket dir."""
    copy = tmp_path / "multus-shim"
    copy.write_text((SHIM / "multus_shim.py").read_text())
    socket_dir = tmp_path / "no-daemon"

    done = subprocess.run(
        [sys.executable, "-I", "-S", str(copy)],
        input=f'{{"cniVersion": "1.0.0", "socketDir": "{socket_dir}"}}'.encode(),
        env={"CNI_COMMAND": "DEL"},
        capture_output=True,
        check=False,
        cwd=tmp_path,
        timeout=60,
    )

    assert done.stderr == b""
    assert done.returncode == 1
    assert json.loads(done.stdout) == {
        "cniVersion": "1.0.0",
        "code": 11,
        "msg": f"cannot reach the multus daemon at {socket_dir}/multus.sock: the socket does not exist; "
        "the runtime will retry",
    }


def test_the_shim_speaks_the_versions_the_product_speaks() -> None:
    """The shim answers VERSION itself with its own copy of the list (it cannot import ours)."""
    assert multus_shim.SUPPORTED_VERSIONS == SUPPORTED_VERSIONS
