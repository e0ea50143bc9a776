"""The admission webhook server: kopf's, over TLS, publishing its configuration once it listens.

Publishing after the server listens (and again after kopf restarts it for a renewed certificate) means
the API server is never told to call an endpoint that is not there yet, and always gets the CA bundle
of the certificate actually served.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import kopf

from controller.certificates import ServingCertificate, generate_self_signed, load_certificate_dir
from controller.settings import Settings

logger = logging.getLogger(__name__)

# Publishes the webhook configuration for the CA bundle (PEM) the server hands out.
Publisher = Callable[[bytes | None], Awaitable[None]]
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


class PublishingWebhookServer(kopf.WebhookServer):
    """kopf's webhook server that publishes the webhook configuration each time it starts serving."""

    def __init__(
        self, *, addr: str, port: int, certificate: ServingCertificate, publisher: Publisher | None
    ) -> None:
        super().__init__(
            addr=addr,
            port=port,
            certfile=certificate.cert_file,
            pkeyfile=certificate.key_file,
            cafile=certificate.ca_file,
        )
        self.publisher = publisher

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async for client_config in super().__call__(fn):
            if self.publisher is not None:
                encoded = client_config.get("caBundle")
                await _publish_until_done(self.publisher, base64.b64decode(encoded) if encoded else None)
            yield client_config


async def _publish_until_done(publisher: Publisher, ca_bundle: bytes | None) -> None:
    """Retry with growing pauses: the webhooks keep serving meanwhile, and RBAC or the API may recover."""
    attempt = 0
    while True:
        try:
            await publisher(ca_bundle)
        except Exception as error:  # any failure is worth a retry; the log says which
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            logger.error("cannot publish the webhook configuration (retrying in %.0fs): %s", delay, error)
            attempt += 1
            await asyncio.sleep(delay)
        else:
            logger.info("webhook configuration published")
            return


def serving_certificate(settings: Settings, scratch: Path) -> ServingCertificate:
    """The mounted certificate when configured, else a self-signed one written into `scratch`."""
    if settings.webhook_cert_dir is not None:
        return load_certificate_dir(settings.webhook_cert_dir)
    return generate_self_signed(scratch, certificate_hostnames(settings))


def certificate_hostnames(settings: Settings) -> list[str]:
    """The names the API server may use to reach the webhook server."""
    if settings.webhook_url is not None:
        host = urlsplit(settings.webhook_url).hostname
        assert host, "settings validate the URL"
        return [host]
    service = settings.webhook_service
    assert service is not None, "settings carry a Service whenever they carry no URL"
    base = f"{service.name}.{service.namespace}"
    return [f"{base}.svc", f"{base}.svc.cluster.local", base, service.name]


def webhook_server(
    settings: Settings, certificate: ServingCertificate, publisher: Publisher | None
) -> PublishingWebhookServer:
    return PublishingWebhookServer(
        addr=settings.webhook_address,
        port=settings.webhook_port,
        certificate=certificate,
        publisher=publisher,
    )
