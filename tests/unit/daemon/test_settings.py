"""The daemon config as upstream Multus v4.3 writes it: every key of its thick daemon config and of the
00-multus.conf it generates is implemented or refused by name, an unknown key is refused, and the
environment's node name is read under upstream's name too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from multus.cni.schema import field_names
from multus.daemon.settings import (
    KNOWN_KEYS,
    NODE_CONFIG_KEYS,
    UPSTREAM_DAEMON_KEYS,
    UPSTREAM_ENVIRONMENT,
    ConfigRefused,
    DaemonConfig,
    Support,
    load_config,
)

# v4.3.0's pkg/server/types.go (ControllerNetConf), pkg/server/config/generator.go (MultusConf) and
# pkg/logging (logOptions), as the keys appear in JSON.
UPSTREAM_KEYS = {
    "chrootDir", "socketDir", "logFile", "logLevel", "logToStderr", "logOptions", "metricsPort",
    "enablePprof", "connectionLimit", "perNodeCertificate", "cniVersion", "clusterNetwork",
    "cniConfigDir", "multusConfigFile", "multusMasterCNI", "multusAutoconfigDir", "daemonSocketDir",
    "auxiliaryCNIChainName", "forceCNIVersion", "overrideNetworkName", "readinessindicatorfile",
    "namespaceIsolation", "globalNamespaces", "capabilities", "binDir", "cniDir",
}  # fmt: skip
# Values of the refused keys that ask for something, each refused by name.
ASKING = {
    "chrootDir": "/hostroot",
    "enablePprof": True,
    "perNodeCertificate": {"enabled": True, "bootstrapKubeconfig": "/b", "certDir": "/c"},
    "auxiliaryCNIChainName": "vendor-cni-chain",
}
# Values of the same keys that ask for nothing: accepted.
INERT = {
    "chrootDir": "",
    "enablePprof": False,
    "perNodeCertificate": {"enabled": False, "certDir": "/c"},
    "auxiliaryCNIChainName": "",
}


def load(tmp_path: Path, config: dict[str, Any], environ: dict[str, str] | None = None) -> DaemonConfig:
    path = tmp_path / "daemon-config.json"
    path.write_text(json.dumps(config))
    return load_config(path, {"MULTUS_NODE_NAME": "node-a"} if environ is None else environ)


def refusal(tmp_path: Path, config: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigRefused) as refused:
        load(tmp_path, config, environ)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_the_table_covers_every_upstream_key_and_each_implemented_key_is_read() -> None:
    assert set(UPSTREAM_DAEMON_KEYS) == UPSTREAM_KEYS
    read = field_names([DaemonConfig]) | set(NODE_CONFIG_KEYS)
    implemented = {key for key, entry in UPSTREAM_DAEMON_KEYS.items() if entry.support is Support.IMPLEMENTED}
    assert implemented <= read, implemented - read
    assert {key for key, entry in UPSTREAM_DAEMON_KEYS.items() if entry.support is Support.REFUSED} == set(
        ASKING
    )
    assert all(entry.note for entry in [*UPSTREAM_DAEMON_KEYS.values(), *UPSTREAM_ENVIRONMENT.values()])


@pytest.mark.parametrize("key", sorted(ASKING))
def test_a_refused_key_is_refused_by_name_unless_it_asks_for_nothing(tmp_path: Path, key: str) -> None:
    message = refusal(tmp_path, {key: ASKING[key]})
    assert message == f"{key}: not supported: {UPSTREAM_DAEMON_KEYS[key].note}"
    assert load(tmp_path, {key: INERT[key]}).node_name == "node-a"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"chrootDri": "/hostroot"}, "chrootDri: not a daemon config key"),
        ({"logOptions": {"maxAge": 1, "maxFiles": 3}}, "logOptions.maxFiles: Extra inputs are not permitted"),
        ({"logOptions": {"compress": "yes"}}, "logOptions.compress: Input should be a valid boolean"),
        ({"logFormat": "xml"}, "logFormat: Input should be 'json' or 'text'"),
        ({"logLevel": "loud"}, "logLevel: must be one of debug, verbose, info, error, panic"),
        ({"connectionLimit": 0}, "connectionLimit: Input should be greater than or equal to 1"),
        ({"connectionLimit": 8, "maxConcurrentRequests": 16}, "connectionLimit: differs from"),
        ({"forceCNIVersion": True}, "forceCNIVersion: needs cniVersion"),
        ({"metricsPort": "9091"}, "metricsPort: Input should be a valid integer"),
        ({"capabilities": {"portMappings": "true"}}, "capabilities.portMappings: Input should be a valid"),
        ({"namespaceIsolation": "yes"}, "namespaceIsolation: Input should be a valid boolean"),
        ({"delegateTimeoutSeconds": 0}, "delegateTimeoutSeconds: Input should be greater than 0"),
        ({"multusConfigFile": ""}, 'multusConfigFile: must be "auto" or the path of a CNI config file'),
        ({"multusMasterCNI": "00-multus.conf"}, "multusMasterCNI: names the 00-multus.conf the daemon"),
        ({"cniVersion": "1.2.0"}, "cniVersion: must be one of 0.1.0"),
        ({"forceCNIVersion": True, "cniVersion": ""}, "forceCNIVersion: needs cniVersion"),  # "": unset
        ({"socketDir": 5}, "socketDir: Input is not a valid path"),
        (
            {"confDir": ["/etc"]},
            "confDir: Input is not a valid path",
        ),  # a multus key, read as 00-multus.conf's
        ({"maxRequestBytes": 1023}, "maxRequestBytes: Input should be greater than or equal to 1024"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_or_unknown_key_is_refused_with_its_name(
    tmp_path: Path, config: dict[str, Any], expected: str
) -> None:
    assert refusal(tmp_path, config).startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", "not valid JSON"),
        (b'{"socketDir": "/a", "socketDir": "/b"}', "an object names the key 'socketDir' twice"),
        (b'["socketDir"]', "must be a JSON object"),
    ],
)
def test_a_config_file_that_is_not_one_json_object_is_refused(
    tmp_path: Path, text: bytes, expected: str
) -> None:
    path = tmp_path / "daemon-config.json"
    path.write_bytes(text)
    with pytest.raises(ConfigRefused, match=expected):
        load_config(path, {"NODE_NAME": "n"})
    with pytest.raises(ConfigRefused, match="No such file or directory"):
        load_config(tmp_path / "missing.json", {"NODE_NAME": "n"})


def test_the_node_name_comes_from_the_config_then_multus_node_name_then_node_name(tmp_path: Path) -> None:
    both = {"MULTUS_NODE_NAME": "upstream-name", "NODE_NAME": "our-name"}
    assert load(tmp_path, {}, both).node_name == "upstream-name"
    assert load(tmp_path, {}, {"NODE_NAME": "our-name"}).node_name == "our-name"
    assert load(tmp_path, {"nodeName": "configured"}, both).node_name == "configured"
    assert load(tmp_path, {"nodeName": ""}, both).node_name == "upstream-name"  # Go's omitted string
    assert refusal(tmp_path, {}, {}).startswith("nodeName: set it in the config, or MULTUS_NODE_NAME")


def test_upstream_keys_take_upstreams_meaning(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        {
            "socketDir": "/host/run/multus/",
            "daemonSocketDir": "/run/multus/",
            "connectionLimit": 12,
            "multusConfigFile": "/etc/multus/my.conf",
            "clusterNetwork": "calico",
            "cniVersion": "0.4.0",
            "binDir": "/opt/cni/bin",
            "logOptions": {"maxSize": 7},
            "readinessindicatorfile": "",  # Go's omitted string
            "kubeconfig": "",
        },
    )
    assert (config.request_bound, config.auto) == (12, False)
    assert (config.readiness_indicator_file, config.kubeconfig) == (None, None)
    assert config.log_options.rotation().max_megabytes == 7
    assert config.log_options.rotation().max_backups == 5  # upstream's default for a key left out
    # The shims on the host find the socket where daemonSocketDir says; upstream's shim reads its key.
    options = config.node_config_options()
    assert (options["socketDir"], options["daemonSocketDir"]) == ("/run/multus", "/run/multus")
    # A copied multusConfigFile does not carry the daemon's keys: every request gets them laid over.
    assert config.request_overrides() == {
        "binDir": "/opt/cni/bin",
        "logOptions": {"maxSize": 7},
        "socketDir": "/run/multus",
        "daemonSocketDir": "/run/multus",
        "cniVersion": "0.4.0",
        "clusterNetwork": "calico",
    }
    assert load(tmp_path, {"multusConfigFile": "auto"}).request_overrides() == {}


def test_docs_list_every_key_the_daemon_reads_with_the_tables_verdict() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "daemon-config.md").read_text()
    rows = [line.split("|")[1:-1] for line in doc.splitlines() if line.startswith("| `")]
    documented = {cells[0].strip().strip("`"): cells[1].strip() for cells in rows}
    assert set(documented) == KNOWN_KEYS | set(UPSTREAM_ENVIRONMENT) | {"NODE_NAME"}
    for key, entry in [*UPSTREAM_DAEMON_KEYS.items(), *UPSTREAM_ENVIRONMENT.items()]:
        assert documented[key] == entry.support, key
