"""`multus-daemon`: one per node; serves the shim, keeps the caches and the node's CNI config.

Settings come from a JSON file (`--config`, upstream's `daemon-config.json`; `settings` reads it) and
the environment (`MULTUS_NODE_NAME` or `NODE_NAME`). A config the daemon cannot honour, or missing
credentials, stop it at start with one line naming the key, and exit status 1. SIGTERM drains:
readiness fails at once, requests in flight finish, then the process exits; SIGINT does the same.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime
import gc
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from multus import version
from multus.attachment_cache import AttachmentCache
from multus.cni.errors import CNIError
from multus.config import MultusConfig
from multus.daemon.metrics import DaemonMetrics
from multus.daemon.nodeconfig import NodeConfigSettings, NodeConfigWriter
from multus.daemon.server import CNIServer, ServerSettings, UnsafeSocketDir, secure_socket_dir
from multus.daemon.settings import ConfigRefused, DaemonConfig, load_config
from multus.daemon.status import NodeStatus
from multus.kube.apiview import ApiSettings, ApiView
from multus.kube.cacheview import CacheView
from multus.logs import fields, get_logger

if TYPE_CHECKING:
    from multus.daemon.dynamic import DynamicNetworks

log = get_logger("daemon")

CREDENTIALS_CHECK_SECONDS = 10.0
# Young objects are collected after this many allocations (Python's default is 700): a pod's ADD makes
# thousands, and each collection on its path costs it time. Garbage in cycles waits a little longer.
YOUNG_COLLECTION_THRESHOLD = 20_000


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.metrics = DaemonMetrics()
        self.api = ApiView(
            ApiSettings(
                kubeconfig=config.kubeconfig,
                request_timeout=config.api.request,
                retries=config.api.retries,
                retry_backoff=config.api.backoff,
            )
        )
        self.view = CacheView(self.api, config.node_name, on_miss=self.metrics.cache_misses.inc)
        self.node_config = NodeConfigWriter(
            NodeConfigSettings(
                conf_dir=config.cni_config_dir,
                readiness_indicator_file=config.readiness_indicator_file,
                options=config.node_config_options(),
                cni_version=config.cni_version,
                autoconfig_dir=config.primary_folder,
                master_cni=config.multus_master_cni,
                cluster_network=config.cluster_network,
                capabilities=config.capabilities,
                force_cni_version=config.force_cni_version,
                override_network_name=config.override_network_name,
                user_file=None if config.auto else Path(config.multus_config_file),
            )
        )
        self.server = CNIServer(
            ServerSettings(
                socket_dir=config.socket_dir,
                max_concurrent=config.request_bound,
                results_dir=config.results_dir,
                drain_seconds=config.drain_seconds,
                max_request_bytes=config.max_request_bytes,
                node_options=config.node_config_options(),
                request_overrides=config.request_overrides(),
            ),
            self.view,
            self.metrics,
            ready=self.ready,
            status=self._status_document,
        )
        self.status = NodeStatus(
            version=version(),
            node_name=config.node_name,
            records=AttachmentCache(self.server.node_config().config.cni_dir),
            node_config=self.node_config.path,
            not_ready=self.not_ready,
            node_config_source=lambda: (self.node_config.source, self.node_config.waiting),
            caches=self._caches,
            in_flight=lambda: self.server.in_flight,
        )
        for cache in (self.view.pods, self.view.networks):
            self.metrics.count_cached(cache.kind, cache.__len__)
        self._metrics_server: asyncio.Server | None = None
        self.dynamic: DynamicNetworks | None = None
        if config.dynamic_networks:
            from multus.daemon.dynamic import DynamicNetworks  # noqa: PLC0415  only when turned on

            self.dynamic = DynamicNetworks(
                self._node_multus_config, self.view, self.server.admitted, self.server.parts_for
            )
            self.view.pods.on_change = self.dynamic.pod_changed

    async def run(self, stop: asyncio.Event) -> None:
        self.view.start()
        await self.server.start()
        if self.config.metrics_port:
            self._metrics_server = await self.metrics.serve(
                self.config.metrics_address, self.config.metrics_port
            )
        tasks = [
            asyncio.create_task(self._watch_credentials()),
            asyncio.create_task(self._freeze_when_synced()),
            asyncio.create_task(self.node_config.keep_in_sync()),
        ]
        await stop.wait()
        log.info("draining")
        for task in tasks:
            task.cancel()
        await self.server.drain()
        if self.dynamic is not None:
            await self.dynamic.idle()
        if self._metrics_server is not None:
            self._metrics_server.close()
        await self.view.close()
        log.info("stopped", extra=fields(node=self.config.node_name))

    def _node_multus_config(self) -> MultusConfig:
        """The config the runtime gives every request of this node: a change of a running pod's networks
        is resolved as its ADD was."""
        return self.server.read_config(self.node_config.path.read_bytes()).config

    def ready(self) -> bool:
        """Caches synced and the node config in place: before that, the runtime has no way to us."""
        return not self.not_ready()

    def not_ready(self) -> list[str]:
        reasons = [
            f"the {cache.kind} cache has not synced"
            for cache in (self.view.pods, self.view.networks)
            if not cache.synced.is_set()
        ]
        if not self.node_config.in_place():
            reasons.append(
                f"{self.node_config.path} is not written (no primary config, or no readiness indicator)"
            )
        return reasons

    def _caches(self) -> dict[str, dict[str, Any]]:
        return {
            cache.kind: {"objects": len(cache), "lastListed": _iso(cache.listed_at)}
            for cache in (self.view.pods, self.view.networks)
        }

    def _status_document(self) -> dict[str, Any]:
        return self.status.document()

    async def _freeze_when_synced(self) -> None:
        """Once the caches hold the cluster, what is alive stays alive for long: frozen, the collector no
        longer walks it on every full collection, which would land in some request's path. The lists'
        pages, parsed and cut down, leave free memory in the C heap: it goes back to the system."""
        await self.view.pods.synced.wait()
        await self.view.networks.synced.wait()
        gc.collect()
        gc.freeze()
        _release_free_heap()

    async def _watch_credentials(self) -> None:
        while True:
            await asyncio.sleep(CREDENTIALS_CHECK_SECONDS)
            with contextlib.suppress(Exception):
                if await asyncio.to_thread(self.api.reload_if_changed):
                    log.info("credentials reloaded")


def _release_free_heap() -> None:
    """glibc keeps freed memory for reuse until told otherwise; another C library is left alone."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _iso(epoch: float | None) -> str | None:
    return (
        None
        if epoch is None
        else datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")
    )


def _refuse(problem: str) -> NoReturn:
    print(f"multus-daemon: {problem}", file=sys.stderr)
    sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="multus-daemon", description=__doc__)
    parser.add_argument("--version", action="version", version=f"multus-daemon {version()}")
    parser.add_argument("--config", type=Path, help="daemon config file (JSON)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, os.environ)
    except ConfigRefused as error:
        _refuse(f"bad config: {error}")
    try:
        secure_socket_dir(config.socket_dir)  # the server checks again as it binds; this refuses early
    except UnsafeSocketDir as error:
        _refuse(f"bad config: {error}")
    config.configure_logging()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    try:
        daemon = Daemon(config)
    except CNIError as error:  # the credentials: a kubeconfig that cannot be read, or not in a pod
        _refuse(f"bad config: {error.msg}")
    except OSError as error:  # the pod's service account files
        _refuse(f"bad config: kubeconfig: not set, and the pod's service account: {error}")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await daemon.run(stop)

    log.info("starting", extra=fields(node=config.node_name, socket=str(config.socket_dir)))
    asyncio.run(serve())
