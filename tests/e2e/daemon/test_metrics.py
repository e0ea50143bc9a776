"""The daemon's Prometheus endpoint (metricsPort on 127.0.0.1): requests by command and result, the
latency histogram, requests in flight, cache sizes."""

from __future__ import annotations

import json

import pytest

from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.daemon.support import metric, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def test_metrics_count_requests_in_flight_and_cached(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    daemon = start_daemon()
    rt = runtime_for(daemon)
    slow, started = rt.sleeping_net("slow", 2)
    nads_before = metric(daemon.metrics(), "multus_cache_objects", kind="network-attachment-definitions")
    rt.nad("slow", slow.config)
    good, bad = rt.pod("slow"), rt.pod("no/such/network")
    wait_for(
        "both pods in the cache", lambda: metric(daemon.metrics(), "multus_cache_objects", kind="pods") == 2
    )
    assert metric(daemon.metrics(), "multus_requests_in_flight") == 0

    pending = rt.start("ADD", sandbox=good)
    wait_for("the slow plugin to start", started.exists, timeout=30)
    assert metric(daemon.metrics(), "multus_requests_in_flight") == 1
    stdout, stderr = pending.communicate(timeout=60)
    assert pending.returncode == 0, (stdout, stderr)
    assert json.loads(stdout)["ips"]
    rt.run("ADD", sandbox=bad).error(102)
    rt.delete(good)
    rt.delete(bad)

    # A request stays in flight until its bookkeeping after the reply (records, result cache) is done.
    wait_for("no request in flight", lambda: metric(daemon.metrics(), "multus_requests_in_flight") == 0)
    samples = daemon.metrics()
    counts = {
        (command, result): metric(samples, "multus_requests_total", command=command, result=result)
        for command in ("ADD", "DEL", "CHECK")
        for result in ("ok", "error")
    }
    assert counts == {
        ("ADD", "ok"): 1,
        ("ADD", "error"): 1,
        ("DEL", "ok"): 2,
        ("DEL", "error"): 0,
        ("CHECK", "ok"): 0,
        ("CHECK", "error"): 0,
    }
    assert metric(samples, "multus_request_duration_seconds_count", command="ADD") == 2
    assert metric(samples, "multus_request_duration_seconds_count", command="DEL") == 2
    # The slow ADD took at least the plugin's 2 s: it sits above the 1 s bucket.
    assert metric(samples, "multus_request_duration_seconds_bucket", command="ADD", le="1.0") <= 1
    assert metric(samples, "multus_request_duration_seconds_sum", command="ADD") >= 2
    assert metric(samples, "multus_requests_in_flight") == 0
    assert metric(samples, "multus_cache_objects", kind="pods") == 2
    assert metric(samples, "multus_cache_objects", kind="network-attachment-definitions") == nads_before + 1
    assert rt.leftovers(good) == []
    assert rt.leftovers(bad) == []


def test_a_pods_report_waits_while_another_pods_request_is_under_way(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    """Network-status and Events go out once no pod request is under way (REPORT_QUIET_WAIT at most), so
    that in a burst the API writes of finished pods take no CPU from the plugins of the others."""
    daemon = start_daemon()
    rt = runtime_for(daemon)
    # Its sleep ends well within REPORT_QUIET_WAIT of the quick pod's answer.
    slow, started = rt.sleeping_net("slow", 1.0)
    rt.nad("slow", slow.config)
    held, quick = rt.pod("slow"), rt.pod()
    wait_for(
        "both pods in the cache", lambda: metric(daemon.metrics(), "multus_cache_objects", kind="pods") == 2
    )

    pending = rt.start("ADD", sandbox=held)
    wait_for("the held pod's list to reach its sleep", lambda: started.exists() or pending.poll() is not None)
    assert pending.poll() is None, pending.communicate()
    quick_add = rt.start("ADD", sandbox=quick)
    stdout, stderr = quick_add.communicate(timeout=60)
    assert quick_add.returncode == 0, (stdout, stderr)
    stdout, stderr = pending.communicate(timeout=60)
    assert pending.returncode == 0, (stdout, stderr)
    rt.wait_for_report(quick)

    lines = daemon.log_lines()
    held_answered = next(
        index
        for index, line in enumerate(lines)
        if line.get("msg") == "request" and line.get("container") == held.container_id
    )
    quick_reported = next(
        index
        for index, line in enumerate(lines)
        if line.get("msg") == "pod reported" and line.get("container") == quick.container_id
    )
    assert quick_reported > held_answered
    rt.delete(held)
    rt.delete(quick)
    assert rt.leftovers(held) == []
    assert rt.leftovers(quick) == []
