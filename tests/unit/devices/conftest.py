"""The device tests' log: the project's logger writing JSON lines to a file of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from multus.logs import configure


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The file the project's logger writes to during the test (verbose); logging as by default after."""
    path = tmp_path / "multus.log"
    configure("verbose", path, to_stderr=False)
    yield path
    configure()
