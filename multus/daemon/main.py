"""`multus-daemon`: one per node; serves the shim, keeps the caches and the node's CNI config.

Settings come from a JSON file (`--config`, like upstream's `daemon-config.json`) and the environment
(`NODE_NAME`). SIGTERM drains: readiness fails at once, requests in flight finish, then the process
exits; SIGINT does the same.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from multus.cni.cache import DEFAULT_CACHE_DIR
from multus.cni.versions import SUPPORTED_VERSIONS, is_supported
from multus.config import ApiTimeouts
from multus.daemon.cacheview import CacheView
from multus.daemon.metrics import DaemonMetrics
from multus.daemon.nodeconfig import NodeConfigSettings, NodeConfigWriter
from multus.daemon.server import CNIServer, ServerSettings
from multus.k8s.apiview import ApiSettings, ApiView
from multus.logs import configure, fields, get_logger

log = get_logger("daemon")

# Multus config keys the daemon copies into the node config it writes, so every request carries them.
NODE_CONFIG_KEYS = (
    "confDir",
    "cniDir",
    "binDir",
    "defaultNetworks",
    "multusNamespace",
    "systemNamespaces",
    "namespaceIsolation",
    "globalNamespaces",
    "logLevel",
    "logToStderr",
    "logFile",
    "delegateTimeoutSeconds",
    "readinessTimeoutSeconds",
    "deviceCheckpointFile",
    "daemonWaitSeconds",  # read by the shim: how long an ADD waits for this daemon's /readyz
)
CREDENTIALS_CHECK_SECONDS = 10.0
# Young objects are collected after this many allocations (Python's default is 700): a pod's ADD makes
# thousands, and each collection on its path costs it time. Garbage in cycles waits a little longer.
YOUNG_COLLECTION_THRESHOLD = 20_000


class DaemonConfig(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    node_name: str = Field("", alias="nodeName")
    kubeconfig: Path | None = None
    socket_dir: Path = Field(Path("/run/multus"), alias="socketDir")
    max_concurrent: int = Field(32, ge=1, alias="maxConcurrentRequests")
    metrics_port: int = Field(0, ge=0, le=65535, alias="metricsPort")  # 0: no metrics endpoint
    metrics_address: str = Field("127.0.0.1", alias="metricsAddress")
    cni_config_dir: Path = Field(Path("/host/etc/cni/net.d"), alias="cniConfigDir")
    multus_config_file: str = Field("auto", alias="multusConfigFile")  # "auto": write 00-multus.conf
    readiness_indicator_file: Path | None = Field(None, alias="readinessindicatorfile")
    results_dir: Path = Field(DEFAULT_CACHE_DIR, alias="resultsDir")
    drain_seconds: float = Field(30.0, ge=0, alias="drainSeconds")
    cni_version: str | None = Field(None, alias="cniVersion")  # of 00-multus.conf; None: the primary's
    log_level: str = Field("verbose", alias="logLevel")
    log_file: Path | None = Field(None, alias="logFile")
    log_to_stderr: bool = Field(True, alias="logToStderr")
    api: ApiTimeouts = Field(default_factory=ApiTimeouts, alias="apiTimeouts")

    @field_validator("cni_version")
    @classmethod
    def _spoken(cls, value: str | None) -> str | None:
        if value is not None and not is_supported(value):
            raise ValueError(f"must be one of {', '.join(SUPPORTED_VERSIONS)}")
        return value

    def node_config_options(self) -> dict[str, Any]:
        raw = self.model_dump(by_alias=True, exclude_unset=True)
        options = {key: raw[key] for key in NODE_CONFIG_KEYS if key in raw} | {
            key: value for key, value in (self.model_extra or {}).items() if key in NODE_CONFIG_KEYS
        }
        options["socketDir"] = str(self.socket_dir)
        return {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}


def load_config(path: Path | None, environ: dict[str, str]) -> DaemonConfig:
    raw: dict[str, Any] = json.loads(path.read_text()) if path else {}
    raw.setdefault("nodeName", environ.get("NODE_NAME", ""))
    config = DaemonConfig.model_validate(raw)
    if not config.node_name:
        raise ValueError("nodeName: set it in the config or in NODE_NAME: the daemon serves one node")
    return config


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
        self.server = CNIServer(
            ServerSettings(
                socket_dir=config.socket_dir,
                max_concurrent=config.max_concurrent,
                results_dir=config.results_dir,
                drain_seconds=config.drain_seconds,
                node_options=config.node_config_options(),
            ),
            self.view,
            self.metrics,
            ready=lambda: self.view.synced,
        )
        self.node_config = (
            NodeConfigWriter(
                NodeConfigSettings(
                    conf_dir=config.cni_config_dir,
                    readiness_indicator_file=config.readiness_indicator_file,
                    options=config.node_config_options(),
                    cni_version=config.cni_version,
                )
            )
            if config.multus_config_file == "auto"
            else None
        )
        self._metrics_runner: web.AppRunner | None = None

    async def run(self, stop: asyncio.Event) -> None:
        self.view.start()
        await self.server.start()
        await self._start_metrics()
        tasks = [
            asyncio.create_task(self._watch_credentials()),
            asyncio.create_task(self._freeze_when_synced()),
        ]
        if self.node_config is not None:
            tasks.append(asyncio.create_task(self.node_config.keep_in_sync()))
        await stop.wait()
        log.info("draining")
        for task in tasks:
            task.cancel()
        await self.server.drain()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        await self.view.close()

    async def _start_metrics(self) -> None:
        if not self.config.metrics_port:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._metrics_runner = web.AppRunner(app, access_log=None)
        await self._metrics_runner.setup()
        await web.TCPSite(self._metrics_runner, self.config.metrics_address, self.config.metrics_port).start()

    async def _metrics(self, _: web.Request) -> web.Response:
        self.metrics.cache_objects.labels("pods").set(len(self.view.pods))
        self.metrics.cache_objects.labels("network-attachment-definitions").set(len(self.view.networks))
        return web.Response(
            body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _freeze_when_synced(self) -> None:
        """Once the caches hold the cluster, what is alive stays alive for long: frozen, the collector no
        longer walks it on every full collection, which would land in some request's path."""
        await self.view.pods.synced.wait()
        await self.view.networks.synced.wait()
        gc.collect()
        gc.freeze()

    async def _watch_credentials(self) -> None:
        while True:
            await asyncio.sleep(CREDENTIALS_CHECK_SECONDS)
            with contextlib.suppress(Exception):
                if await asyncio.to_thread(self.api.reload_if_changed):
                    log.info("credentials reloaded")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="multus-daemon", description=__doc__)
    parser.add_argument("--config", type=Path, help="daemon config file (JSON)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, dict(os.environ))
    except (OSError, ValueError, ValidationError) as error:
        print(f"multus-daemon: bad config: {error}", file=sys.stderr)
        sys.exit(2)
    configure(config.log_level, config.log_file, config.log_to_stderr)
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Daemon(config).run(stop)

    log.info("starting", extra=fields(node=config.node_name, socket=str(config.socket_dir)))
    asyncio.run(serve())
