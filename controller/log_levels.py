"""Log levels for people: a user's mistake is not the controller's error.

kopf logs every refusal of an admission handler as `[ERROR] Webhook '<id>' failed permanently`, and
every retry of a deletion that waits for pods as `[ERROR] Handler '<id>' failed temporarily`. Both are
the controller doing its job. The webhook handlers log their own warning naming the object and the
field (`controller.handlers`), so kopf's line is dropped; a waiting deletion becomes a warning (its
DeletionBlocked condition and Event say the same). Errors stay for the controller's own failures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

KOPF_OBJECTS_LOGGER = "kopf.objects"


class UserErrorLevels(logging.Filter):
    """For kopf's per-object logger: drops refusals of `webhooks`, turns waits of `waiting` into warnings."""

    def __init__(self, webhooks: Iterable[str], waiting: Iterable[str]) -> None:
        super().__init__()
        # kopf's message starts with str(handler): "Webhook 'id'" or "Handler 'id'".
        self.refusals = tuple(f"Webhook {handler_id!r} failed permanently:" for handler_id in webhooks)
        self.waits = tuple(f"Handler {handler_id!r} failed temporarily:" for handler_id in waiting)

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True
        if record.msg.startswith(self.refusals):
            return False
        if record.msg.startswith(self.waits) and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


def install(webhooks: Iterable[str], waiting: Iterable[str]) -> None:
    logging.getLogger(KOPF_OBJECTS_LOGGER).addFilter(UserErrorLevels(webhooks, waiting))
