"""Fixtures of the libcni matrix: the thick-mode tests' daemons and runtimes (with the native shim, the
one the DaemonSet installs) and the in-process plugin's runtime, imported from where they live."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import api_client, namespace  # noqa: F401 - fixtures, found by name
from tests.e2e.daemon.conftest import native_shim, runtime_for, start_daemon  # noqa: F401
from tests.e2e.meta.conftest import rt  # noqa: F401


@pytest.fixture
def shim(request: pytest.FixtureRequest) -> Path:
    """What `runtime_for` execs for its own clean-up: the native shim only."""
    path: Path = request.getfixturevalue("native_shim")
    return path
