"""What the commands work with, built by their owner: swap any of them in a test.

`Parts.for_request` builds the real ones: delegates found in the config's `binDir` then the runtime's
`CNI_PATH` (none for work of the daemon's own), libcni's result cache, our attachment records, netlink
in the pod's namespace and the kubelet's devices (its pod-resources API, else its device checkpoint).
A test without root gives its own `NamespaceOps` and fake plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from multus.attachment_cache import AttachmentCache, SpareFiles
from multus.cni.cache import DEFAULT_CACHE_DIR, ResultCache
from multus.cni.conflist import ConfigListRunner
from multus.cni.exec import DelegateExecutor
from multus.config import MultusConfig
from multus.devices import DeviceAllocations
from multus.k8s.view import ClusterView
from multus.netns import Link, ethernet_mac, interface_names, interfaces, replace_default_route

# Hears of every delegate run: plugin type, command, seconds.
DelegateObserver = Callable[[str, str, float], None]


class NamespaceOps(Protocol):
    """What the commands read and change in a pod's network namespace themselves."""

    def interface_names(self, netns: str) -> set[str]: ...

    def interfaces(self, netns: str) -> Mapping[str, Link]: ...

    def ethernet_mac(self, netns: str, ifname: str) -> str | None: ...

    def replace_default_route(self, netns: str, ifname: str, gateway: str) -> None: ...


class Netlink:
    """`NamespaceOps` through netlink (pyroute2), in the real namespace."""

    def interface_names(self, netns: str) -> set[str]:
        return interface_names(netns)

    def interfaces(self, netns: str) -> Mapping[str, Link]:
        return interfaces(netns)

    def ethernet_mac(self, netns: str, ifname: str) -> str | None:
        return ethernet_mac(netns, ifname)

    def replace_default_route(self, netns: str, ifname: str, gateway: str) -> None:
        replace_default_route(netns, ifname, gateway)


@dataclass
class Parts:
    runner: ConfigListRunner
    records: AttachmentCache
    view: ClusterView | None
    namespace: NamespaceOps = field(default_factory=Netlink)
    devices: Callable[[], DeviceAllocations] = DeviceAllocations.from_kubelet

    @classmethod
    def for_request(
        cls,
        config: MultusConfig,
        view: ClusterView | None,
        *,
        cni_path: Sequence[str] = (),
        results_dir: Path = DEFAULT_CACHE_DIR,
        observer: DelegateObserver | None = None,
        spares: SpareFiles | None = None,
    ) -> Parts:
        executor = DelegateExecutor(
            [str(config.bin_dir), *cni_path], timeout=config.delegate_timeout, observer=observer
        )
        socket, checkpoint = config.pod_resources_socket, config.device_checkpoint
        return cls(
            runner=ConfigListRunner(executor, ResultCache(results_dir)),
            records=AttachmentCache(config.cni_dir, spares),
            view=view,
            devices=lambda: DeviceAllocations.from_kubelet(socket, checkpoint),
        )
