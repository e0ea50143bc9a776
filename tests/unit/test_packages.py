"""The packages import, ship their type marker, and keep the layering of docs/architecture.md (layers)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# For each package prefix: the project packages it must never import.
FORBIDDEN = {
    "multus.cni": ("multus.k8s", "multus.netns", "multus.daemon", "multus.shim", "controller"),
    "multus.k8s": ("multus.netns", "multus.daemon", "multus.shim", "controller"),
    "multus.netns": ("multus.k8s", "multus.daemon", "multus.shim", "controller"),
    "multus": ("controller",),
    "controller": ("multus.netns", "multus.daemon", "multus.shim"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _rule_for(module: str) -> tuple[str, ...]:
    owners = [prefix for prefix in FORBIDDEN if module == prefix or module.startswith(prefix + ".")]
    return FORBIDDEN[max(owners, key=len)] if owners else ()


@pytest.mark.parametrize("package", ["multus", "controller"])
def test_package_imports_and_is_typed(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert (Path(module.__file__).parent / "py.typed").exists()


def test_layering() -> None:
    sources = sorted([*ROOT.joinpath("multus").rglob("*.py"), *ROOT.joinpath("controller").rglob("*.py")])
    assert sources
    violations = []
    for path in sources:
        module = _module_name(path)
        for imported in _imports(path):
            for banned in _rule_for(module):
                if imported == banned or imported.startswith(banned + "."):
                    violations.append(f"{module} imports {imported}")
    assert violations == []


def test_layering_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import controller.handlers\nfrom multus.k8s import views\n")
    assert _imports(bad) == {"controller.handlers", "multus.k8s"}
    assert _rule_for("multus.cni.exec") == FORBIDDEN["multus.cni"]
    assert _rule_for("multus.daemon") == ("controller",)
