"""A real `multus-daemon` given upstream Multus v4.3's daemon config: upstream's shipped config refused by
name (chrootDir), then, without that key, serving a pod through the 00-multus.conf it writes; each refused
key, an unknown key and missing credentials stop it with one line and exit 1; readiness waits for the
node config (00-multus.conf, or the copy of multusConfigFile, whose requests get the daemon's keys);
upstream's request metric after real requests; the plain-text log format."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from multus.daemon.settings import UPSTREAM_DAEMON_KEYS
from multus.kube.credentials import SERVICE_ACCOUNT_DIR
from multus.shim.multus_shim import request as unix_request
from tests.conftest import unique_name
from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.daemon.support import (
    NODE_CONFIG,
    PLACEHOLDER_PRIMARY,
    DaemonProcess,
    ShimRuntime,
    attach_blue,
    http_status,
    metric,
    raw_exchange,
    wait_for,
)
from tests.e2e.meta.runtime import address_in
from tests.e2e.node_manifests import UPSTREAM_DAEMON_CONFIG

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d) \[(\w+)\] (.*)")


def refused(daemon: DaemonProcess) -> str:
    """Starts `daemon`, which must stop at once with exit status 1 and one line of output; that line."""
    daemon.start(wait=False)
    assert daemon.process is not None
    assert daemon.process.wait(timeout=60) == 1, daemon.log_tail()
    lines = daemon.log_path.read_text().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    daemon.log_path.unlink()
    return lines[0]


def listed(daemon: DaemonProcess) -> bool:
    """Whether both watch caches have listed what the API server holds."""
    kinds = {line.get("kind") for line in daemon.log_lines() if line.get("msg") == "cache listed"}
    return kinds == {"pods", "network-attachment-definitions"}


def post_add(daemon: DaemonProcess, rt: ShimRuntime) -> int:
    """The status of a bare ADD posted to the daemon's socket, as a shim posts it."""
    body = {"env": rt.shim_env("ADD", rt.sandbox), "config": ""}
    status, _ = unix_request(str(daemon.socket_path), "POST", "/cni", json.dumps(body).encode(), 10.0)
    return status


def test_upstreams_shipped_config_is_refused_by_name_and_serves_a_pod_without_chroot_dir(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    daemon = start_daemon(start=False)
    rt = runtime_for(daemon)
    host = daemon.root / "host"  # upstream's container paths, each under the test's folder
    daemon.config = {
        **UPSTREAM_DAEMON_CONFIG,
        "cniConfigDir": str(rt.conf_dir),  # /host/etc/cni/net.d
        "multusAutoconfigDir": str(rt.conf_dir),
        "socketDir": f"{host}/run/multus/",
        "cniDir": str(rt.cni_dir),
        "binDir": str(rt.cni_bin),
        "kubeconfig": str(rt.kubeconfig),  # ours: the test does not run in a pod
    }
    node = unique_name("node-")
    daemon.environ = {"MULTUS_NODE_NAME": node}

    note = UPSTREAM_DAEMON_KEYS["chrootDir"].note
    assert refused(daemon) == f"multus-daemon: bad config: chrootDir: not supported: {note}"
    assert not (rt.conf_dir / NODE_CONFIG).exists()

    del daemon.config["chrootDir"]
    daemon.start()
    written = daemon.wait_for_primary(rt.conf_dir / "10-cluster.conflist")
    assert (written["cniVersion"], written["socketDir"]) == ("0.3.1", f"{host}/run/multus")
    starting = next(line for line in daemon.log_lines() if line.get("msg") == "starting")
    assert starting["node"] == node  # upstream's variable names the node
    stdin = (rt.conf_dir / NODE_CONFIG).read_bytes()  # what the runtime hands the shim

    assert attach_blue(rt, stdin)["cniVersion"] == "0.3.1"

    rt.delete(stdin=stdin)
    assert rt.leftovers() == []


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        *[
            ({key: value}, f"{key}: not supported: {UPSTREAM_DAEMON_KEYS[key].note}")
            for key, value in [
                ("chrootDir", "/hostroot"),
                ("enablePprof", True),
                ("perNodeCertificate", {"enabled": True, "bootstrapKubeconfig": "/b", "certDir": "/c"}),
                ("auxiliaryCNIChainName", "vendor-cni-chain"),
            ]
        ],
        ({"multusAutoConfigDir": "/etc/cni/net.d"}, "multusAutoConfigDir: not a daemon config key"),
        ({"logOptions": {"maxSize": "100"}}, "logOptions.maxSize: Input should be a valid integer"),
        ({"kubeconfig": None}, "kubeconfig: no kubeconfig given and not in a pod"),
    ],
    ids=[
        "chrootDir",
        "enablePprof",
        "perNodeCertificate",
        "auxiliaryCNIChainName",
        "unknown",
        "bad",
        "creds",
    ],
)
def test_what_the_daemon_cannot_honour_stops_it_with_one_line(
    start_daemon: StartDaemon, setting: dict[str, Any], line: str
) -> None:
    assert "KUBERNETES_SERVICE_HOST" not in os.environ  # so the daemon is not in a pod
    daemon = start_daemon(start=False)
    daemon.config.update(setting)
    daemon.config = {key: value for key, value in daemon.config.items() if value is not None}

    assert refused(daemon).startswith(f"multus-daemon: bad config: {line}")


def test_in_a_pod_without_its_service_account_the_daemon_stops_with_one_line(
    start_daemon: StartDaemon,
) -> None:
    assert not SERVICE_ACCOUNT_DIR.exists()
    daemon = start_daemon(start=False)
    del daemon.config["kubeconfig"]
    daemon.environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}

    line = refused(daemon)

    assert line.startswith("multus-daemon: bad config: kubeconfig: not set, and the pod's service account: ")
    assert "No such file or directory" in line


def test_readiness_waits_for_the_node_config(
    start_daemon: StartDaemon, runtime_for: RuntimeFor, tmp_path: Path
) -> None:
    indicator = tmp_path / "cluster-network-ready"
    indicator.touch()
    daemon = start_daemon(start=False, readinessindicatorfile=str(indicator))
    rt = runtime_for(daemon)
    rt.pod()
    (daemon.conf_dir / PLACEHOLDER_PRIMARY).unlink()  # no primary config: nothing to write in front of
    daemon.start(wait=False)
    wait_for("the caches to list", lambda: listed(daemon))

    assert daemon.readyz() == 503
    assert post_add(daemon, rt) == 503  # an ADD is answered "not ready": the shim waits
    assert daemon.node_config() is None

    primary = daemon.conf_dir / "10-cluster.conflist"
    primary.write_text(json.dumps(rt.cluster.config))
    wait_for("/readyz 200", lambda: daemon.readyz() == 200)
    assert daemon.node_config() is not None

    indicator.unlink()  # the cluster network is gone: so are 00-multus.conf and readiness
    wait_for("/readyz 503", lambda: daemon.readyz() == 503)
    assert daemon.node_config() is None
    indicator.touch()
    wait_for("/readyz 200 again", lambda: daemon.readyz() == 200)
    assert daemon.wait_for_primary(primary)["readinessindicatorfile"] == str(indicator)


def test_a_multus_config_file_is_copied_and_its_requests_get_the_daemons_keys(
    start_daemon: StartDaemon, runtime_for: RuntimeFor, tmp_path: Path
) -> None:
    daemon = start_daemon(start=False)
    rt = runtime_for(daemon)
    user_file = tmp_path / "mine" / "05-multus.conf"
    daemon.config.update(
        multusConfigFile=str(user_file),
        cniConfigDir=str(rt.conf_dir),
        cniVersion="1.0.0",
        clusterNetwork=str(rt.conf_dir / "10-cluster.conflist"),
        cniDir=str(rt.cni_dir),
        binDir=str(rt.cni_bin),
    )
    rt.pod()
    daemon.start(wait=False)
    wait_for("the caches to list", lambda: listed(daemon))
    assert daemon.readyz() == 503  # the file to copy is not there yet

    # The file names neither the cluster network nor the folders: the daemon config's keys fill them.
    user_file.parent.mkdir()
    user_file.write_text(
        json.dumps(
            {
                "cniVersion": "1.1.0",
                "name": "mine",
                "type": "multus-shim",
                "socketDir": str(daemon.socket_dir),
            }
        )
    )
    wait_for("/readyz 200", lambda: daemon.readyz() == 200)
    copied = rt.conf_dir / user_file.name
    assert copied.read_text() == user_file.read_text()
    assert daemon.node_config() is None  # nothing generated

    result = rt.add(stdin=copied.read_bytes())

    assert result["cniVersion"] == "1.0.0"
    address_in(rt.links()["eth0"], rt.cluster)
    assert rt.cache_file().exists()  # the record went where the daemon's cniDir says
    rt.delete(stdin=copied.read_bytes())
    assert rt.leftovers() == []


def test_upstreams_request_metric_counts_each_answer_by_handler_code_and_method(
    start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    daemon = start_daemon()
    rt = runtime_for(daemon)
    good, bad = rt.pod(), rt.pod("no/such/network")
    socket = str(daemon.socket_path)

    def counts() -> dict[tuple[str, str, str], float]:
        samples = daemon.metrics()
        return {
            labels: metric(
                samples, "multus_server_request_total", handler=labels[0], code=labels[1], method=labels[2]
            )
            for labels in EXPECTED
        } | {"others": sum(v for (name, _), v in samples.items() if name == "multus_server_request_total")}

    before = counts()
    rt.add(good)
    rt.run("ADD", sandbox=bad).error(102)
    rt.delete(good)
    rt.delete(bad)
    assert unix_request(socket, "GET", "/healthz", None, 10.0)[0] == 200
    assert unix_request(socket, "POST", "/healthz", b"", 10.0)[0] == 200  # upstream takes both
    assert unix_request(socket, "GET", "/readyz", None, 10.0)[0] == 200
    assert unix_request(socket, "GET", "/metrics", None, 10.0)[0] == 404
    assert unix_request(socket, "GET", "/cni", None, 10.0)[0] == 405
    assert http_status(raw_exchange(daemon.socket_path, b"BREW /cni HTTP/1.0\r\n\r\n")) == 405
    assert http_status(raw_exchange(daemon.socket_path, b"\x16\x03\x01 not http")) == 400  # never routed
    after = counts()

    assert {key: after[key] - before[key] for key in EXPECTED} == EXPECTED
    assert after["others"] - before["others"] == sum(EXPECTED.values())
    assert rt.leftovers(good) == []
    assert rt.leftovers(bad) == []
    # Each failure has its line at error.
    errors = [(line["msg"], line.get("path")) for line in daemon.log_lines() if line["level"] == "error"]
    assert ("request", None) in errors
    assert ("no such path", "/metrics") in errors
    assert errors.count(("method not allowed", "/cni")) == 2
    assert ("bad request", None) in errors


EXPECTED = {
    ("/cni", "200", "post"): 3,  # the ADD, both DELs
    ("/cni", "400", "post"): 1,  # the ADD of a pod whose network does not exist
    ("/healthz", "200", "get"): 1,
    ("/healthz", "200", "post"): 1,
    ("/readyz", "200", "get"): 1,
    ("NotFound", "404", "get"): 1,
    ("/cni", "405", "get"): 1,
    ("/cni", "405", "unknown"): 1,  # a method promhttp does not name
}


def test_the_text_log_format_is_upstreams_line(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(logFormat="text")
    assert unix_request(str(daemon.socket_path), "GET", "/nope", None, 10.0)[0] == 404
    assert daemon.stop() == 0

    lines = daemon.log_path.read_text().splitlines()
    matches = [TEXT_LINE.fullmatch(line) for line in lines]
    assert all(matches), [line for line, match in zip(lines, matches, strict=True) if not match]
    events = [match.group(1, 2) for match in matches if match]
    assert ("verbose", f"serving socket={daemon.socket_path}") in events
    assert ("error", "no such path path=/nope method=GET") in events
    assert ("verbose", "draining") in events


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_a_socket_dir_that_is_not_a_folder_of_its_own_stops_the_daemon_and_is_left_alone(
    start_daemon: StartDaemon, tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    bystander = target / "multus.sock"
    bystander.write_text("not ours")
    daemon = start_daemon(start=False)
    socket_dir = tmp_path / "socket-dir"
    if kind == "symlink":
        socket_dir.symlink_to(target)
    else:
        socket_dir.write_text("")
    daemon.config["socketDir"] = str(socket_dir)

    daemon.start(wait=False)
    assert daemon.process is not None
    assert daemon.process.wait(timeout=60) == 1, daemon.log_tail()
    last = daemon.log_path.read_text().splitlines()[-1]
    assert last.startswith(f"multus-daemon: bad config: socketDir: {socket_dir} is ")
    assert "Traceback" not in daemon.log_path.read_text()
    assert bystander.read_text() == "not ours"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    daemon.log_path.unlink()
