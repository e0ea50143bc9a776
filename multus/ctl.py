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
from multus.cni.errors import CNIError, InvalidConfig
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
    """Run one folder of examples/ for real: each pod attached in a namespace of its own, shown, then
    deleted; exit 0 when every pod was attached, or refused as the example's expected.json says, and
    nothing is left behind."""
    if os.geteuid() != 0:
        print("multusctl demo: run as root (it makes network namespaces and links)", file=sys.stderr)
        return 1
    from multus.demo import ExampleRun  # noqa: PLC0415  pyroute2 is only needed here

    folder = _example_folder(args.examples, args.example)
    failed = False
    with ExampleRun(folder, args.cni_bin) as run:
        print(f"== Example {folder.name} (plugins from {run.cni_bin})")
        for pod in run.pods:
            namespace = run.namespaces[pod]
            print(f"\n== Pod {pod} in network namespace {namespace}")
            print(f"   annotation: {_annotation(folder, pod)}")
            outcome = run.add(pod)
            refusal = run.expected[pod].get("error")
            if outcome.exit_code != 0:
                print(f"   ADD refused (exit {outcome.exit_code}): {json.dumps(outcome.reply)}")
                failed |= refusal is None or refusal.get("code") != outcome.reply.get("code")
                continue
            failed |= refusal is not None
            print(f"   {NETWORK_STATUS_ANNOTATION}:")
            print("\n".join("     " + line for line in json.dumps(outcome.status, indent=2).splitlines()))
            for ifname, addresses in outcome.addresses.items():
                print(f"   {ifname:<8} {' '.join(addresses)}")
            for route in outcome.default_routes:
                print(f"   default via {route}")
        print("\n== DEL")
        for pod in run.pods:
            code, reply = run.delete(pod)
            left = run.leftovers(pod)
            failed |= code != 0 or bool(left)
            said = "nothing (no interface, attachment record, cached result or IP allocation)"
            print(f"   {pod}: exit {code}; left behind: {'; '.join(left) if left else said}")
            if code != 0:
                print(f"   {json.dumps(reply)}")
    return 1 if failed else 0


def _example_folder(examples: Path, name: str) -> Path:
    """The example named in full (`03-static-ip-mac`) or by its number (`03`, `3`)."""
    folders = sorted(p for p in examples.iterdir() if (p / "expected.json").exists())
    for folder in folders:
        number = folder.name.split("-", 1)[0]
        if name in (folder.name, number) or (
            name.isdigit() and number.isdigit() and int(name) == int(number)
        ):
            return folder
    known = ", ".join(folder.name for folder in folders)
    raise InvalidConfig(f"no example {name!r} in {examples}: {known}")


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


def _annotation(folder: Path, pod: str) -> str:
    """The networks annotation of `pod` (namespace/name) as the example's YAML gives it."""
    import yaml  # noqa: PLC0415

    namespace, _, name = pod.partition("/")
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            meta = (document or {}).get("metadata") or {}
            if (document or {}).get("kind") == "Pod" and (meta.get("namespace"), meta.get("name")) == (
                namespace,
                name,
            ):
                return " ".join(
                    str((meta.get("annotations") or {}).get(NETWORKS_ANNOTATION, "(none)")).split()
                )
    return "(none)"


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
        "demo", help="run an example of examples/ for real: attach its pods' networks, show them, remove them"
    )
    demo_cmd.add_argument(
        "example", nargs="?", default="00-demo", help="the example's folder name or number (default 00-demo)"
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
