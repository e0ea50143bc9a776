"""`multusctl explain`: the attachments a pod would get, resolved as ADD resolves them, running nothing.

The node's multus config is the one given with `--config`, else the node's own `00-multus.conf` in the
CNI conf dir (what every request of the node carries). The cluster is a folder of YAML files
(`--cluster-folder`), else the kubeconfig given, in `$KUBECONFIG`, or in the config, else the pod's
service account when run in a pod. A table for people by default; `-o json` or `-o yaml` for machines,
with each delegate's exact config.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multus.cni.errors import InvalidConfig, UnknownContainer
from multus.config import MultusConfig, parse_config
from multus.k8s.view import ClusterView
from multus.kube.credentials import kubeconfig_from_environment
from multus.plugin import IN_CLUSTER_ENV, make_view
from multus.resolution import PlannedAttachment, resolve_attachments

NODE_CONFIG = "00-multus.conf"
COLUMNS = ("INTERFACE", "NETWORK", "PLUGINS", "IPS", "MAC", "DEFAULT-ROUTE", "DEVICE")


@dataclass(frozen=True)
class Sources:
    """Where explain reads from, as the command line gives it."""

    config: Path | None
    cni_conf_dir: Path  # where the node's 00-multus.conf is
    conf_dir: Path | None  # laid over the config's confDir (where named networks are found)
    cluster_folder: Path | None
    kubeconfig: Path | None


def node_config(sources: Sources, environ: Mapping[str, str]) -> MultusConfig:
    """The node's multus config with the cluster to read; every problem names the file at fault."""
    path = sources.config or sources.cni_conf_dir / NODE_CONFIG
    if sources.config is None and not path.exists():
        raise InvalidConfig(
            f"no multus config: {path} does not exist",
            "give the node's config with --config FILE, or its folder with --cni-conf-dir",
        )
    try:
        raw = json.loads(path.read_text())
    except OSError as error:
        raise InvalidConfig(f"cannot read {path}: {error.strerror or error}") from error
    except ValueError as error:
        raise InvalidConfig(f"{path} is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise InvalidConfig(f"{path} must hold a JSON object")
    if sources.conf_dir is not None:
        raw["confDir"] = str(sources.conf_dir)
    if sources.cluster_folder is not None:
        raw["clusterFolder"] = str(sources.cluster_folder)
        raw.pop("kubeconfig", None)
    else:
        kubeconfig = sources.kubeconfig or kubeconfig_from_environment(environ)
        if kubeconfig is not None:
            raw["kubeconfig"] = str(kubeconfig)
    try:
        return parse_config(json.dumps(raw).encode())
    except InvalidConfig as error:
        raise error.with_context(str(path)) from error


def cluster_of(config: MultusConfig, environ: Mapping[str, str]) -> tuple[ClusterView, str]:
    """The cluster view and how to name it in messages."""
    view = make_view(config, environ)
    if view is None:
        raise InvalidConfig(
            "explain needs a cluster: give --cluster-folder DIR or --kubeconfig FILE, set $KUBECONFIG, "
            "or run it in a pod"
        )
    if config.cluster_folder is not None:
        return view, f"cluster folder {config.cluster_folder}"
    if config.kubeconfig is not None:
        return view, f"the API server of {config.kubeconfig}"
    return view, f"the API server of the pod's service account ({IN_CLUSTER_ENV} set)"


async def explain(
    config: MultusConfig, view: ClusterView, where: str, pod_ref: str, ifname: str
) -> list[PlannedAttachment]:
    namespace, slash, name = pod_ref.rpartition("/")
    namespace = namespace if slash else "default"
    try:
        pod = await view.get_pod(namespace, name)
        if pod is None:
            raise UnknownContainer(f"pod {name} not found in namespace {namespace} (read from {where})")
        return await resolve_attachments(config, view, pod, ifname, set())
    finally:
        await view.close()


def as_documents(attachments: Sequence[PlannedAttachment]) -> list[dict[str, Any]]:
    return [
        {
            "interface": a.ifname,
            "network": a.network,
            "default": a.is_default,
            "plugins": plugins(a.config),
            "config": a.config,
            "runtimeConfig": a.capability_args,
            "cniArgs": [f"{k}={v}" for k, v in a.cni_args],
            **({"deviceInfo": a.device_info} if a.device_info else {}),
        }
        for a in attachments
    ]


def as_table(attachments: Sequence[PlannedAttachment]) -> str:
    rows = [COLUMNS, *(_row(a) for a in attachments)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _row(attachment: PlannedAttachment) -> tuple[str, ...]:
    selection = attachment.selection
    device = attachment.capability_args.get("deviceID") or attachment.config.get("deviceID")
    network = attachment.network + (" (cluster network)" if attachment.is_default else "")
    return (
        attachment.ifname,
        network,
        ",".join(plugins(attachment.config)) or "-",
        ",".join(selection.ips) if selection and selection.ips else "-",
        selection.mac if selection and selection.mac else "-",
        ",".join(attachment.default_route) or "-",
        str(device) if device else "-",
    )


def plugins(config: Mapping[str, Any]) -> list[str]:
    """The plugin types of a config or config list, in order."""
    listed = config.get("plugins")
    if isinstance(listed, list):
        return [str(plugin.get("type", "?")) for plugin in listed if isinstance(plugin, dict)]
    return [str(config["type"])] if "type" in config else []


def run(sources: Sources, pod_ref: str, ifname: str, output: str, environ: Mapping[str, str]) -> str:
    config = node_config(sources, environ)
    view, where = cluster_of(config, environ)
    attachments = asyncio.run(explain(config, view, where, pod_ref, ifname))
    if output == "json":
        return json.dumps(as_documents(attachments), indent=2)
    if output == "yaml":
        import yaml  # noqa: PLC0415  only this output needs it

        return str(yaml.safe_dump(as_documents(attachments), sort_keys=False)).rstrip()
    return as_table(attachments)
