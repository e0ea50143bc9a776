"""A preflight finding, its severity, and the report of them all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    subject: str  # the object that changes: a ConfigMap key, a NAD, a pod, a file, "metrics"
    change: str  # what behaves differently after the switch
    action: str = ""  # what to do about it; empty when nothing needs doing

    def line(self) -> str:
        text = f"{self.severity.upper():<7} {self.subject}: {self.change}"
        return f"{text} => {self.action}" if self.action else text

    def to_json(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "subject": self.subject,
            "change": self.change,
            "action": self.action,
        }


def changes(found: Sequence[Finding]) -> bool:
    """Whether anything would behave differently (notes change nothing)."""
    return any(finding.severity is not Severity.NOTE for finding in found)


def report(found: Sequence[Finding], output: str) -> str:
    """The findings as lines for people, or as one JSON document."""
    if output == "json":
        return json.dumps({"changes": changes(found), "findings": [f.to_json() for f in found]}, indent=2)
    counts = {severity: sum(f.severity is severity for f in found) for severity in Severity}
    summary = ", ".join(f"{count} {severity}(s)" for severity, count in counts.items())
    verdict = "something changes" if changes(found) else "nothing that runs now changes"
    return "\n".join([*(f.line() for f in found), f"preflight: {summary}: {verdict}"])
