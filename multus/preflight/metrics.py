"""The metrics check: upstream's metric, kept or not, and the daemon's own."""

from __future__ import annotations

from multus.daemon.metrics import DaemonMetrics
from multus.daemon.settings import DaemonConfig
from multus.preflight.finding import Finding, Severity

UPSTREAM_METRIC = "multus_server_request_total"


def metric_findings(settings: DaemonConfig) -> list[Finding]:
    names = [
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in DaemonMetrics().registry.collect()
    ]
    served = (
        f"on metricsPort {settings.metrics_port}"
        if settings.metrics_port
        else "once metricsPort is set (it is not: no /metrics, as upstream)"
    )
    ours = ", ".join(name for name in names if name != UPSTREAM_METRIC)
    if UPSTREAM_METRIC not in names:
        return [
            Finding(
                Severity.WARNING,
                "metrics",
                f"{UPSTREAM_METRIC} is not exported: dashboards and alerts on it stop working",
                "move them to " + ours,
            )
        ]
    return [
        Finding(
            Severity.NOTE,
            "metrics",
            f"{UPSTREAM_METRIC} keeps upstream's name and labels, {served}: dashboards and alerts on it "
            "keep working",
        ),
        Finding(Severity.NOTE, "metrics", f"multus-daemon also exports {ours}"),
    ]
