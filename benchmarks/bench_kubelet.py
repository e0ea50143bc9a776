"""Time to Running on a real node: 10 pods at once asking for a NAD network (eth0 and net1 through the
native shim and the daemon) against 10 plain pods on the same node with no multus in the way (eth0 from
the primary config, which the runtime then reads first).

The node is `tests/runtimes/node.py`'s: kubelet v1.34.4 on Debian's containerd 1.6, the daemon writing
`00-multus.conf` in front of a bridge + host-local primary; the NAD is a bridge + host-local too. For a
plain round the daemon stops and its `00-multus.conf` goes, so containerd reads the primary; for a multus
round the daemon starts again and writes it back. Rounds alternate, so both variants meet the same
machine. A pod's time runs from the start of `kubectl apply` (of all the round's pods, in one file) to
the pod first seen Running (the API server polled every 50 ms). After each round the pods are deleted
and nothing may be left behind. The kubelet sees containers start on its relist, once a second, so one
pod's time moves in steps of about a second: the means over rounds (where the relist falls between
them) say more than the medians.

Prints each variant's median, mean, p95 and max, and the differences of the medians and of the means.
Needs root.
Usage: python -m benchmarks.bench_kubelet [--pods N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.support import emit, ms, stats_ms, summary
from tests.conftest import unique_name
from tests.e2e.daemon.support import NODE_CONFIG, wait_for
from tests.runtimes.multus_node import MULTUS_NETWORK, PRIMARY
from tests.runtimes.node import Node, built_shim, running
from tests.testenv import running as apiserver_running


def use_multus(node: Node, multus: bool) -> None:
    """Make the runtime's first config the daemon's (`multus`) or the primary, and wait until it is read."""
    if multus and not node.daemon.running:
        node.daemon.start()
    elif not multus and node.daemon.running:
        if node.daemon.stop() != 0:
            raise SystemExit(f"multus-daemon did not exit cleanly:\n{node.daemon.log_tail()}")
        (node.conf_dir / NODE_CONFIG).unlink()
    wanted = MULTUS_NETWORK if multus else PRIMARY
    wait_for(f"containerd reading {wanted}", lambda: node.containerd.cni_network_names()[-1:] == [wanted])


def one_round(node: Node, namespace: str, multus: bool, pods: int) -> list[float]:
    """Seconds to Running of each of `pods` pods applied at once, after which they are deleted."""
    use_multus(node, multus)
    names = [unique_name("multus-" if multus else "plain-") for _ in range(pods)]
    started = time.monotonic()
    node.apply(*(node.pod(name, namespace, networks="blue" if multus else None) for name in names))
    seconds = node.wait_running(namespace, names, started)
    boxes = [node.sandbox(namespace, name) for name in names]
    node.kubelet.kubectl("delete", "pods", "--all", "-n", namespace, "--timeout=180s")
    left = node.wait_clean(boxes)
    if left:
        raise SystemExit(f"left behind after deletion: {left[:10]}")
    return list(seconds.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: a kubelet and containerd")
    shim = built_shim()
    if not shim.is_file():
        sys.exit(f"native shim not found at {shim} (make shim)")
    samples: dict[bool, list[float]] = {True: [], False: []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-kubelet-") as folder,
        apiserver_running(Path(folder) / "apiserver") as apiserver,
        running(Path(folder) / "node", apiserver, shim) as node,
    ):
        namespace = unique_name("bench-")
        node.kubelet.kubectl("create", "namespace", namespace)
        node.apply(node.bridge_nad("blue", namespace)[0])
        for _ in range(args.rounds):
            for multus in (True, False):
                samples[multus] += one_round(node, namespace, multus, args.pods)
        use_multus(node, True)  # the node stops as it started
    for multus, label in ((True, "multus: eth0 + net1"), (False, "plain: eth0")):
        emit(
            {
                "bench": f"kubelet: {args.pods} pods at once to Running, {label}",
                "pods": args.pods,
                "rounds": args.rounds,
                **stats_ms(samples[multus]),
                "mean_ms": ms(statistics.fmean(samples[multus])),
            }
        )
    medians = [statistics.median(samples[multus]) for multus in (True, False)]
    means = [statistics.fmean(samples[multus]) for multus in (True, False)]
    emit(
        {
            "bench": "kubelet: time to Running, multus vs plain",
            "added_median_ms": ms(medians[0] - medians[1]),
            "added_mean_ms": ms(means[0] - means[1]),
            "ratio_of_means": round(means[0] / means[1], 2),
        }
    )
    summary(
        f"{args.pods} pods at once, {args.rounds} rounds: Running after {means[0]:.2f} s on average with"
        f" multus (eth0 + net1) vs {means[1]:.2f} s plain (eth0), {ms(means[0] - means[1]):+} ms;"
        f" medians {medians[0]:.2f} s vs {medians[1]:.2f} s"
    )


if __name__ == "__main__":
    main()
