"""The committed gRPC bindings are what tools/gen-kubelet-apis.sh generates from the kubelet's module."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
GENERATED = ("api_pb2.py", "api_pb2.pyi")
PACKAGES = ("multus/kubelet/apis/podresources/v1", "tests/runtimes/deviceplugin/v1beta1")


def test_regenerating_gives_the_committed_files(tmp_path: Path) -> None:
    subprocess.run(
        [str(REPO / "tools" / "gen-kubelet-apis.sh"), str(tmp_path)],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
        capture_output=True,
    )

    for package in PACKAGES:
        for name in GENERATED:
            committed, regenerated = REPO / package / name, tmp_path / package / name
            assert regenerated.read_text() == committed.read_text(), (
                f"{package}/{name} differs: run the script"
            )
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.py*")) == sorted(
        f"{package}/{name}" for package in PACKAGES for name in GENERATED
    )


def test_the_bindings_come_from_the_kubelet_built_here() -> None:
    """k8s.io/kubelet v0.X.Y is the API module of Kubernetes v1.X.Y, the kubelet the tests run."""
    go_mod = (REPO / "tools" / "kube" / "go.mod").read_text()
    kubernetes = re.search(r"^\s*k8s\.io/kubernetes v1\.(\d+\.\d+)\s", go_mod, re.MULTILINE)
    assert kubernetes is not None
    for package in PACKAGES:
        for name in GENERATED:
            header = (REPO / package / name).read_text().splitlines()[0]
            assert f"from k8s.io/kubelet v0.{kubernetes[1]} " in header, (package, name, header)
