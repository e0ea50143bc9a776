"""Structured logs: one JSON line per event, carrying the container, pod and network it concerns.

Call sites pass context as keyword fields (`log.info("delegate added", extra=fields(container=...))`);
the formatter writes them next to the time, level and message. Configs and results are never logged
whole: they may hold credentials of third-party plugins.
"""

from __future__ import annotations

import json
import logging
import sys
import time
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


def configure(level: str = "error", log_file: Path | None = None, to_stderr: bool = True) -> logging.Logger:
    """Point the project's logger at stderr and/or a file; safe to call again with other settings."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = JSONFormatter()
    handlers: list[logging.Handler] = []
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(LEVELS.get(level.lower(), logging.ERROR))
    logger.propagate = False
    return logger


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")
