"""Fixtures of the security tests: the runtime of each path (thin: the in-process plugin; thick: the
native shim to the session's shared daemon, which takes the multus config from stdin as a node's runtime
hands it over), and planted programs that leave a mark if anything ever runs them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.daemon.conftest import make_runtime, native_shim, shared_daemon
from tests.e2e.meta.runtime import FAKE_PLUGINS, Runtime
from tests.testenv import TestEnv

__all__ = ["native_shim", "shared_daemon"]  # the daemon tests' fixtures, used here too

PLANTED = """#!/bin/sh
echo "$0" >> {marker}
echo '{{"cniVersion": "1.1.0", "code": 999, "msg": "planted program ran"}}'
exit 1
"""


@dataclass
class Planted:
    """`bin` heads CNI_PATH and holds `planted`; `../planted` from it and the absolute `outside` are
    programs too. Each appends its path to `marker` when run."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def marker(self) -> Path:
        return self.root / "ran"

    def plant(self) -> None:
        self.bin.mkdir(parents=True)
        for program in (self.bin / "planted", self.root / "planted", self.outside):
            program.write_text(PLANTED.format(marker=self.marker))
            program.chmod(0o755)

    def ran(self) -> list[str]:
        return self.marker.read_text().split() if self.marker.exists() else []

    def env(self, rt: Runtime) -> dict[str, str]:
        return {"CNI_PATH": os.pathsep.join(map(str, (self.bin, rt.cni_bin, FAKE_PLUGINS)))}


@pytest.fixture
def planted(tmp_path: Path) -> Planted:
    made = Planted(tmp_path / "planted")
    made.plant()
    return made


@pytest.fixture(params=["thin", "thick"])
def rt(
    request: pytest.FixtureRequest,
    *,
    apiserver: TestEnv,
    api_client: client.ApiClient,
    namespace: str,
    netns_name: str,
    cni_bin: Path,
    tmp_path: Path,
) -> Iterator[Runtime]:
    root = tmp_path / "runtime"
    root.mkdir()
    made = (
        Runtime(
            api=api_client,
            kubeconfig=apiserver.kubeconfig,
            cni_bin=cni_bin,
            root=root,
            namespace=namespace,
            netns_name=netns_name,
        )
        if request.param == "thin"
        else make_runtime(
            shim=request.getfixturevalue("native_shim"),
            daemon=request.getfixturevalue("shared_daemon"),
            apiserver=apiserver,
            api_client=api_client,
            namespace=namespace,
            netns_name=netns_name,
            cni_bin=cni_bin,
            root=root,
        )
    )
    try:
        yield made
    finally:
        made.cleanup()
