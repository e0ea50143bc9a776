"""Controller failover: two peered replicas against a real API server; SIGKILL the active one, change a
NAD, and time until the other replica has written that change's status.

The kill is a crash (no goodbye in the peering object), so the figure is bounded by the dead replica's
`--peering-lifetime` (15 s): kopf renews each keep-alive 5-10 s before it expires, so a replica killed
right after renewing is taken over 5-10 s later. A graceful stop (SIGTERM) hands over at once.
Prints one JSON line with the median of the runs and a summary.
Usage: python -m benchmarks.bench_failover [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from kubernetes import client
from kubernetes import config as kube_config

from benchmarks.support import emit, summary
from controller.settings import Settings
from tests.e2e.controller.support import failover_seconds, install_peering, service_account_kubeconfig
from tests.testenv import running


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_failover")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-failover-") as scratch,
        running(Path(scratch) / "env") as env,
    ):
        api = kube_config.new_client_from_config(config_file=str(env.kubeconfig))
        install_peering(env)
        kubeconfig = service_account_kubeconfig(env, api, Path(scratch) / "kubeconfig")
        namespace = f"failover-{uuid.uuid4().hex[:8]}"
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        )
        samples = [
            failover_seconds(env, api, kubeconfig, Path(scratch), namespace=namespace, name=f"run-{run}")
            for run in range(args.runs)
        ]
    lifetime = Settings().peering_lifetime
    median = statistics.median(samples)
    emit(
        {
            "bench": "controller_failover",
            "runs": len(samples),
            "failover_median_s": round(median, 1),
            "failover_max_s": round(max(samples), 1),
            "samples_s": [round(sample, 1) for sample in samples],
            "peering_lifetime_s": lifetime,
        }
    )
    summary(
        f"controller failover after SIGKILL of the active replica: median {median:.1f} s, "
        f"max {max(samples):.1f} s over {len(samples)} runs (peering lifetime {lifetime} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
