"""kopf's lines about users' mistakes are not errors; its other lines pass unchanged."""

from __future__ import annotations

import logging

from controller.log_levels import UserErrorLevels

LEVELS = UserErrorLevels(webhooks=["validate-nad"], waiting=["deletion_protection"])


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


def test_a_webhook_refusal_is_dropped() -> None:
    assert not LEVELS.filter(record(logging.ERROR, "Webhook 'validate-nad' failed permanently: spec.config"))


def test_a_waiting_deletion_is_a_warning() -> None:
    waiting = record(logging.ERROR, "Handler 'deletion_protection' failed temporarily: deletion waits")
    assert LEVELS.filter(waiting)
    assert (waiting.levelno, waiting.levelname) == (logging.WARNING, "WARNING")


def test_other_failures_stay_errors() -> None:
    for message in (
        "Webhook 'validate-nad' failed with an exception. Will ignore.",
        "Handler 'status_on_create' failed temporarily: connection refused",
        "Webhook 'other' failed permanently: x",
    ):
        kept = record(logging.ERROR, message)
        assert LEVELS.filter(kept)
        assert kept.levelno == logging.ERROR
