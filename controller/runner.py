"""Putting the operator together: kopf's settings, the handlers, the webhook server, and the run.

kopf's own bookkeeping stays under our prefix, in annotations: `controller.multus-py.io/<handler>` for
handler progress, `controller.multus-py.io/last-handled-configuration` for the change-detection base,
and the finalizer `controller.multus-py.io/deletion-protection`. Nothing of kopf's lands in `status`,
which holds only what `controller.status` defines.
"""

from __future__ import annotations

import logging
import random
import socket
import tempfile
from pathlib import Path

import kopf

from controller import log_levels
from controller.handlers import DELETION_HANDLER_ID, register_handlers
from controller.pod_usage import LIST_PAGE, follow_peering
from controller.protection import FINALIZER
from controller.settings import Settings
from controller.webhook_configuration import NAD_WEBHOOK_ID, POD_WEBHOOK_ID, publish, webhook_configuration
from controller.webhooks import Publisher, serving_certificate, webhook_server
from multus.kube.apiview import ApiSettings, ApiView

PREFIX = "controller.multus-py.io"
COMPONENT = "multus-controller"
# Random peering priorities make exactly one replica active (kopf pauses lower priorities).
PRIORITY_RANGE = (1, 1_000_000)
WORKERS, WORKER_IDLE_SECONDS = 50, 0.2  # kopf's default: one worker per NAD, each idle for 5 s


def operator_settings(settings: Settings, server: kopf.WebhookServerProtocol) -> kopf.OperatorSettings:
    """kopf's settings: bookkeeping under our prefix, Events signed by us, our webhook server."""
    operator = kopf.OperatorSettings()
    operator.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    operator.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
    operator.persistence.finalizer = FINALIZER
    operator.posting.reporting_component = COMPONENT
    operator.posting.reporting_instance = socket.gethostname()
    operator.admission.server = server
    # kopf's default (60 s) would leave NADs unhandled for up to a minute after the active replica dies.
    operator.peering.lifetime = settings.peering_lifetime
    # kopf must not manage webhook configurations: controller.webhook_configuration does.
    operator.admission.managed = None
    # kopf handles each NAD in a worker of its own, and its API client has no connection limit: at
    # start-up thousands of NADs would be thousands of TLS connections at once (each with a buffer of
    # up to 256 KiB: a gigabyte) and the API server's 429s. A small pool of workers, each freed soon
    # after its NAD's last event, handles them in turns (benchmarks/bench_controller_scale.py).
    operator.queueing.worker_limit = WORKERS
    operator.queueing.idle_timeout = WORKER_IDLE_SECONDS
    # NADs listed in pages, not as one response of every NAD (megabytes of JSON held twice at once).
    operator.watching.chunk_size = LIST_PAGE
    return operator


def run(settings: Settings) -> None:
    """Run the operator until it is told to stop (SIGINT/SIGTERM)."""
    kopf.configure(verbose=settings.verbose, log_format=kopf.LogFormat.FULL)
    if not settings.verbose:
        # kopf logs a line per handler run and aiohttp one per webhook call: every pod event logs one.
        for chatty in ("kopf.objects", "aiohttp.access"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    log_levels.install(webhooks=(NAD_WEBHOOK_ID, POD_WEBHOOK_ID), waiting=(DELETION_HANDLER_ID,))
    # The controller's one API client besides kopf's (InvalidConfig when the credentials cannot load).
    api = ApiView(ApiSettings(kubeconfig=settings.kubeconfig))
    registry = kopf.OperatorRegistry()
    follow_peering(register_handlers(registry, settings, api))
    publisher: Publisher | None = None
    if settings.webhook_configuration:

        async def publisher(ca_bundle: bytes | None) -> None:
            await publish(api.client, webhook_configuration(settings, ca_bundle))

    # The generated key lives as long as the process, in a private folder (mkdtemp makes it 0700).
    with tempfile.TemporaryDirectory(prefix="multus-controller-") as scratch:
        certificate = serving_certificate(settings, Path(scratch))
        logging.getLogger(__name__).info("webhook certificate: %s", certificate.cert_file)
        kopf.run(
            registry=registry,
            settings=operator_settings(settings, webhook_server(settings, certificate, publisher)),
            clusterwide=True,
            standalone=settings.standalone,
            peering_name=None if settings.standalone else settings.peering,
            priority=settings.priority if settings.priority is not None else random.randint(*PRIORITY_RANGE),  # noqa: S311
            liveness_endpoint=settings.liveness,
        )
