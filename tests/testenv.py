"""A real etcd + kube-apiserver on loopback, for tests and for people.

`python -m tests.testenv up [DIR]` starts both in the background, applies `crds/`, and prints the shell
lines that point `kubectl` at them (KUBECONFIG, the admin kubeconfig; PATH, with the built kubectl
first); `python -m tests.testenv down [DIR]` stops them and removes DIR. The pytest session
fixture in `tests/conftest.py` drives the same `TestEnv` class.

Everything is generated for the run: a CA, the API server's serving certificate, an admin client
certificate in `system:masters`, and the service-account signing key. The binaries come from the cache
filled by `tools/build-components.sh`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MULTUS_CACHE_DIR", Path.home() / ".cache" / "multus-py"))
KUBE_BIN = CACHE / "kube-bin"
ETCD_BIN = CACHE / "etcd-bin"
CNI_BIN = CACHE / "cni-bin"
DEFAULT_DIR = Path(tempfile.gettempdir()) / "multus-py-testenv"
NAD_CRD = "network-attachment-definitions.k8s.cni.cncf.io"


class TestEnvError(RuntimeError):
    """The test environment could not be started; the message says which part and why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TestEnvError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_credentials(pki: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1, an admin client certificate, a service-account key."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=multus-testenv-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=pki,
    )
    (pki / "serving.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subject, ext in (
        ("serving", "/CN=kube-apiserver", ["-extfile", "serving.ext"]),
        ("admin", "/O=system:masters/CN=admin", []),
    ):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=pki,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.crt",
            *ext,
            cwd=pki,
        )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


@dataclass
class TestEnv:
    """One etcd and one kube-apiserver whose state lives in `root`; `state.json` there records the pids."""

    __test__ = False  # a fixture's type, not a test class

    root: Path
    api_port: int = 0
    etcd_port: int = 0
    pids: dict[str, int] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)  # how each process was started

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def _state(self) -> Path:
        return self.root / "state.json"

    def kubeconfig_copy(self, target: Path, *, server: str | None = None, inline: bool = False) -> Path:
        """The admin kubeconfig written to `target`, aimed at `server` instead, or (`inline`) with its CA,
        certificate and key as `-data` entries instead of files."""
        config = json.loads(self.kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        if server is not None:
            cluster["server"] = server
        if inline:
            for section, key in (
                (cluster, "certificate-authority"),
                (user, "client-certificate"),
                (user, "client-key"),
            ):
                section[f"{key}-data"] = base64.b64encode(Path(section.pop(key)).read_bytes()).decode()
        target.write_text(json.dumps(config))
        return target

    def start(self, timeout: float = 120.0) -> None:
        for binary in (ETCD_BIN / "etcd", KUBE_BIN / "kube-apiserver", KUBE_BIN / "kubectl"):
            if not binary.exists():
                raise TestEnvError(f"{binary} is missing: run tools/build-components.sh (make components)")
        if self._state.exists():
            raise TestEnvError(f"{self.root} already holds a running test environment")
        self.root.mkdir(parents=True, exist_ok=True)
        pki = self.root / "pki"
        make_credentials(pki)
        self.etcd_port, peer_port, self.api_port = free_port(), free_port(), free_port()
        try:
            self._spawn(
                "etcd",
                [
                    str(ETCD_BIN / "etcd"),
                    "--name",
                    "default",
                    "--data-dir",
                    str(self.root / "etcd"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{self.etcd_port}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{self.etcd_port}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{peer_port}",
                    "--initial-advertise-peer-urls",
                    f"http://127.0.0.1:{peer_port}",
                    "--initial-cluster",
                    f"default=http://127.0.0.1:{peer_port}",
                    "--unsafe-no-fsync",
                    "--log-level",
                    "warn",
                ],
            )
            self._spawn(
                "kube-apiserver",
                [
                    str(KUBE_BIN / "kube-apiserver"),
                    f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                    f"--cert-dir={self.root / 'certs'}",
                    f"--tls-cert-file={pki / 'serving.crt'}",
                    f"--tls-private-key-file={pki / 'serving.key'}",
                    f"--client-ca-file={pki / 'ca.crt'}",
                    f"--secure-port={self.api_port}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    "--endpoint-reconciler-type=none",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    f"--service-account-issuer=https://127.0.0.1:{self.api_port}",
                    f"--service-account-key-file={pki / 'sa.pub'}",
                    f"--service-account-signing-key-file={pki / 'sa.key'}",
                    "--authorization-mode=RBAC",
                    "--disable-admission-plugins=ServiceAccount",
                    "--allow-privileged=true",
                    "--v=0",
                ],
            )
            self._write_kubeconfig(pki)
            self._wait_ready(pki, timeout)
            self.kubectl("apply", "-f", str(REPO / "crds"))
            self.kubectl("wait", "--for=condition=Established", f"crd/{NAD_CRD}", "--timeout=60s")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.root / f"{name}.log").open("ab")
        # A session of its own, so the processes outlive `make testenv` and a terminal's Ctrl-C.
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        self.pids[name] = proc.pid
        self.commands[name] = argv
        self._state.write_text(json.dumps({"pids": self.pids, "api_port": self.api_port}))

    def _write_kubeconfig(self, pki: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "testenv",
            "clusters": [
                {
                    "name": "testenv",
                    "cluster": {"server": self.server, "certificate-authority": str(pki / "ca.crt")},
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(pki / "admin.crt"),
                        "client-key": str(pki / "admin.key"),
                    },
                }
            ],
            "contexts": [{"name": "testenv", "context": {"cluster": "testenv", "user": "admin"}}],
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))

    def _wait_ready(self, pki: Path, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for name, pid in self.pids.items():
                if not _alive(pid):
                    tail = (self.root / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise TestEnvError(f"{name} exited during start-up:\n{tail}")
            try:
                readyz = f"{self.server}/readyz"  # always https on loopback
                with urllib.request.urlopen(readyz, context=context, timeout=5) as reply:  # noqa: S310
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.25)
        raise TestEnvError(f"kube-apiserver not ready after {timeout:.0f}s: {last}")

    def stop_apiserver(self) -> None:
        """Stop the API server alone; etcd and its data stay, for `start_apiserver`."""
        _terminate(self.pids.pop("kube-apiserver"))

    def start_apiserver(self, timeout: float = 120.0) -> None:
        """Start the API server again as it was (same port, same etcd), as after an upgrade or a crash of
        the control plane; returns once it answers /readyz."""
        self._spawn("kube-apiserver", self.commands["kube-apiserver"])
        self._wait_ready(self.root / "pki", timeout)

    def kubectl(self, *args: str) -> str:
        done = subprocess.run(
            [str(KUBE_BIN / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise TestEnvError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        """Stop both processes (API server first) and remove every file of the run."""
        if not self.pids and self._state.exists():
            self.pids = json.loads(self._state.read_text())["pids"]
        for name in ("kube-apiserver", "etcd"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                _terminate(pid)
        shutil.rmtree(self.root, ignore_errors=True)

    @classmethod
    def load(cls, root: Path) -> TestEnv:
        state = json.loads((root / "state.json").read_text())
        return cls(root=root, api_port=state["api_port"], pids=state["pids"])


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        # Not our child (started by an earlier `up`): ask the kernel instead.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return waited == 0


def _terminate(pid: int, grace: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)


@contextlib.contextmanager
def running(root: Path | None = None) -> Iterator[TestEnv]:
    """A test environment for the duration of a `with` block, in a fresh temporary folder."""
    env = TestEnv(root=root or Path(tempfile.mkdtemp(prefix="multus-testenv-")))
    env.start()
    try:
        yield env
    finally:
        env.stop()


def shell_exports(env: TestEnv) -> str:
    """The lines a person runs to use `env` from a shell: nothing puts the built kubectl on PATH."""
    kubeconfig, kubectl_dir = shlex.quote(str(env.kubeconfig)), shlex.quote(str(KUBE_BIN))
    return f'export KUBECONFIG={kubeconfig}\nexport PATH={kubectl_dir}:"$PATH"\n'


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] not in ("up", "down"):
        print("usage: python -m tests.testenv up|down [DIR]", file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) == 2 else DEFAULT_DIR
    try:
        if argv[0] == "up":
            env = TestEnv(root=root)
            env.start()
            print(f"# kube-apiserver is up at {env.server}; to use it from this shell, run:")
            print(shell_exports(env), end="")
        elif (root / "state.json").exists():
            TestEnv.load(root).stop()
        else:
            shutil.rmtree(root, ignore_errors=True)
    except TestEnvError as error:
        print(f"testenv: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
