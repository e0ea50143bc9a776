"""Running the real controller (`python -m controller`) against the test API server, and small helpers.

The controller runs as the ServiceAccount of `deploy/controller/rbac.yaml` with a token from the
TokenRequest API, so every e2e test also checks that the deployed RBAC is enough. The API server calls
its webhooks at https://127.0.0.1:<port> with the CA bundle the controller publishes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.testenv import REPO, TestEnv, free_port

DEPLOY = REPO / "deploy" / "controller"
SERVICE_ACCOUNT = ("kube-system", "multus-controller")
WEBHOOK_CONFIGURATION = "multus-controller"
NAD_API = ("k8s.cni.cncf.io", "v1")
NAD_PLURAL = "network-attachment-definitions"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
PEERING = "multus-controller"  # deploy/controller/peering.yaml

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll `probe` until it returns something other than None (or False); fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def service_account_kubeconfig(env: TestEnv, api: client.ApiClient, path: Path) -> Path:
    """Apply the deployed RBAC and write a kubeconfig holding a token of its ServiceAccount."""
    env.kubectl("apply", "-f", str(DEPLOY / "rbac.yaml"))
    namespace, name = SERVICE_ACCOUNT
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = client.CoreV1Api(api).create_namespaced_service_account_token(name, namespace, request)
    assert token.status is not None
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "controller",
        "clusters": [
            {
                "name": "testenv",
                "cluster": {"server": env.server, "certificate-authority": str(env.root / "pki" / "ca.crt")},
            }
        ],
        "users": [{"name": "controller", "user": {"token": token.status.token}}],
        "contexts": [{"name": "controller", "context": {"cluster": "testenv", "user": "controller"}}],
    }
    path.write_text(json.dumps(config))
    return path


@dataclass
class ControllerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    webhook_url: str
    liveness_url: str

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.liveness_url, timeout=2) as reply:  # noqa: S310 - loopback http
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> int:
        """SIGTERM, as a kubelet would send it; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash or a lost node: no chance to leave the peering object."""
        self.process.kill()
        self.process.wait()


def published_url(api: client.ApiClient, name: str = WEBHOOK_CONFIGURATION) -> str | None:
    """The URL of the first webhook in the configuration, when it carries a CA bundle."""
    try:
        configuration = client.AdmissionregistrationV1Api(api).read_validating_webhook_configuration(name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    webhooks = configuration.webhooks or []
    if not webhooks or not webhooks[0].client_config.ca_bundle:
        return None
    return webhooks[0].client_config.url


def install_webhook_configuration(api: client.ApiClient) -> None:
    """Create the deployed webhook configuration unless it exists: the deployed RBAC lets the controller
    patch it but not create it. An existing one may carry another controller's URL, so it is left alone."""
    body = yaml.safe_load((DEPLOY / "webhook.yaml").read_text())
    try:
        client.AdmissionregistrationV1Api(api).create_validating_webhook_configuration(
            client.V1ValidatingWebhookConfiguration.model_validate(body)
        )
    except ApiException as error:
        if error.status != 409:
            raise


@contextlib.contextmanager
def running_controller(
    env: TestEnv,
    api: client.ApiClient,
    kubeconfig: Path,
    log: Path,
    *args: str,
    standalone: bool = True,
    wait_for_publication: bool = True,
) -> Iterator[ControllerProcess]:
    """The controller in a subprocess until the block ends; its webhook configuration is removed after."""
    install_webhook_configuration(api)
    webhook_port, health_port = free_port(), free_port()
    webhook_url = f"https://127.0.0.1:{webhook_port}"
    argv = [
        sys.executable,
        "-m",
        "controller",
        "--webhook-address=127.0.0.1",
        f"--webhook-port={webhook_port}",
        f"--webhook-url={webhook_url}",
        f"--liveness=http://127.0.0.1:{health_port}/healthz",
        "--deletion-retry-interval=1",
        *(["--standalone"] if standalone else []),
        *args,
    ]
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        )
    controller = ControllerProcess(process, log, webhook_url, f"http://127.0.0.1:{health_port}/healthz")
    try:
        try:
            wait_for(lambda: controller.healthy() or process.poll() is not None, "the liveness endpoint")
            if wait_for_publication:
                wait_for(
                    lambda: published_url(api) == f"{webhook_url}/validate-nad" or process.poll() is not None,
                    "the webhook configuration",
                )
            assert process.poll() is None, "the controller exited"
        except AssertionError as error:
            raise AssertionError(f"{error}; controller log:\n{controller.log_tail()}") from None
        yield controller
    finally:
        controller.stop()
        with contextlib.suppress(ApiException):
            client.AdmissionregistrationV1Api(api).delete_validating_webhook_configuration(
                WEBHOOK_CONFIGURATION
            )


def nad_body(name: str, config: str | None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec = {} if config is None else {"config": config}
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": spec,
    }


def create_nad(
    api: client.ApiClient,
    namespace: str,
    name: str,
    config: str | None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        *NAD_API, namespace, NAD_PLURAL, nad_body(name, config, annotations)
    )
    return cast(dict[str, Any], created)


def read_nad(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found = client.CustomObjectsApi(api).get_namespaced_custom_object(
            *NAD_API, namespace, NAD_PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return cast(dict[str, Any], found)


def condition(nad: dict[str, Any] | None, condition_type: str) -> dict[str, Any] | None:
    for entry in ((nad or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == condition_type:
            return dict(entry)
    return None


def create_attached_pod(api: client.ApiClient, namespace: str, name: str, *networks: str) -> None:
    """A pod bound to a node, with the network-status the meta-plugin would write for `networks`.

    Bound to a node because an unscheduled pod disappears at once on deletion, unlike a real one.
    """
    core = client.CoreV1Api(api)
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations={NETWORKS: ",".join(networks)}),
        spec=client.V1PodSpec(node_name="node-a", containers=[client.V1Container(name="c", image="pause")]),
    )
    core.create_namespaced_pod(namespace, pod)
    status = [{"name": "cluster-net", "interface": "eth0", "default": True, "dns": {}}]
    status += [
        {"name": network, "interface": f"net{index}", "dns": {}}
        for index, network in enumerate(networks, start=1)
    ]
    core.patch_namespaced_pod_status(
        name, namespace, {"metadata": {"annotations": {NETWORK_STATUS: json.dumps(status)}}}
    )


def delete_pod(api: client.ApiClient, namespace: str, name: str) -> None:
    """Delete at once: there is no kubelet to confirm a graceful stop."""
    client.CoreV1Api(api).delete_namespaced_pod(name, namespace, grace_period_seconds=0)


def nad_events(api: client.ApiClient, namespace: str, name: str) -> list[client.CoreV1Event]:
    events = client.CoreV1Api(api).list_namespaced_event(
        namespace,
        field_selector=f"involvedObject.kind=NetworkAttachmentDefinition,involvedObject.name={name}",
    )
    return list(events.items)


def peers(api: client.ApiClient, peering: str = PEERING) -> dict[str, Any]:
    """The keep-alive entries in the ClusterKopfPeering `peering`, by operator identity."""
    obj = client.CustomObjectsApi(api).get_cluster_custom_object(
        "kopf.dev", "v1", "clusterkopfpeerings", peering
    )
    return dict(obj.get("status") or {})


def install_peering(env: TestEnv) -> None:
    """The ClusterKopfPeering CRD and object of deploy/controller, installed as deploy/README.md says."""
    env.kubectl("apply", "-f", str(DEPLOY / "peering-crd.yaml"))
    env.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s")
    env.kubectl("apply", "-f", str(DEPLOY / "peering.yaml"))


def failover_seconds(
    env: TestEnv, api: client.ApiClient, kubeconfig: Path, logs: Path, *, namespace: str, name: str
) -> float:
    """Two peered replicas; SIGKILL the active one, then change a NAD: seconds from the kill until the
    other replica has written that change's status. The paused replica answers webhooks meanwhile."""
    high = running_controller(
        env, api, kubeconfig, logs / f"{name}-high.log", "--priority=200", standalone=False
    )
    low = running_controller(
        env, api, kubeconfig, logs / f"{name}-low.log", "--priority=100", standalone=False
    )
    with high as active, low as paused:
        wait_for(
            lambda: sorted(entry["priority"] for entry in peers(api).values()) == [100, 200], "two peers"
        )
        create_nad(api, namespace, name, '{"cniVersion": "1.0.0", "type": "bridge"}')
        wait_for(lambda: condition(read_nad(api, namespace, name), "Valid"), "status from the active replica")
        # The paused replica published last, so it is the one the API server calls.
        assert published_url(api) == f"{paused.webhook_url}/validate-nad"
        active.kill()
        killed = time.monotonic()
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            *NAD_API,
            namespace,
            NAD_PLURAL,
            name,
            {"spec": {"config": '{"cniVersion": "1.0.0", "type": "macvlan"}'}},
        )
        wait_for(
            lambda: (
                ((read_nad(api, namespace, name) or {}).get("status") or {}).get("observedGeneration") == 2
            ),
            "status from the other replica",
            timeout=120,
        )
        return time.monotonic() - killed
