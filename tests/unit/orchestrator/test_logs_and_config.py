"""Structured log lines, and the meta-plugin config read with upstream's keys and defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multus.cni.errors import DecodeFailure, InvalidConfig
from multus.cni.versions import LATEST_VERSION
from multus.config import parse_config, reply_version
from multus.logs import configure, fields, get_logger


def test_one_json_line_per_event_with_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure("verbose", tmp_path / "multus.log", to_stderr=True)
    get_logger("test").info(
        "delegate added", extra=fields(container="c1", pod="ns/p", network="ns/a", skip="")
    )
    get_logger("test").debug("not shown at verbose")
    lines = (tmp_path / "multus.log").read_text().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert {k: line[k] for k in ("level", "msg", "container", "pod", "network")} == {
        "level": "info",
        "msg": "delegate added",
        "container": "c1",
        "pod": "ns/p",
        "network": "ns/a",
    }
    assert "skip" not in line
    assert json.loads(capsys.readouterr().err.splitlines()[0]) == line
    configure("error", None, to_stderr=False)


def test_upstream_config_keys_and_defaults() -> None:
    config = parse_config(
        json.dumps(
            {
                "cniVersion": "0.3.1",
                "name": "node-cni-network",
                "type": "multus",
                "kubeconfig": "/etc/kubernetes/node-kubeconfig.yaml",
                "clusterNetwork": "defaultCRD",
                "defaultNetworks": ["sidecarCRD"],
                "namespaceIsolation": True,
                "globalNamespaces": "default, shared",
                "readinessindicatorfile": "",
                "logLevel": "debug",
                "logOptions": {"maxAge": 5},
            }
        ).encode()
    )
    assert config.cluster_network == "defaultCRD"
    assert config.default_networks == ["sidecarCRD"]
    assert config.global_namespaces == ["default", "shared"]
    assert config.readiness_indicator_file is None
    assert config.conf_dir == Path("/etc/cni/multus/net.d")
    assert config.cni_dir == Path("/var/lib/cni/multus")
    assert config.bin_dir == Path("/opt/cni/bin")
    assert config.multus_namespace == "kube-system"
    assert config.system_namespaces == ["kube-system"]
    assert (config.log_options.max_age, config.log_options.max_size) == (5, 100)  # upstream's default size
    assert config.extra == {}


def test_namespace_policy() -> None:
    isolated = parse_config(b'{"namespaceIsolation": true}').namespace_policy
    assert isolated.isolation
    assert isolated.global_namespaces == {"default"}
    scoped = parse_config(b'{"namespaceIsolation": true, "globalNamespaces": "shared"}').namespace_policy
    assert scoped.global_namespaces == {"shared"}
    assert parse_config(b'{"systemNamespaces": ["admin"]}').namespace_policy.system_namespaces == {"admin"}


def test_the_same_config_bytes_share_one_frozen_config() -> None:
    stdin = b'{"cniVersion": "1.0.0", "clusterNetwork": "cluster"}'
    config = parse_config(stdin)
    assert parse_config(bytes(stdin)) is config
    assert parse_config(stdin.replace(b"cluster", b"other")) is not config
    with pytest.raises(AttributeError, match="frozen"):
        config.cluster_network = "other"


@pytest.mark.parametrize(
    ("stdin", "error", "match"),
    [
        (b"{not json", DecodeFailure, "not valid JSON"),
        (b"[1]", InvalidConfig, "JSON object"),
        (b'{"logLevel": "loud"}', InvalidConfig, "logLevel"),
        (b'{"namespaceIsolation": "maybe"}', InvalidConfig, "namespaceIsolation"),
        # Go's encoding/json refuses these where a lax reader would turn them into true and numbers.
        (b'{"namespaceIsolation": "yes"}', InvalidConfig, "namespaceIsolation"),
        (b'{"logToStderr": 1}', InvalidConfig, "logToStderr"),
        (b'{"delegateTimeoutSeconds": "60"}', InvalidConfig, "delegateTimeoutSeconds"),
        (b'{"apiTimeouts": {"retries": 2.5}}', InvalidConfig, r"apiTimeouts\.retries"),
        (b'{"namespaceIsolation": false, "namespaceIsolation": true}', DecodeFailure, "not valid JSON"),
        (b'{"apiTimeouts": {"requestSeconds": 0}}', InvalidConfig, r"apiTimeouts\.requestSeconds"),
        (b'{"apiTimeouts": {"timeout": 1}}', InvalidConfig, r"apiTimeouts\.timeout: Extra inputs"),
        (b'{"logFile": 3}', InvalidConfig, "logFile: Input is not a valid path"),
        (
            b'{"globalNamespaces": ["a", 2]}',
            InvalidConfig,
            r"globalNamespaces\.1: Input should be a valid string",
        ),
    ],
)
def test_bad_config_names_the_key(stdin: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        parse_config(stdin)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"[" * 5000, "the network config on stdin nests deeper than 64 levels"),
        (b"{not json", "the network config on stdin is not valid JSON"),
        (b"\xff", "the network config on stdin is not valid JSON"),
    ],
    ids=["hostile-nesting", "not-json", "not-utf8"],
)
def test_unreadable_stdin_is_a_decode_failure_and_its_reply_version_the_latest(
    stdin: bytes, message: str
) -> None:
    with pytest.raises(DecodeFailure) as caught:
        parse_config(stdin)
    assert caught.value.msg == message
    assert reply_version(stdin) == LATEST_VERSION
