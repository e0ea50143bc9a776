"""Structured logs: one line per event, carrying the container, pod and network it concerns.

Call sites pass context as keyword fields (`log.info("delegate added", extra=fields(container=...))`);
the formatter writes them next to the time, level and message: as a JSON object (`json`, the default)
or as upstream Multus's plain line, `<RFC 3339 time> [<level>] <message>`, with the fields after it as
`key=value` (`text`). Configs and results are never logged whole: they may hold credentials of
third-party plugins.

A log file is rotated as upstream's is (its `logOptions`, with lumberjack's defaults), by
`multus.logfile`, imported only when a file is configured.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
import time
from dataclasses import dataclass
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
        from multus.logfile import RotatingLogFile  # noqa: PLC0415  logging.handlers only for a log file

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
