"""Fixtures of the security tests: the runtime of each path (thin: the in-process plugin; thick: the
native shim to the session's shared daemon, which takes the multus config from stdin as a node's runtime
hands it over), and planted programs that leave a mark if anything ever runs them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.daemon.conftest import native_shim, runtime_for, shared_daemon, start_daemon
from tests.e2e.daemon.conftest import rt as thick_rt
from tests.e2e.faults.conftest import gate
from tests.e2e.meta.conftest import rt as thin_rt
from tests.e2e.meta.runtime import FAKE_PLUGINS, Runtime

# Other suites' fixtures, used here; imported under another name, a fixture goes by that name.
__all__ = ["gate", "native_shim", "runtime_for", "shared_daemon", "start_daemon", "thick_rt", "thin_rt"]

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


@pytest.fixture
def shim(native_shim: Path) -> Path:
    """Overrides the daemon tests' choice of both shims for `thick_rt` and `runtime_for`."""
    return native_shim


@pytest.fixture(params=["thin", "thick"])
def rt(request: pytest.FixtureRequest) -> Runtime:
    """The in-process plugin tests' runtime, or the daemon tests' (native shim, shared daemon)."""
    made: Runtime = request.getfixturevalue(f"{request.param}_rt")
    return made
