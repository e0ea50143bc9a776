"""A failed API request as a class per answer callers act on, so they catch instead of comparing codes.

    ApiError            any failed request: `status` (the HTTP code, None when no answer came),
    │                   `reason`, `body` (the answer, usually a Status object), `details` (its details)
    ├── Forbidden       401, 403: the credentials are refused, or may not do this
    ├── NotFound        404: no such object
    ├── Conflict        409: a write lost a race, or the object already exists
    ├── Gone            410: a watch's resourceVersion is too old; list again
    ├── Invalid         422: the object was refused; `fields` names the fields at fault
    └── Unavailable     429, 5xx, or no answer at all (connection refused or reset, TLS, timeout):
                        another attempt may pass

`RestClient` raises them for error answers, for connection failures, and for a watch's ERROR event.
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """The request failed; a subclass says how, when the status is one callers tell apart."""

    def __init__(self, status: int | None, reason: str, body: str = "") -> None:
        super().__init__(reason if status is None else f"{status} {reason}")
        self.status, self.reason, self.body = status, reason, body

    @property
    def details(self) -> dict[str, Any]:
        """The `details` of the Status object the server answered with; empty without one."""
        try:
            status = json.loads(self.body)
        except ValueError:
            return {}
        details = status.get("details") if isinstance(status, dict) else None
        return details if isinstance(details, dict) else {}


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Gone(ApiError):
    pass


class Invalid(ApiError):
    @property
    def fields(self) -> frozenset[str]:
        """The fields the server objected to (`metadata.uid`, `spec.config`...)."""
        causes = self.details.get("causes")
        if not isinstance(causes, list):
            return frozenset()
        return frozenset(
            cause["field"]
            for cause in causes
            if isinstance(cause, dict) and isinstance(cause.get("field"), str)
        )


class Unavailable(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: Unavailable,
}


def error_for(status: int, reason: str, body: str = "") -> ApiError:
    """The error an answer with HTTP status `status` means."""
    kind = _BY_STATUS.get(status, Unavailable if status >= 500 else ApiError)
    return kind(status, reason, body)


def unanswered(error: BaseException, server: str = "") -> Unavailable:
    """No answer came: the connection failed, or timed out. `server` is named when the error does not
    name it itself."""
    reason = str(error) or type(error).__name__
    return Unavailable(None, f"{server}: {reason}" if server else reason)
