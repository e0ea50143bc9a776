"""The packages import, ship their type marker, and keep the layering of docs/architecture.md (layers)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# For each package prefix: the packages it must never import. multus.k8s is pure: no API client, no
# HTTP, no YAML files (multus.kube does that I/O).
FORBIDDEN = {
    "multus.cni": ("multus.k8s", "multus.kube", "multus.netns", "multus.daemon", "multus.shim", "controller"),
    "multus.k8s": (
        "multus.kube",
        "multus.netns",
        "multus.daemon",
        "multus.shim",
        "controller",
        "aiohttp",
        "yaml",
    ),
    "multus.netns": ("multus.k8s", "multus.kube", "multus.daemon", "multus.shim", "controller"),
    "multus": ("controller",),
    "controller": ("multus.netns", "multus.daemon", "multus.shim"),
}
# Packages whose project imports are limited to these (themselves included).
ONLY = {
    "multus.kube": ("multus.cni", "multus.k8s", "multus.kube", "multus.logs"),
}
PROJECT = ("multus", "controller")


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


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _rule_for(module: str) -> tuple[str, ...]:
    owners = [prefix for prefix in FORBIDDEN if _within(module, prefix)]
    return FORBIDDEN[max(owners, key=len)] if owners else ()


def _allowed_for(module: str) -> tuple[str, ...] | None:
    """The only project packages `module` may import, or None when it has no such list."""
    owners = [prefix for prefix in ONLY if _within(module, prefix)]
    return ONLY[max(owners, key=len)] if owners else None


def _violations(module: str, imported: set[str]) -> list[str]:
    allowed = _allowed_for(module)
    return [
        f"{module} imports {name}"
        for name in sorted(imported)
        if any(_within(name, banned) for banned in _rule_for(module))
        or (
            allowed is not None
            and any(_within(name, project) for project in PROJECT)
            and not any(_within(name, ok) for ok in allowed)
        )
    ]


@pytest.mark.parametrize("package", ["multus", "controller"])
def test_package_imports_and_is_typed(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert (Path(module.__file__).parent / "py.typed").exists()


def _sources() -> list[Path]:
    return sorted([*ROOT.joinpath("multus").rglob("*.py"), *ROOT.joinpath("controller").rglob("*.py")])


def test_layering() -> None:
    sources = _sources()
    assert sources
    violations = [v for path in sources for v in _violations(_module_name(path), _imports(path))]
    assert violations == []


def test_nothing_shipped_imports_the_official_client() -> None:
    """`kubernetes` is a test dependency only (pyproject.toml): the programs call the API through
    multus.kube, and kopf logs in with its credentials."""
    users = [_module_name(p) for p in _sources() if any(_within(m, "kubernetes") for m in _imports(p))]
    assert users == []


def test_layering_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import controller.handlers\nfrom multus.k8s import views\n")
    assert _imports(bad) == {"controller.handlers", "multus.k8s"}
    assert _rule_for("multus.cni.exec") == FORBIDDEN["multus.cni"]
    assert _rule_for("multus.daemon") == ("controller",)
    assert _violations("multus.k8s.nad", {"yaml", "multus.kube.rest", "json"}) == [
        "multus.k8s.nad imports multus.kube.rest",
        "multus.k8s.nad imports yaml",
    ]
    assert _violations("multus.kube.apiview", {"aiohttp", "multus.k8s.view", "multus.daemon.metrics"}) == [
        "multus.kube.apiview imports multus.daemon.metrics"
    ]
