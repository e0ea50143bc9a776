"""benchmarks.bench_controller_scale at a small size: it runs to the end, and what it prints says that
every NAD's count was checked against the pods it created, after each phase."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.testenv import REPO

pytestmark = pytest.mark.e2e


def test_the_controller_scale_benchmark_checks_every_count() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_controller_scale", "--nads", "20", "--pods", "200"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = {
        figure["bench"]: figure
        for figure in (json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    }
    created = figures["controller_scale: objects created"]
    assert (created["nads"], created["pods"]) == (20, 200)
    reconcile = figures["controller_scale: reconcile"]
    # Every NAD's podCount was right after the first start and after the restart (and its probe pod).
    assert reconcile["verified_nads"] == 20
    assert reconcile["pods"] == 201
    assert reconcile["restart_status_patches_beyond_probe"] == 0
    events = figures["controller_scale: pod events"]
    assert events["verified_nads"] == 20
    assert events["pod_events"] == 5
    assert events["status_patches"] == events["changed_nads"] == 10
    memory = figures["controller_scale: memory"]
    assert 0 < memory["settled_rss_mib"] <= memory["rss_mib"]
