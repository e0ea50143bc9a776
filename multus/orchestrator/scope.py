"""One request's scope: what the runtime sent, and the work that waits until the runtime has its answer.

Two kinds of work wait (docs/architecture.md, "Where deferred work runs"):

- **bookkeeping**: the result cache, the attachment record and its fsync, log lines. Plain functions,
  run once the reply is sent and before the container's next request, so a DEL always finds what its
  ADD wrote. An undo runs what is pending first (`settle`): its DELs want the cached results.
- **reports**: the pod's network-status and Events. Coroutines, run after the reply without holding up
  the container's next request, retried until the API server takes them.

The node daemon owns a scope per request with `replies_first=True` and runs both after answering. The
in-process plugin has no "after": its scope runs bookkeeping as it is handed over, and the commands
write their reports in line.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from multus.cni.environment import CNIEnvironment
from multus.config import MultusConfig, Stdin
from multus.logs import fields, get_logger

log = get_logger("orchestrator")

Bookkeeping = Callable[[], None]
Report = Coroutine[Any, Any, None]


class RequestScope:
    def __init__(self, env: CNIEnvironment, stdin: Stdin, *, replies_first: bool = False) -> None:
        self.env = env
        self.stdin = stdin
        self.replies_first = replies_first
        self._bookkeeping: list[Bookkeeping] = []
        self._reports: list[Report] = []

    @property
    def config(self) -> MultusConfig:
        return self.stdin.config

    @property
    def runtime_config(self) -> Mapping[str, Any]:
        return self.stdin.runtime_config

    def later(self, work: Bookkeeping) -> None:
        """Bookkeeping: after the reply when the owner replies first, now otherwise."""
        if self.replies_first:
            self._bookkeeping.append(work)
        else:
            work()

    def settle(self) -> None:
        """The pending bookkeeping, now: an undo's DELs and the default route need the cached results."""
        pending, self._bookkeeping = self._bookkeeping, []
        run_bookkeeping(pending, {"container": self.env.container_id})

    def report(self, report: Report) -> None:
        """A report for the owner to run after the reply. Only for an owner that replies first."""
        assert self.replies_first, "the in-process plugin writes its reports in line"
        self._reports.append(report)

    def take_bookkeeping(self) -> list[Bookkeeping]:
        pending, self._bookkeeping = self._bookkeeping, []
        return pending

    def take_reports(self) -> list[Report]:
        reports, self._reports = self._reports, []
        return reports


def run_bookkeeping(work: list[Bookkeeping], context: Mapping[str, str]) -> None:
    """Bookkeeping once the delegates ran: a step that fails is logged (the attachments stand, and an
    undo still has to run), and the others still run."""
    for step in work:
        try:
            step()
        except Exception as error:
            log.error("bookkeeping failed", extra=fields(**context, error=str(error)))
