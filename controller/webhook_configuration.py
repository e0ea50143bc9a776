"""The ValidatingWebhookConfiguration that sends admission requests to the controller.

The controller writes it itself (kopf's own management cannot express a namespace selector or a
per-webhook failure policy), replacing the `webhooks` list each time its webhook server starts serving,
so the CA bundle follows the certificate in use. `deploy/controller/webhook.yaml` holds the same object
for the default settings; a test keeps the two equal.

- NADs: CREATE and UPDATE, failure policy Ignore: with no replica answering, NADs are stored unchecked
  rather than every network change in the cluster failing. Nothing unsafe gets through: the node
  checks a NAD's config again at each ADD and fails that pod's sandbox naming the problem, and the
  controller's resume handler sets `Valid=False` (and an InvalidConfig Event) once a replica is back.
- Pods (unless `--pod-validation off`): CREATE and UPDATE (a change of the networks annotations: running
  pods follow it) in the namespaces the label selects, failure policy per
  `--pod-failure-policy`.
"""

from __future__ import annotations

import base64
from typing import Any

from controller.settings import POD_VALIDATION_LABEL, PodValidation, Settings
from multus.k8s.constants import NAD_GROUP, NAD_PLURAL, NAD_VERSION
from multus.kube.errors import NotFound
from multus.kube.paths import webhook_configuration_path
from multus.kube.rest import MERGE_PATCH, RestClient

NAD_WEBHOOK_ID = "validate-nad"
POD_WEBHOOK_ID = "validate-pod-networks"
NAD_WEBHOOK_NAME = "network-attachment-definitions.validation.multus-py.io"
POD_WEBHOOK_NAME = "pods.validation.multus-py.io"
# The API server's budget for one call; kopf answers well within it.
TIMEOUT_SECONDS = 10
# The API server puts every namespace's name in this label.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def webhook_configuration(settings: Settings, ca_bundle: bytes | None) -> dict[str, Any]:
    """The whole object for `settings`; without `ca_bundle` the API server trusts its system roots."""
    webhooks = [
        _webhook(
            settings,
            NAD_WEBHOOK_NAME,
            NAD_WEBHOOK_ID,
            ca_bundle,
            rule={
                "apiGroups": [NAD_GROUP],
                "apiVersions": [NAD_VERSION],
                "resources": [NAD_PLURAL],
                "operations": ["CREATE", "UPDATE"],
                "scope": "Namespaced",
            },
            fail_open=True,
        )
    ]
    if settings.pod_validation is not PodValidation.OFF:
        pod_webhook = _webhook(
            settings,
            POD_WEBHOOK_NAME,
            POD_WEBHOOK_ID,
            ca_bundle,
            rule={
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "operations": ["CREATE", "UPDATE"],
                "scope": "Namespaced",
            },
            fail_open=settings.pod_fail_open,
        )
        pod_webhook["namespaceSelector"] = namespace_selector(settings)
        webhooks.append(pod_webhook)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": settings.webhook_configuration},
        "webhooks": webhooks,
    }


def namespace_selector(settings: Settings) -> dict[str, Any]:
    """The namespaces whose pods the pod webhook sees: chosen by label, never a system namespace.

    Pods in system namespaces get only the cluster network, so there is nothing to check; leaving them
    out also means a fail-closed webhook cannot keep the controller's own pods from starting.
    """
    if settings.pod_validation is PodValidation.ALL:
        by_label = {"key": POD_VALIDATION_LABEL, "operator": "NotIn", "values": ["disabled"]}
    else:
        by_label = {"key": POD_VALIDATION_LABEL, "operator": "In", "values": ["enabled"]}
    not_system = {
        "key": NAMESPACE_NAME_LABEL,
        "operator": "NotIn",
        "values": sorted(settings.policy.namespaces.system_namespaces),
    }
    return {"matchExpressions": [by_label, not_system]}


async def publish(api: RestClient, configuration: dict[str, Any]) -> None:
    """Replace the `webhooks` of the configuration in the cluster, creating the object if it is absent."""
    name = configuration["metadata"]["name"]
    try:
        # A merge patch replaces the list as a whole, so a webhook turned off disappears.
        await api.request(
            "PATCH",
            webhook_configuration_path(name),
            body={"webhooks": configuration["webhooks"]},
            content_type=MERGE_PATCH,
        )
    except NotFound:
        await api.request("POST", webhook_configuration_path(), body=configuration)


def _webhook(
    settings: Settings,
    name: str,
    webhook_id: str,
    ca_bundle: bytes | None,
    *,
    rule: dict[str, Any],
    fail_open: bool,
) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": _client_config(settings, webhook_id, ca_bundle),
        "rules": [rule],
        "failurePolicy": "Ignore" if fail_open else "Fail",
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": TIMEOUT_SECONDS,
        "admissionReviewVersions": ["v1"],
    }


def _client_config(settings: Settings, webhook_id: str, ca_bundle: bytes | None) -> dict[str, Any]:
    # kopf's webhook server routes a request by the last path segment: the handler's id.
    config: dict[str, Any]
    if settings.webhook_url is not None:
        config = {"url": f"{settings.webhook_url.rstrip('/')}/{webhook_id}"}
    else:
        service = settings.webhook_service
        assert service is not None, "settings carry a Service whenever they carry no URL"
        config = {
            "service": {
                "namespace": service.namespace,
                "name": service.name,
                "port": service.port,
                "path": f"/{webhook_id}",
            }
        }
    if ca_bundle is not None:
        config["caBundle"] = base64.b64encode(ca_bundle).decode("ascii")
    return config
