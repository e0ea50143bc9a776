"""Structured logs: one line per event, carrying the container, pod and network it concerns.

Call sites pass context as keyword fields (`log.info("delegate added", extra=fields(container=...))`);
the formatter writes them next to the time, level and message: as a JSON object (`json`, the default)
or as upstream Multus's plain line, `<RFC 3339 time> [<level>] <message>`, with the fields after it as
`key=value` (`text`). Configs and results are never logged whole: they may hold credentials of
third-party plugins.

A log file is rotated as upstream's is (its `logOptions`, with lumberjack's defaults): once it reaches
its size, it is renamed `<name>-<UTC time>.<ext>` and gzipped, and backups beyond their number or age
are removed.
"""

from __future__ import annotations

import datetime
import gzip
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

LOGGER_NAME = "multus"
_FIELDS = "multus_fields"

# Upstream's level names, mapped onto the standard ones.
LEVELS = {
    "debug": logging.DEBUG,
    "verbose": logging.INFO,
    "info": logging.INFO,
    "error": logging.ERROR,
    "panic": logging.CRITICAL,
}
# How the text format names each level: upstream's names where it has one.
_TEXT_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "verbose",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "panic",
}
MEGABYTE = 1024 * 1024


def fields(**values: Any) -> dict[str, Any]:
    """The `extra=` argument that attaches structured fields to one log call; empty values are dropped."""
    return {_FIELDS: {key: value for key, value in values.items() if value not in (None, "")}}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info and record.exc_info[1] is not None:
            line["error"] = str(record.exc_info[1])
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """Upstream's line (`2024-05-01T10:00:00Z [verbose] message`), then the fields as `key=value`; a value
    with spaces, quotes or line breaks is quoted as a JSON string, so an event stays one line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")
        level = _TEXT_LEVELS.get(record.levelno, record.levelname.lower())
        parts = [f"{stamp.replace('+00:00', 'Z')} [{level}] {_bare(record.getMessage())}"]
        values = dict(getattr(record, _FIELDS, {}))
        if record.exc_info and record.exc_info[1] is not None:
            values["error"] = str(record.exc_info[1])
            values["traceback"] = self.formatException(record.exc_info)
        parts += [f"{key}={_text(value)}" for key, value in values.items()]
        return " ".join(parts)


_PLAIN = re.compile(r'[^\s"=\\]+')


def _text(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return value
    return json.dumps(value, default=str)


def _bare(message: str) -> str:
    return message.replace("\r", "\\r").replace("\n", "\\n")


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JSONFormatter, "text": TextFormatter}


@dataclass(frozen=True)
class Rotation:
    """When a log file is rotated and which backups are kept; 0 means upstream's "no limit" except for
    the size, where 0 means the default."""

    max_megabytes: int = 100
    max_backups: int = 5
    max_age_days: int = 5
    compress: bool = True


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


def configure(
    level: str = "error",
    log_file: Path | None = None,
    to_stderr: bool = True,
    *,
    log_format: str = "json",
    rotation: Rotation | None = None,
) -> logging.Logger:
    """Point the project's logger at stderr and/or a file; safe to call again with other settings."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = FORMATTERS[log_format]()
    handlers: list[logging.Handler] = []
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(RotatingLogFile(log_file, rotation or Rotation()))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(LEVELS.get(level.lower(), logging.ERROR))
    logger.propagate = False
    return logger


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")
