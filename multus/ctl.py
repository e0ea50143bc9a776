"""`multusctl`: the meta-plugin for people. `explain` shows what a pod would get, `demo` shows it work,
`attach` and `detach` change a running pod's networks, `status` shows what a node holds, `preflight`
lists what changes when a cluster moves from upstream Multus to multus-py."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from multus import version
from multus.cni.errors import CNIError
from multus.daemon.settings import DEFAULT_CNI_CONFIG_DIR
from multus.k8s.constants import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from multus.preflight import (
    DEFAULT_CONFIG_KEY,
    DEFAULT_CONFIG_MAP,
    PreflightError,
    Sources,
    changes,
    findings,
    gather,
    report,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def explain(args: argparse.Namespace) -> int:
    """Resolve a pod's attachments and print them, running nothing."""
    from multus import explain as explaining  # noqa: PLC0415  the cluster client only for this command

    sources = explaining.Sources(
        args.config, args.cni_conf_dir, args.conf_dir, args.cluster_folder, args.kubeconfig
    )
    print(explaining.run(sources, args.pod, args.ifname, args.output, os.environ))
    return 0


def demo(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("multusctl demo: run as root (it makes network namespaces and links)", file=sys.stderr)
        return 1
    from multus.demo import ExampleRun  # noqa: PLC0415  pyroute2 is only needed here

    folder = args.examples / "00-demo"
    with ExampleRun(folder, args.cni_bin) as run:
        pod = run.pods[0]
        namespace = run.namespaces[pod]
        print(f"== Pod {pod} in network namespace {namespace}, networks from {folder}")
        print(f"   annotation: {_annotation(folder)}")
        print(f"\n== ADD (the multus plugin, as a container runtime runs it; plugins from {run.cni_bin})")
        outcome = run.add(pod)
        if outcome.exit_code != 0:
            print(json.dumps(outcome.reply, indent=2))
            return 1
        print(f"\n== {NETWORK_STATUS_ANNOTATION} written on the pod:")
        print(json.dumps(outcome.status, indent=2))
        print(f"\n== Addresses in {namespace}:")
        for ifname, addresses in outcome.addresses.items():
            print(f"   {ifname:<8} {' '.join(addresses)}")
        print(f"\n== Default routes in {namespace}:")
        for route in outcome.default_routes:
            print(f"   default via {route}")
        print("\n== DEL")
        code, reply = run.delete(pod)
        if code != 0:
            print(json.dumps(reply, indent=2))
            return 1
        left = run.leftovers(pod)
        print(
            "   left behind: "
            + (
                "nothing (no interface, attachment record, cached result or IP allocation)"
                if not left
                else "; ".join(left)
            )
        )
        return 0 if not left else 1


def change_networks(args: argparse.Namespace) -> int:
    """`attach` or `detach`: edit the pod's annotation, then print what its node did."""
    from multus.attach import attach, detach  # noqa: PLC0415  the API client only for these commands
    from multus.kube.apiview import ApiSettings, ApiView  # noqa: PLC0415

    namespace, _, name = args.pod.partition("/")
    api = ApiView(ApiSettings(kubeconfig=_kubeconfig(args.kubeconfig)))
    change = attach if args.command == "attach" else detach

    async def run() -> int:
        try:
            outcome = await change(api, namespace, name, args.network, args.timeout)
        finally:
            await api.close()
        print(outcome.text, file=sys.stdout if outcome.ok else sys.stderr)
        return 0 if outcome.ok else 1

    return asyncio.run(run())


def _kubeconfig(given: Path | None) -> Path | None:
    return given or next(
        (Path(path) for path in os.environ.get("KUBECONFIG", "").split(os.pathsep) if path), None
    )


def status(args: argparse.Namespace) -> int:
    """What the node's daemon holds, through its socket."""
    from multus import status as node_status  # noqa: PLC0415

    document = node_status.fetch(args.socket_dir)
    if args.pod:
        document = node_status.only_pod(document, args.pod)
    print(json.dumps(document, indent=2) if args.output == "json" else node_status.render(document))
    return 0


def preflight(args: argparse.Namespace) -> int:
    """Exit 0 when nothing would change, 1 when something would, 2 when the cluster cannot be read."""
    conf_dir = args.cni_conf_dir
    if conf_dir is not None and not conf_dir.is_dir():
        return _preflight_failed(f"--cni-conf-dir {conf_dir}: not a folder")
    if conf_dir is None and DEFAULT_CNI_CONFIG_DIR.is_dir():
        conf_dir = DEFAULT_CNI_CONFIG_DIR
    sources = Sources(
        _kubeconfig(args.kubeconfig), args.daemon_config_map, args.daemon_config_key, tuple(args.namespace)
    )
    try:
        snapshot = asyncio.run(gather(sources))
    except PreflightError as error:
        return _preflight_failed(str(error))
    found = findings(snapshot, conf_dir)
    print(report(found, args.output))
    return 1 if changes(found) else 0


def _preflight_failed(problem: str) -> int:
    print(f"multusctl preflight: {' '.join(problem.split())}", file=sys.stderr)  # one line, always
    return 2


def _namespaced_name(value: str) -> str:
    namespace, slash, name = value.partition("/")
    if not (namespace and slash and name) or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAMESPACE/NAME")
    return value


def _annotation(folder: Path) -> str:
    import yaml  # noqa: PLC0415

    pod = yaml.safe_load((folder / "pod.yaml").read_text())
    return " ".join(pod["metadata"]["annotations"][NETWORKS_ANNOTATION].split())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="multusctl", description=__doc__)
    top.add_argument("--version", action="version", version=f"multusctl {version()}")
    commands = top.add_subparsers(dest="command", required=True)

    explain_cmd = commands.add_parser(
        "explain",
        help="print the attachments a pod would get",
        description="Reads the node's multus config (--config, else 00-multus.conf in --cni-conf-dir) and "
        "the cluster (--cluster-folder, else --kubeconfig, $KUBECONFIG, the config's kubeconfig, or the "
        "pod's service account), and prints what each attachment would be, running nothing.",
    )
    explain_cmd.add_argument("pod", help="NAMESPACE/NAME of the pod (NAME alone: namespace default)")
    explain_cmd.add_argument("--cluster-folder", type=Path, help="read pods and NADs from YAML files here")
    explain_cmd.add_argument(
        "--kubeconfig", type=Path, help="read them from this cluster (default: $KUBECONFIG)"
    )
    explain_cmd.add_argument(
        "--config", type=Path, help="the node's multus config (default: its 00-multus.conf)"
    )
    explain_cmd.add_argument(
        "--cni-conf-dir",
        type=Path,
        default=DEFAULT_CNI_CONFIG_DIR,
        help=f"the folder of the node's 00-multus.conf (default {DEFAULT_CNI_CONFIG_DIR})",
    )
    explain_cmd.add_argument(
        "--conf-dir", type=Path, help="where named networks are found (overrides the config's confDir)"
    )
    explain_cmd.add_argument("--ifname", default="eth0", help="the cluster network's interface (CNI_IFNAME)")
    explain_cmd.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    explain_cmd.set_defaults(run=explain)

    demo_cmd = commands.add_parser(
        "demo", help="attach a pod's networks in a namespace, show them, remove them"
    )
    demo_cmd.add_argument("--examples", type=Path, default=EXAMPLES, help="the examples folder")
    demo_cmd.add_argument("--cni-bin", type=Path, default=None, help="folder of CNI plugin binaries")
    demo_cmd.set_defaults(run=demo)

    for verb, does in (("attach", "add a network to"), ("detach", "remove a network from")):
        change_cmd = commands.add_parser(
            verb,
            help=f"{does} a running pod (its networks annotation), and wait for its node to follow",
            description="Exit status: 0 when the pod's network-status shows the change, 1 when its node "
            "refused it (the Warning is printed) or nothing changed in time.",
        )
        change_cmd.add_argument("pod", type=_namespaced_name, help="NAMESPACE/NAME of the pod")
        change_cmd.add_argument("network", help="[NAMESPACE/]NAME[@INTERFACE] of the network")
        change_cmd.add_argument("--kubeconfig", type=Path, help="the cluster (default: $KUBECONFIG)")
        change_cmd.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
        change_cmd.set_defaults(run=change_networks)

    status_cmd = commands.add_parser(
        "status",
        help="what this node's daemon holds: readiness, caches, node config, pods and their attachments",
    )
    status_cmd.add_argument(
        "--socket-dir",
        type=Path,
        default=Path("/run/multus"),
        help="the daemon's socketDir (default /run/multus)",
    )
    status_cmd.add_argument("--pod", type=_namespaced_name, help="only this pod (NAMESPACE/NAME)")
    status_cmd.add_argument("-o", "--output", choices=["text", "json"], default="text")
    status_cmd.set_defaults(run=status)

    preflight_cmd = commands.add_parser(
        "preflight",
        help="list what behaves differently when this cluster moves from upstream Multus v4.3 to multus-py",
        description="Exit status: 0 when nothing that runs now would change, 1 when something would "
        "(an error or a warning), 2 when the cluster or the node cannot be read.",
    )
    preflight_cmd.add_argument("--kubeconfig", type=Path, help="the cluster (default: $KUBECONFIG)")
    preflight_cmd.add_argument(
        "--daemon-config-map",
        type=_namespaced_name,
        default=DEFAULT_CONFIG_MAP,
        help="NAMESPACE/NAME of upstream's daemon ConfigMap",
    )
    preflight_cmd.add_argument(
        "--daemon-config-key", default=DEFAULT_CONFIG_KEY, help="its key holding the daemon config"
    )
    preflight_cmd.add_argument(
        "--cni-conf-dir",
        type=Path,
        help="the node's CNI conf dir, with the primary config and upstream's 00-multus.conf "
        f"(default: {DEFAULT_CNI_CONFIG_DIR} when it exists)",
    )
    preflight_cmd.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="check the NADs and pods of this namespace only (repeatable; default: every namespace)",
    )
    preflight_cmd.add_argument("--output", choices=["text", "json"], default="text")
    preflight_cmd.set_defaults(run=preflight)
    return top


def main() -> None:
    args = parser().parse_args()
    try:
        status: int = args.run(args)
    except CNIError as error:
        print(f"multusctl: {error}", file=sys.stderr)
        status = 1
    sys.exit(status)
