"""The controller's settings and the command line that sets them (`multus-controller --help`).

The namespace rules (`--namespace-isolation`, `--global-namespaces`, `--system-namespaces`,
`--multus-namespace`) must match the nodes' multus config, or the pod webhook judges differently from
the meta-plugin. Credentials come from `KUBECONFIG` when set, else from the pod's service account.
"""

from __future__ import annotations

import argparse
import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from controller.pod_admission import PodPolicy
from multus.k8s.names import is_dns1123_label
from multus.k8s.namespaces import (
    DEFAULT_SYSTEM_NAMESPACES,
    NamespacePolicy,
    parse_global_namespaces,
)


class PodValidation(enum.Enum):
    """Where the pod webhook applies, by the namespace label `POD_VALIDATION_LABEL`."""

    OFF = "off"  # no pod webhook at all
    OPT_IN = "opt-in"  # namespaces labelled `enabled`
    ALL = "all"  # every namespace except those labelled `disabled`


POD_VALIDATION_LABEL = "multus-py.io/pod-network-validation"


@dataclass(frozen=True)
class WebhookService:
    """The in-cluster Service in front of the webhook server, as the API server addresses it."""

    namespace: str
    name: str
    port: int = 443


@dataclass(frozen=True)
class Settings:
    """Everything the controller is told; the defaults are what `deploy/controller/` runs."""

    # What the controller does.
    pod_validation: PodValidation = PodValidation.OPT_IN
    pod_fail_open: bool = True
    deletion_protection: bool = True
    deletion_retry_interval: float = 10.0
    listed_pods: int = 10
    policy: PodPolicy = field(default_factory=PodPolicy)
    # How the API server reaches the webhooks: a Service in the cluster, or a URL outside it.
    webhook_address: str = "0.0.0.0"  # noqa: S104 - in a pod the Service reaches it on the pod IP
    webhook_port: int = 9443
    webhook_cert_dir: Path | None = None
    webhook_service: WebhookService | None = WebhookService("kube-system", "multus-controller-webhook")
    webhook_url: str | None = None
    webhook_configuration: str = "multus-controller"
    # How kopf runs.
    liveness: str = "http://0.0.0.0:8080/healthz"
    standalone: bool = False
    peering: str = "multus-controller"
    priority: int | None = None
    # How long a replica that stopped answering (killed, partitioned) keeps the others paused.
    peering_lifetime: int = 15
    kubeconfig: Path | None = None  # from KUBECONFIG; None means the pod's service account
    verbose: bool = False


class SettingsError(ValueError):
    """A command-line value is malformed; the message names the option."""


def parse_settings(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from command-line arguments; raises `SettingsError` for a malformed value."""
    args = _parser().parse_args(list(argv))
    if args.webhook_url is not None:
        parts = urlsplit(args.webhook_url)
        if parts.scheme != "https" or not parts.hostname:
            raise SettingsError(f"--webhook-url {args.webhook_url!r} must be an https:// URL")
    service = None if args.webhook_url is not None else _parse_service(args.webhook_service)
    if args.deletion_retry_interval <= 0:
        raise SettingsError("--deletion-retry-interval must be a positive number of seconds")
    if args.peering_lifetime < 2:
        raise SettingsError("--peering-lifetime must be at least 2 seconds")
    if args.listed_pods < 0:
        raise SettingsError("--listed-pods must not be negative")
    if not is_dns1123_label(args.multus_namespace):
        raise SettingsError(f"--multus-namespace {args.multus_namespace!r} is not a namespace name")
    kubeconfig = environ.get("KUBECONFIG")
    return Settings(
        pod_validation=PodValidation(args.pod_validation),
        pod_fail_open=args.pod_failure_policy == "open",
        deletion_protection=args.deletion_protection,
        deletion_retry_interval=args.deletion_retry_interval,
        listed_pods=args.listed_pods,
        policy=PodPolicy(
            namespaces=NamespacePolicy(
                isolation=args.namespace_isolation,
                global_namespaces=parse_global_namespaces(args.global_namespaces),
                system_namespaces=frozenset(_comma_list(args.system_namespaces))
                if args.system_namespaces is not None
                else DEFAULT_SYSTEM_NAMESPACES,
            ),
            multus_namespace=args.multus_namespace,
        ),
        webhook_address=args.webhook_address,
        webhook_port=args.webhook_port,
        webhook_cert_dir=args.webhook_cert_dir,
        webhook_service=service,
        webhook_url=args.webhook_url,
        webhook_configuration=args.webhook_configuration,
        liveness=args.liveness,
        standalone=args.standalone,
        peering=args.peering,
        priority=args.priority,
        peering_lifetime=args.peering_lifetime,
        kubeconfig=Path(kubeconfig) if kubeconfig else None,
        verbose=args.verbose,
    )


def _parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="multus-controller",
        description="The kopf operator for NetworkAttachmentDefinitions: admission webhooks, status, "
        "usage, deletion protection.",
    )
    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--pod-validation",
        choices=[mode.value for mode in PodValidation],
        default=defaults.pod_validation.value,
        help=f"where new pods' network annotations are checked, by the namespace label "
        f"{POD_VALIDATION_LABEL}: off, opt-in (labelled 'enabled'), all (except 'disabled'); "
        "default %(default)s",
    )
    behaviour.add_argument(
        "--pod-failure-policy",
        choices=["open", "closed"],
        default="open",
        help="admit (open) or refuse (closed) pods when the pod webhook cannot decide; default %(default)s",
    )
    behaviour.add_argument(
        "--deletion-protection",
        action=argparse.BooleanOptionalAction,
        default=defaults.deletion_protection,
        help="keep NADs that pods use from being deleted until the pods are gone; default on",
    )
    behaviour.add_argument(
        "--deletion-retry-interval",
        type=float,
        default=defaults.deletion_retry_interval,
        help="seconds between checks whether a protected NAD's pods are gone; default %(default)s",
    )
    behaviour.add_argument(
        "--listed-pods",
        type=int,
        default=defaults.listed_pods,
        help="how many pod names a NAD's status lists; default %(default)s",
    )
    node = parser.add_argument_group("node rules (must match the nodes' multus config)")
    node.add_argument("--namespace-isolation", action="store_true", help="namespaceIsolation")
    node.add_argument("--global-namespaces", help="globalNamespaces, comma-separated; default 'default'")
    node.add_argument("--system-namespaces", help="systemNamespaces, comma-separated; default 'kube-system'")
    node.add_argument(
        "--multus-namespace",
        default=defaults.policy.multus_namespace,
        help="multusNamespace; default %(default)s",
    )
    webhook = parser.add_argument_group("admission webhooks")
    webhook.add_argument("--webhook-address", default=defaults.webhook_address, help="listen address")
    webhook.add_argument("--webhook-port", type=int, default=defaults.webhook_port, help="listen port")
    webhook.add_argument(
        "--webhook-cert-dir",
        type=Path,
        help="folder with tls.crt, tls.key and optionally ca.crt (a mounted Secret); without it a "
        "self-signed certificate is generated at start-up",
    )
    assert defaults.webhook_service is not None
    webhook.add_argument(
        "--webhook-service",
        default=f"{defaults.webhook_service.namespace}/{defaults.webhook_service.name}:"
        f"{defaults.webhook_service.port}",
        help="NAMESPACE/NAME[:PORT] of the webhook Service; default %(default)s",
    )
    webhook.add_argument("--webhook-url", help="https:// URL the API server calls instead of the Service")
    webhook.add_argument(
        "--webhook-configuration",
        default=defaults.webhook_configuration,
        help="ValidatingWebhookConfiguration the controller keeps up to date (with its CA); "
        "'' leaves it to you; default %(default)s",
    )
    operator = parser.add_argument_group("operator")
    operator.add_argument(
        "--liveness", default=defaults.liveness, help="liveness/readiness endpoint URL; default %(default)s"
    )
    operator.add_argument("--standalone", action="store_true", help="run without kopf peering")
    operator.add_argument("--peering", default=defaults.peering, help="ClusterKopfPeering name")
    operator.add_argument(
        "--priority", type=int, help="peering priority; default random, so one replica is active"
    )
    operator.add_argument(
        "--peering-lifetime",
        type=int,
        default=defaults.peering_lifetime,
        help="seconds after its last keep-alive that a vanished active replica is taken over; each replica "
        "renews its own every 5-10 s below this; default %(default)s",
    )
    operator.add_argument("-v", "--verbose", action="store_true", help="log kopf's details")
    return parser


def _parse_service(text: str) -> WebhookService:
    reference, _, port_text = text.partition(":")
    namespace, slash, name = reference.partition("/")
    if not slash or not is_dns1123_label(namespace) or not is_dns1123_label(name):
        raise SettingsError(f"--webhook-service {text!r} must be NAMESPACE/NAME[:PORT]")
    if not port_text:
        return WebhookService(namespace, name)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingsError(f"--webhook-service port {port_text!r} must be 1 to 65535")
    return WebhookService(namespace, name, int(port_text))


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
