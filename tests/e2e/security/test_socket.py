"""Only root reaches the daemon: a process of another user can neither connect to the socket nor look
into its folder. (The modes themselves, 0600 in 0700, and a symlinked socketDir refused are checked in
tests/e2e/daemon/test_socket_api.py and test_daemon_config.py; this is what they are for.)"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.daemon.conftest import StartDaemon

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

NOBODY = 65534
CONNECT = """
import errno, os, socket, sys
path = sys.argv[1]
try:
    os.listdir(os.path.dirname(path))
    print("listed")
except PermissionError:
    print("list refused")
try:
    socket.socket(socket.AF_UNIX).connect(path)
    print("connected")
except PermissionError:
    print("connect refused")
"""


def test_another_user_cannot_reach_the_daemon(start_daemon: StartDaemon) -> None:
    # Outside pytest's folders, which are root's alone: only the daemon's own modes keep others out.
    open_folder = Path(tempfile.mkdtemp(prefix="mpy-socket-"))
    try:
        open_folder.chmod(0o755)
        daemon = start_daemon(socketDir=str(open_folder / "run"))
        assert daemon.readyz() == 200  # root can
        reached = _as_nobody(daemon.socket_path)
        daemon.stop()
    finally:
        shutil.rmtree(open_folder)

    assert reached == ["list refused", "connect refused"]


def _as_nobody(socket_path: Path) -> list[str]:
    done = subprocess.run(
        ["/usr/bin/python3", "-IS", "-c", CONNECT, str(socket_path)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )

    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()
