"""The one error type that leaves the CNI layer, and the codes it carries.

Every failure the product reports to a container runtime is a `CNIError`: printed as
`{"cniVersion", "code", "msg", "details"}` on stdout with a non-zero exit. Subclasses only fix the code,
so callers can catch a kind of failure and the wire form stays the same:

    CNIError
    ├── IncompatibleVersion        1
    ├── UnsupportedField           2
    ├── UnknownContainer           3
    ├── InvalidEnvironment         4
    ├── IOFailure                  5
    ├── DecodeFailure              6
    ├── InvalidConfig              7
    ├── TryAgainLater             11
    ├── PluginNotAvailable        50
    ├── LimitedConnectivity       51
    ├── DelegateFailed           100   a delegate crashed, was killed, or printed no valid answer
    ├── DelegateTimeout          101   a delegate ran past its time limit and was killed
    ├── InvalidAnnotation        102   a pod annotation does not parse or breaks a rule
    ├── NetworkNotFound          103   a referenced NetworkAttachmentDefinition does not exist
    ├── NetworkForbidden         104   namespace isolation forbids the reference
    ├── InterfaceConflict        105   an interface name is repeated or already in the netns
    ├── ClusterUnavailable       106   the Kubernetes API could not be reached in time
    ├── InternalError            199   a bug of ours, reported as an error rather than a traceback
    └── CleanupIncomplete        100   GC could not remove every attachment it should have

A delegate's own error keeps the delegate's code: it is raised as a plain `CNIError`. An error passed
up with more context (`error.with_context("network x")`) keeps its class, its code and its cause.
"""

from __future__ import annotations

from enum import IntEnum

# typing's flag without importing typing, which costs the `multus` executable's VERSION milliseconds:
# mypy reads any name `TYPE_CHECKING` as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self


class ErrorCode(IntEnum):
    INCOMPATIBLE_VERSION = 1
    UNSUPPORTED_FIELD = 2
    UNKNOWN_CONTAINER = 3
    INVALID_ENVIRONMENT = 4
    IO_FAILURE = 5
    DECODE_FAILURE = 6
    INVALID_CONFIG = 7
    TRY_AGAIN_LATER = 11
    PLUGIN_NOT_AVAILABLE = 50
    LIMITED_CONNECTIVITY = 51
    DELEGATE_FAILED = 100
    DELEGATE_TIMEOUT = 101
    INVALID_ANNOTATION = 102
    NETWORK_NOT_FOUND = 103
    NETWORK_FORBIDDEN = 104
    INTERFACE_CONFLICT = 105
    CLUSTER_UNAVAILABLE = 106
    INTERNAL = 199


class CNIError(Exception):
    """A failure with a CNI error code, a short message and optional details."""

    default_code: ClassVar[int] = ErrorCode.DELEGATE_FAILED

    def __init__(self, msg: str, details: str = "", *, code: int | None = None) -> None:
        super().__init__(msg)
        self.code = int(code if code is not None else self.default_code)
        self.msg = msg
        self.details = details

    def __str__(self) -> str:
        return f"{self.msg}: {self.details}" if self.details else self.msg

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, msg={self.msg!r}, details={self.details!r})"

    def with_context(self, context: str, *, details: str | None = None) -> Self:
        """This error with `context: ` before its message (and other `details`, if given): same class
        and code, caused by this one."""
        wider = type(self)(
            f"{context}: {self.msg}", self.details if details is None else details, code=self.code
        )
        wider.__cause__ = self
        return wider

    def to_dict(self, cni_version: str) -> dict[str, Any]:
        """The error as the spec prints it; `details` is omitted when empty, as libcni does."""
        body: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            body["details"] = self.details
        return body


class IncompatibleVersion(CNIError):
    default_code = ErrorCode.INCOMPATIBLE_VERSION


class UnsupportedField(CNIError):
    default_code = ErrorCode.UNSUPPORTED_FIELD


class UnknownContainer(CNIError):
    default_code = ErrorCode.UNKNOWN_CONTAINER


class InvalidEnvironment(CNIError):
    default_code = ErrorCode.INVALID_ENVIRONMENT


class IOFailure(CNIError):
    default_code = ErrorCode.IO_FAILURE


class DecodeFailure(CNIError):
    default_code = ErrorCode.DECODE_FAILURE


class InvalidConfig(CNIError):
    default_code = ErrorCode.INVALID_CONFIG


class TryAgainLater(CNIError):
    default_code = ErrorCode.TRY_AGAIN_LATER


class PluginNotAvailable(CNIError):
    default_code = ErrorCode.PLUGIN_NOT_AVAILABLE


class LimitedConnectivity(CNIError):
    default_code = ErrorCode.LIMITED_CONNECTIVITY


class DelegateFailed(CNIError):
    default_code = ErrorCode.DELEGATE_FAILED


class DelegateTimeout(CNIError):
    default_code = ErrorCode.DELEGATE_TIMEOUT


class InvalidAnnotation(CNIError):
    default_code = ErrorCode.INVALID_ANNOTATION


class NetworkNotFound(CNIError):
    default_code = ErrorCode.NETWORK_NOT_FOUND


class NetworkForbidden(CNIError):
    default_code = ErrorCode.NETWORK_FORBIDDEN


class InterfaceConflict(CNIError):
    default_code = ErrorCode.INTERFACE_CONFLICT


class ClusterUnavailable(CNIError):
    default_code = ErrorCode.CLUSTER_UNAVAILABLE


class InternalError(CNIError):
    default_code = ErrorCode.INTERNAL


class CleanupIncomplete(CNIError):
    default_code = ErrorCode.DELEGATE_FAILED
