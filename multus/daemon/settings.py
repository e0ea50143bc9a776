"""multus-daemon's settings: its config file (upstream Multus's `daemon-config.json` keys and ours) and its
environment, read strictly: a key the daemon does not act on is refused by name, never ignored.

`UPSTREAM_DAEMON_KEYS` says, for every key of upstream Multus v4.3's thick daemon config and of the
`00-multus.conf` it generates, whether the daemon implements it with upstream's meaning or refuses it,
and why; `UPSTREAM_ENVIRONMENT` does the same for upstream's variables. `docs/daemon-config.md` is the
same table for people.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Support(StrEnum):
    IMPLEMENTED = "implemented"
    REFUSED = "refused"


def _never(_: Any) -> bool:
    return False


@dataclass(frozen=True)
class KeySupport:
    support: Support
    note: str  # implemented: what the daemon does with the key; refused: why, and what to do instead
    # For a refused key: whether a value asks for nothing (false, "", disabled), and is accepted so.
    inert: Callable[[Any], bool] = _never

    def refuses(self, value: Any) -> bool:
        return self.support is Support.REFUSED and not self.inert(value)


def _implemented(note: str) -> KeySupport:
    return KeySupport(Support.IMPLEMENTED, note)


def _refused(note: str, inert: Callable[[Any], bool]) -> KeySupport:
    return KeySupport(Support.REFUSED, note, inert)


def _copied(what: str) -> KeySupport:
    return _implemented(f"{what}; copied into 00-multus.conf, so every request carries it")


UPSTREAM_DAEMON_KEYS: Mapping[str, KeySupport] = MappingProxyType(
    {
        # The daemon's own settings (upstream's ControllerNetConf).
        "chrootDir": _refused(
            "delegates run in the daemon's own root: running each one chrooted into the host's root is not "
            "implemented; mount the CNI bin dir and what delegates use at their host paths instead",
            lambda value: value == "",
        ),
        "socketDir": _implemented("the folder of the daemon's socket, multus.sock (default /run/multus)"),
        "logFile": _implemented("the daemon also logs to this file, rotated as logOptions says"),
        "logLevel": _implemented("debug, verbose (the default), info, error or panic"),
        "logToStderr": _implemented("log to stderr (default true; upstream's default is false)"),
        "logOptions": _implemented(
            "rotation of logFile: maxSize (MB, default 100), maxBackups (default 5, 0 keeps all), "
            "maxAge (days, default 5, 0 keeps any age), compress (gzip, default true)"
        ),
        "metricsPort": _implemented(
            "Prometheus /metrics on this TCP port, upstream's multus_server_request_total included; "
            "every address unless metricsAddress narrows it"
        ),
        "enablePprof": _refused(
            "/debug/pprof is Go's profiler: a Python daemon has none to serve; remove the key",
            lambda value: value is False,
        ),
        "connectionLimit": _implemented(
            "how many requests are served at once, further ones wait (our maxConcurrentRequests); at least 1"
        ),
        "perNodeCertificate": _refused(
            "per-node client certificates (a CSR made with bootstrapKubeconfig, kept in certDir) are not "
            "implemented; give the daemon a kubeconfig or run it with its pod's service account",
            lambda value: isinstance(value, dict) and value.get("enabled", False) is False,
        ),
        # The generated 00-multus.conf (upstream's MultusConf).
        "cniVersion": _implemented(
            "00-multus.conf's cniVersion, so the version of every answer the runtime gets "
            "(default: the primary config's)"
        ),
        "clusterNetwork": _implemented(
            "every pod's cluster network (a NAD, a config name in confDir, a folder or a file), in "
            "place of the primary config's path"
        ),
        "cniConfigDir": _implemented("the runtime's CNI conf dir, where 00-multus.conf goes"),
        "multusConfigFile": _implemented(
            '"auto" (the default): write 00-multus.conf from the primary config; a path: copy that file '
            "into cniConfigDir and apply the daemon config's multus keys to every request"
        ),
        "multusMasterCNI": _implemented(
            "the primary config's file name in multusAutoconfigDir, instead of the first config there"
        ),
        "multusAutoconfigDir": _implemented("where the primary config is found (default: cniConfigDir)"),
        "daemonSocketDir": _implemented(
            "the socket folder as the shims on the host see it, written into 00-multus.conf "
            "(default: socketDir)"
        ),
        "auxiliaryCNIChainName": _refused(
            "the auxiliary chain (chained plugins from a subfolder of the CNI conf dir, run after a "
            "passthru plugin) is not implemented",
            lambda value: value == "",
        ),
        "forceCNIVersion": _implemented(
            "rewrite the primary config's cniVersion to cniVersion, which must be set (upstream: for kind)"
        ),
        "overrideNetworkName": _implemented("00-multus.conf takes the primary config's network name"),
        "readinessindicatorfile": _implemented(
            "while this file is missing, 00-multus.conf is removed and the daemon is not ready"
        ),
        "namespaceIsolation": _copied("pods use only NADs of their namespace or globalNamespaces"),
        "globalNamespaces": _copied("namespaces whose NADs every pod may use (a list or a comma list)"),
        "capabilities": _implemented("declared in 00-multus.conf, with the primary config's own"),
        "binDir": _copied("where delegate plugins are looked for first"),
        "cniDir": _copied("where each sandbox's attachments are recorded"),
    }
)

UPSTREAM_ENVIRONMENT: Mapping[str, KeySupport] = MappingProxyType(
    {
        "MULTUS_NODE_NAME": _implemented(
            "the node whose pods the daemon serves; NODE_NAME is read too, the config's nodeName wins"
        ),
    }
)
