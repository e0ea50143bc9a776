"""The log file, rotated as upstream's is (its `logOptions`, with lumberjack's defaults): once it reaches
its size, it is renamed `<name>-<UTC time>.<ext>` and gzipped, and backups beyond their number or age
are removed. Apart from `multus.logs` so that a process logging to stderr alone does not import
logging.handlers, gzip and shutil (the `multus` executable starts for every pod operation).
"""

from __future__ import annotations

import datetime
import gzip
import os
import re
import shutil
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

from multus.logs import MEGABYTE, Rotation


class RotatingLogFile(RotatingFileHandler):
    """A log file rotated by size into timestamped backups, named as upstream's (lumberjack's) are.

    The rename happens as the line that would cross the size is written; compressing the backup and
    removing old ones happen in a thread, so a request does not wait for gzip."""

    _TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"

    def __init__(self, path: Path, rotation: Rotation) -> None:
        super().__init__(path, maxBytes=(rotation.max_megabytes or Rotation.max_megabytes) * MEGABYTE)
        self.rotation = rotation
        self.path = Path(self.baseFilename)
        stem, suffix = os.path.splitext(self.path.name)
        self._backup = re.compile(
            rf"{re.escape(stem)}-(\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{{3}}){re.escape(suffix)}(\.gz)?"
        )
        self._tidying = threading.Lock()

    def backup_name(self, when: datetime.datetime) -> Path:
        stem, suffix = os.path.splitext(self.path.name)
        stamp = when.strftime(self._TIME_FORMAT) + f".{when.microsecond // 1000:03d}"
        return self.path.with_name(f"{stem}-{stamp}{suffix}")

    def backups(self) -> list[tuple[datetime.datetime, Path]]:
        """The backups in the file's folder, newest first."""
        found = []
        for entry in self.path.parent.iterdir():
            match = self._backup.fullmatch(entry.name)
            if match:
                when = datetime.datetime.strptime(match[1], self._TIME_FORMAT + ".%f")
                found.append((when.replace(tzinfo=datetime.UTC), entry))
        return sorted(found, reverse=True)

    def doRollover(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None
        when = datetime.datetime.now(datetime.UTC)
        backup = self.backup_name(when)
        while backup.exists() or backup.with_name(backup.name + ".gz").exists():  # two in one millisecond
            when += datetime.timedelta(milliseconds=1)
            backup = self.backup_name(when)
        if self.path.exists():
            os.rename(self.path, backup)
        self.stream = self._open()
        # Not a daemon thread: a short-lived process (the in-process plugin) still finishes the gzip.
        threading.Thread(target=self.tidy, args=(backup,), name="log-rotation").start()

    def tidy(self, backup: Path) -> None:
        """Compresses `backup` if asked to, then removes the backups beyond their number or age."""
        with self._tidying:
            try:
                if self.rotation.compress and backup.exists():
                    with backup.open("rb") as source, gzip.open(f"{backup}.gz", "wb") as target:
                        shutil.copyfileobj(source, target)
                    backup.unlink()
                backups = self.backups()
                cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
                    days=self.rotation.max_age_days
                )
                for rank, (when, path) in enumerate(backups):
                    too_many = self.rotation.max_backups and rank >= self.rotation.max_backups
                    too_old = self.rotation.max_age_days and when < cutoff
                    if too_many or too_old:
                        path.unlink(missing_ok=True)
            except OSError as error:
                print(f"multus: log rotation of {self.path}: {error}", file=sys.stderr)
