"""Credentials never leave the process that holds them: the kubeconfig's bearer token, its client key
and the token behind `tokenFile` (how a service-account token is read) appear in no reply, no plugin
stderr or log file, no daemon log line and no Event, also when the API call fails. Each is planted, with
a value of its own, in a kubeconfig that cannot reach the API server or is refused by it, and in a
daemon's that loses the API server mid-run."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.daemon.conftest import RuntimeFor, StartDaemon
from tests.e2e.faults.gate import Gate
from tests.e2e.meta.runtime import Runtime
from tests.testenv import TestEnv

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


class Secrets:
    """A kubeconfig of `env`'s cluster at `server` with a planted token, `tokenFile` and client key."""

    def __init__(self, env: TestEnv, root: Path, server: str, *, certificate: bool = True) -> None:
        self.token = f"planted-token-{secrets.token_hex(16)}"
        self.file_token = f"planted-file-token-{secrets.token_hex(16)}"
        token_file = root / "sa-token"
        token_file.write_text(self.file_token)
        pki = env.root / "pki"
        key = (pki / "admin.key").read_bytes()
        self.key_data = base64.b64encode(key).decode()
        self.key_lines = [line for line in key.decode().splitlines() if not line.startswith("-----")]
        config = json.loads(env.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = server
        user: dict[str, str] = {"token": self.token}
        if certificate:  # a valid client certificate authenticates whatever the token says
            crt = (pki / "admin.crt").read_bytes()
            user |= {
                "client-certificate-data": base64.b64encode(crt).decode(),
                "client-key-data": self.key_data,
            }
        config["users"][0]["user"] = user
        self.kubeconfig = root / "secret-kubeconfig"
        self.kubeconfig.write_text(json.dumps(config))
        self.file_kubeconfig = root / "secret-file-kubeconfig"
        config["users"][0]["user"] = {**user, "tokenFile": str(token_file)}
        del config["users"][0]["user"]["token"]
        self.file_kubeconfig.write_text(json.dumps(config))

    def found_in(self, text: str) -> list[str]:
        """The planted secrets (or a line of the key) that `text` holds."""
        planted = {"token": self.token, "tokenFile's token": self.file_token, "client key": self.key_data}
        found = [name for name, value in planted.items() if value in text]
        found += ["a line of the client key" for line in self.key_lines if line in text][:1]
        return found


def events_text(core: client.CoreV1Api, namespace: str) -> str:
    return "\n".join(
        f"{event.reason} {event.message}" for event in core.list_namespaced_event(namespace).items
    )


@pytest.mark.parametrize("rt", ["thin"], indirect=True)  # thick: the daemon's own credentials, below
@pytest.mark.parametrize("api", ["unreachable", "refuses-the-token"])
@pytest.mark.parametrize("user", ["token", "tokenFile"])
def test_thin_plugin_keeps_its_credentials_out_of_errors_and_logs(
    rt: Runtime, apiserver: TestEnv, tmp_path: Path, api: str, user: str
) -> None:
    server = "https://127.0.0.1:1" if api == "unreachable" else apiserver.server
    planted = Secrets(apiserver, tmp_path, server, certificate=api == "unreachable")
    log_file = tmp_path / "multus.log"
    kubeconfig = planted.kubeconfig if user == "token" else planted.file_kubeconfig
    config = rt.multus_config(kubeconfig=str(kubeconfig), logFile=str(log_file), logLevel="verbose")
    rt.pod("blue")

    add = rt.run("ADD", config=config)
    delete = rt.run("DEL", config=config)

    add.error(None)  # the pod cannot be read
    delete.ok()
    written = "\n".join([add.stdout, add.stderr, delete.stdout, delete.stderr, log_file.read_text()])
    assert log_file.read_text()  # the failure was logged, and the log is checked
    assert planted.found_in(written) == []
    assert planted.found_in(events_text(rt.core, rt.namespace)) == []
    assert rt.leftovers() == []


def test_daemon_keeps_its_credentials_out_of_its_log_replies_and_events(
    apiserver: TestEnv, gate: Gate, tmp_path: Path, start_daemon: StartDaemon, runtime_for: RuntimeFor
) -> None:
    """`gate` comes before the daemon, so it is open again when the daemon drains at teardown."""
    planted = Secrets(apiserver, tmp_path, f"https://127.0.0.1:{gate.port}")
    daemon = start_daemon(kubeconfig=str(planted.file_kubeconfig), logLevel="debug")
    rt = runtime_for(daemon)
    rt.nad("blue", rt.bridge_net("blue", default_route=False).config)
    added = rt.pod("blue")
    missing = rt.pod("absent", own_netns=True)
    rt.run("ADD", sandbox=added).ok()
    gate.shut()  # the API server goes away: the daemon's watches, reports and reads fail
    replies = [
        rt.run("ADD", sandbox=missing),  # its NAD is not cached: the daemon must ask, and cannot
        rt.run("DEL", sandbox=added),
        rt.run("DEL", sandbox=missing),
    ]
    gate.open()
    rt.run("ADD", sandbox=missing).error(None)  # with the API server back: a failure told as an Event
    rt.run("DEL", sandbox=missing).ok()

    assert replies[0].status != 0
    written = "\n".join(part for reply in replies for part in (reply.stdout, reply.stderr))
    assert planted.found_in(written) == []
    assert planted.found_in(daemon.log_path.read_text()) == []
    assert planted.found_in(events_text(rt.core, rt.namespace)) == []
    assert any(line.get("level") in ("error", "warning") for line in daemon.log_lines())
    assert rt.leftovers(added) == []
