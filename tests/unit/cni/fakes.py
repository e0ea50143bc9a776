"""Where the fake plugins live and how to read what `fake-record` saw."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

FAKE_PLUGINS = Path(__file__).resolve().parents[2] / "fakeplugins"


def records(path: Path) -> list[dict[str, Any]]:
    """One entry per `fake-record` run: its command, its CNI_* variables and PATH, its stdin config."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def process_is_gone(pid: int, within: float = 2.0) -> bool:
    """Whether `pid` stops running within `within` seconds: reaped, or dead and waiting to be reaped by
    init (a killed plugin's helper is orphaned, and init, not us, is its parent then)."""
    deadline = time.monotonic() + within
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
