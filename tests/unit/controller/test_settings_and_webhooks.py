"""Command-line settings, the webhook configuration they produce, and the webhook server's certificate."""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading
from pathlib import Path

import pytest
import yaml

from controller.certificates import CertificateError, generate_self_signed, load_certificate_dir
from controller.settings import PodValidation, Settings, SettingsError, WebhookService, parse_settings
from controller.webhook_configuration import webhook_configuration
from controller.webhooks import certificate_hostnames, serving_certificate
from multus.k8s.namespaces import DEFAULT_GLOBAL_NAMESPACES
from tests.testenv import REPO

DEPLOYED_WEBHOOKS = REPO / "deploy" / "controller" / "webhook.yaml"


def test_defaults_match_the_deployment() -> None:
    settings = parse_settings([], environ={})
    assert settings == Settings()
    assert settings.pod_validation is PodValidation.OPT_IN
    assert settings.pod_fail_open
    assert settings.deletion_protection
    assert settings.webhook_service == WebhookService("kube-system", "multus-controller-webhook", 443)
    assert settings.kubeconfig is None


def test_flags_and_kubeconfig_from_the_environment() -> None:
    settings = parse_settings(
        [
            "--pod-validation=all",
            "--pod-failure-policy=closed",
            "--no-deletion-protection",
            "--namespace-isolation",
            "--global-namespaces=default, shared",
            "--system-namespaces=kube-system,infra",
            "--multus-namespace=multus",
            "--webhook-service=infra/hooks:8443",
            "--standalone",
            "--priority=7",
        ],
        environ={"KUBECONFIG": "/tmp/kc"},
    )
    assert settings.pod_validation is PodValidation.ALL
    assert not settings.pod_fail_open
    assert not settings.deletion_protection
    assert settings.policy.namespaces.isolation
    assert settings.policy.namespaces.global_namespaces == {"default", "shared"}
    assert settings.policy.namespaces.system_namespaces == {"kube-system", "infra"}
    assert settings.policy.multus_namespace == "multus"
    assert settings.webhook_service == WebhookService("infra", "hooks", 8443)
    assert (settings.standalone, settings.priority, settings.kubeconfig) == (True, 7, Path("/tmp/kc"))
    assert parse_settings([], environ={}).policy.namespaces.global_namespaces == DEFAULT_GLOBAL_NAMESPACES


def test_a_webhook_url_replaces_the_service() -> None:
    settings = parse_settings(["--webhook-url=https://10.0.0.5:9443/"], environ={})
    assert (settings.webhook_url, settings.webhook_service) == ("https://10.0.0.5:9443/", None)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--webhook-url=http://x"], "--webhook-url"),
        (["--webhook-service=hooks"], "--webhook-service"),
        (["--webhook-service=a/b:0"], "--webhook-service port"),
        (["--deletion-retry-interval=0"], "--deletion-retry-interval"),
        (["--listed-pods=-1"], "--listed-pods"),
        (["--multus-namespace=Multus"], "--multus-namespace"),
    ],
)
def test_malformed_values_name_the_option(argv: list[str], option: str) -> None:
    with pytest.raises(SettingsError, match=option):
        parse_settings(argv, environ={})


def test_deployed_webhook_configuration_is_what_the_controller_writes() -> None:
    assert yaml.safe_load(DEPLOYED_WEBHOOKS.read_text()) == webhook_configuration(Settings(), None)


def test_webhook_configuration_for_a_url_with_a_ca() -> None:
    settings = parse_settings(
        ["--webhook-url=https://127.0.0.1:9443", "--pod-failure-policy=closed"], environ={}
    )
    configuration = webhook_configuration(settings, b"PEM")
    nad_hook, pod_hook = configuration["webhooks"]
    assert nad_hook["clientConfig"] == {"url": "https://127.0.0.1:9443/validate-nad", "caBundle": "UEVN"}
    assert pod_hook["clientConfig"]["url"] == "https://127.0.0.1:9443/validate-pod-networks"
    assert (nad_hook["failurePolicy"], pod_hook["failurePolicy"]) == ("Ignore", "Fail")
    assert base64.b64decode(pod_hook["clientConfig"]["caBundle"]) == b"PEM"


def test_pod_webhook_selects_namespaces_by_label_and_never_system_ones() -> None:
    opt_in = webhook_configuration(Settings(), None)["webhooks"][1]["namespaceSelector"]
    everywhere = webhook_configuration(
        parse_settings(["--pod-validation=all", "--system-namespaces=kube-system,infra"], environ={}), None
    )["webhooks"][1]["namespaceSelector"]
    label = "multus-py.io/pod-network-validation"

    assert opt_in["matchExpressions"][0] == {"key": label, "operator": "In", "values": ["enabled"]}
    assert everywhere["matchExpressions"] == [
        {"key": label, "operator": "NotIn", "values": ["disabled"]},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["infra", "kube-system"]},
    ]


def test_pod_validation_off_leaves_only_the_nad_webhook() -> None:
    configuration = webhook_configuration(parse_settings(["--pod-validation=off"], environ={}), None)
    assert [webhook["name"] for webhook in configuration["webhooks"]] == [
        "network-attachment-definitions.validation.multus-py.io"
    ]


def test_certificate_names_cover_the_service_or_the_url_host() -> None:
    assert certificate_hostnames(Settings()) == [
        "multus-controller-webhook.kube-system.svc",
        "multus-controller-webhook.kube-system.svc.cluster.local",
        "multus-controller-webhook.kube-system",
        "multus-controller-webhook",
    ]
    assert certificate_hostnames(parse_settings(["--webhook-url=https://127.0.0.1:1"], environ={})) == [
        "127.0.0.1"
    ]


def handshake(certificate: Path, key: Path, trusted: Path, server_name: str) -> str:
    """A real TLS handshake over a socket pair; returns what the server sent after it."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificate, key)
    client_context = ssl.create_default_context(cafile=str(trusted))
    left, right = socket.socketpair()

    def serve() -> None:
        # A client that refuses the certificate aborts the handshake: the server side just ends.
        with contextlib.suppress(ssl.SSLError), server_context.wrap_socket(left, server_side=True) as tls:
            tls.sendall(b"hello")

    server = threading.Thread(target=serve)
    server.start()
    try:
        with client_context.wrap_socket(right, server_hostname=server_name) as tls:
            return tls.recv(5).decode()
    finally:
        server.join(timeout=5)
        left.close()
        right.close()


def test_generated_certificate_is_trusted_by_its_own_bundle_for_each_name(tmp_path: Path) -> None:
    certificate = serving_certificate(Settings(), tmp_path)
    assert certificate.ca_file is None
    assert certificate.key_file.stat().st_mode & 0o077 == 0
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate.ca_bundle())

    for name in certificate_hostnames(Settings()):
        assert handshake(certificate.cert_file, certificate.key_file, bundle, name) == "hello"
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(certificate.cert_file, certificate.key_file, bundle, "elsewhere.example")


def test_generated_certificate_covers_an_ip_address(tmp_path: Path) -> None:
    certificate = generate_self_signed(tmp_path, ["127.0.0.1"])
    assert (
        handshake(certificate.cert_file, certificate.key_file, certificate.cert_file, "127.0.0.1") == "hello"
    )


def test_mounted_certificate_folder(tmp_path: Path) -> None:
    generated = generate_self_signed(tmp_path, ["hooks.infra.svc"])
    mounted = load_certificate_dir(tmp_path)
    assert (mounted.cert_file, mounted.key_file, mounted.ca_file) == (
        generated.cert_file,
        generated.key_file,
        None,
    )

    (tmp_path / "ca.crt").write_bytes(b"CA PEM")
    assert load_certificate_dir(tmp_path).ca_bundle() == b"CA PEM"

    (tmp_path / "tls.key").unlink()
    with pytest.raises(CertificateError, match=r"tls\.key is missing"):
        load_certificate_dir(tmp_path)
