"""A real containerd for tests, with its root, state, sockets and log under one folder.

`running(flavour, root, cni_conf_dir, cni_bin_dirs)` starts Debian's containerd 1.6 or containerd 2.2
(built by tools/build-components.sh) with its CRI plugin ready for pod sandboxes: runc from Debian,
cgroupfs, the overlayfs snapshotter, and a pause image built here (no registry is reachable).
`crictl()` drives it as the kubelet would. Stopping removes every pod sandbox through CRI (so the CNI
DELs run), then leaves no containerd, shim, pause process, mount under `root` or sandbox netns behind.

Outside `root`, as containerd has them: sandbox network namespaces in /var/run/netns (CNI_NETNS), libcni's
result cache in /var/lib/cni/results (containerd names no cache dir), shim sockets in /run/containerd/s,
the pods' cgroups under `k8s.io`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import netns

from tests.testenv import CACHE

FLAVOURS = ("containerd-1.6", "containerd-2.2")
# Where each flavour's containerd, containerd-shim-runc-v2 and ctr are, and what `--version` says.
_BINARIES = {"containerd-1.6": Path("/usr/bin"), "containerd-2.2": CACHE / "containerd-bin"}
_VERSIONS = {"containerd-1.6": " 1.6.", "containerd-2.2": " v2.2."}
RUNC = Path("/usr/sbin/runc")
CRICTL = CACHE / "crictl-bin" / "crictl"
NAMESPACE = "k8s.io"  # CRI's containerd namespace

PAUSE_SOURCE = Path(__file__).resolve().with_name("pause.c")
_PAUSE_KEY = hashlib.sha256(PAUSE_SOURCE.read_bytes()).hexdigest()[:12]
PAUSE_IMAGE = f"localhost/multus-py/pause:{_PAUSE_KEY}"

# Plugins that cannot work here (no such filesystem) or that would share a machine-wide socket
# (NRI's /var/run/nri/nri.sock) between concurrent containerds.
_DISABLED_PLUGINS = [
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.nri.v1.nri",
]
SOCKET_PATH_LIMIT = 107  # sun_path holds 108 bytes with the terminating NUL
START_SECONDS = 60.0
STOP_SECONDS = 20.0
CRICTL_TIMEOUT = "120s"  # 20 sandboxes at once in thin mode take a minute on 2 cores


class CrictlError(RuntimeError):
    """crictl exited with an error; `stderr` holds what the runtime said."""

    def __init__(self, args: tuple[str, ...], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(f"crictl {' '.join(args)} exited with {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


@dataclass
class Containerd:
    """One containerd; every path of its own lives under `root` (short: it holds the sockets)."""

    flavour: str
    root: Path
    cni_conf_dir: Path
    cni_bin_dirs: list[Path]
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def socket(self) -> Path:
        return self.root / "c.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def binaries(self) -> Path:
        return _BINARIES[self.flavour]

    @property
    def log_path(self) -> Path:
        return self.root / "containerd.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Containerd:
        """Writes the config, starts containerd, waits until CRI answers, imports the pause image."""
        assert not self.running, "already running"
        ttrpc = self.socket.with_name("c.sock.ttrpc")
        assert len(str(ttrpc)) <= SOCKET_PATH_LIMIT, f"{self.root} is too long a root for its sockets"
        version = self._run(str(self.binaries / "containerd"), "--version")
        assert _VERSIONS[self.flavour] in version, f"{self.flavour}: {version}"
        for folder in ("lib", "run", "tmp", "opt"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        _share_netns_folder()
        config = self.root / "config.toml"
        config.write_text(_toml(self._config(ttrpc)))
        (self.root / "crictl.yaml").write_text(f"runtime-endpoint: {self.endpoint}\n")
        # containerd 2.x must find its own runc shim before Debian's (1.6) one in /usr/bin.
        env = {**os.environ, "PATH": f"{self.binaries}{os.pathsep}{os.environ.get('PATH', '')}"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.binaries / "containerd"),
                    "--config",
                    str(config),
                    "--address",
                    str(self.socket),
                    "--root",
                    str(self.root / "lib"),
                    "--state",
                    str(self.root / "run"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a ^C meant for pytest must not skip the clean stop
            )
        self._wait_for_cri()
        self._run(
            str(self.binaries / "ctr"),
            "--address",
            str(self.socket),
            "--namespace",
            NAMESPACE,
            "images",
            "import",
            str(pause_archive()),
        )
        self._wait("the pause image in CRI", lambda: self._crictl("inspecti", PAUSE_IMAGE).returncode == 0)
        return self

    def stop(self) -> None:
        """Removes every pod sandbox through CRI (the CNI DELs run), stops containerd (SIGTERM, then
        kill), and then what a failure left: containers, shims, mounts under `root`, sandbox netns."""
        if self.running:
            for pod_id in self.crictl("pods", "-q", check=False).split():
                self.crictl("stopp", pod_id, check=False)
                self.crictl("rmp", pod_id, check=False)
        self._terminate()
        self._sweep()

    def restart(self) -> None:
        """Stops containerd alone (its shims and pods live on, as in a real restart) and starts it again."""
        self._terminate()
        self.start()

    def crictl(self, *args: str, check: bool = True) -> str:
        """crictl against this containerd; its stdout. Raises CrictlError on failure when `check`."""
        done = self._crictl(*args)
        if check and done.returncode != 0:
            raise CrictlError(args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def crictl_json(self, *args: str) -> Any:
        """crictl's JSON output (`-o json` is added after the subcommand)."""
        command, *rest = args
        return json.loads(self.crictl(command, "-o", "json", *rest))

    def pod_ids(self) -> list[str]:
        return self.crictl("pods", "-q").split()

    def netns_of(self, pod_id: str) -> str:
        """The path of the sandbox's network namespace, as CRI gives it to CNI (CNI_NETNS)."""
        spec = self.crictl_json("inspectp", pod_id)["info"]["runtimeSpec"]
        path: str = next(ns["path"] for ns in spec["linux"]["namespaces"] if ns["type"] == "network")
        return path

    def cni_network_names(self) -> list[str]:
        """The CNI networks CRI has loaded (loopback first, then the conf dir's first config)."""
        loaded = self.crictl_json("info")["cniconfig"]["Networks"] or []
        return [network["Config"]["Name"] for network in loaded]

    def log_tail(self, lines: int = 50) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # internals ----------------------------------------------------------------------------------

    def _config(self, ttrpc: Path) -> dict[str, Any]:
        runc = {
            "runtime_type": "io.containerd.runc.v2",
            "options": {"BinaryName": str(RUNC), "Root": str(self.root / "runc"), "SystemdCgroup": False},
        }
        conf_dir = str(self.cni_conf_dir)
        common: dict[str, Any] = {
            "root": str(self.root / "lib"),
            "state": str(self.root / "run"),
            "temp": str(self.root / "tmp"),
            "disabled_plugins": _DISABLED_PLUGINS,
            "grpc": {"address": str(self.socket)},
            "ttrpc": {"address": str(ttrpc)},
        }
        opt = {"path": str(self.root / "opt")}  # otherwise /opt/containerd
        if self.flavour == "containerd-1.6":
            cri = {
                "sandbox_image": PAUSE_IMAGE,
                # runc fails here setting the pause container's oom_score_adj of -998 ("can't get final
                # child's PID from pipe"); restricted, it stays at containerd's own.
                "restrict_oom_score_adj": True,
                "containerd": {
                    "snapshotter": "overlayfs",
                    "default_runtime_name": "runc",
                    "runtimes": {"runc": runc},
                },
                # containerd 1.6 takes one bin dir: the given ones are merged into it.
                "cni": {"bin_dir": str(self._merged_bin_dir()), "conf_dir": conf_dir, "max_conf_num": 1},
            }
            return {
                "version": 2,
                **common,
                "plugins": {"io.containerd.internal.v1.opt": opt, "io.containerd.grpc.v1.cri": cri},
            }
        images = {"snapshotter": "overlayfs", "pinned_images": {"sandbox": PAUSE_IMAGE}}
        runtime = {
            "restrict_oom_score_adj": True,
            "containerd": {"default_runtime_name": "runc", "runtimes": {"runc": runc}},
            "cni": {
                "bin_dirs": [str(path) for path in self.cni_bin_dirs],
                "conf_dir": conf_dir,
                "max_conf_num": 1,
            },
        }
        plugins = {
            "io.containerd.internal.v1.opt": opt,
            "io.containerd.cri.v1.images": images,
            "io.containerd.cri.v1.runtime": runtime,
        }
        return {"version": 3, **common, "plugins": plugins}

    def _merged_bin_dir(self) -> Path:
        """One folder of links to the plugins of `cni_bin_dirs` (the first dir naming a plugin wins),
        made at each start: a plugin added to a bin dir later is not seen before a restart."""
        merged = self.root / "cni-bin"
        shutil.rmtree(merged, ignore_errors=True)
        merged.mkdir()
        for folder in self.cni_bin_dirs:
            for plugin in sorted(folder.iterdir()):
                link = merged / plugin.name
                if not link.is_symlink():
                    link.symlink_to(plugin)
        return merged

    def _crictl(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            str(CRICTL),
            "--config",
            str(self.root / "crictl.yaml"),  # not the machine's /etc/crictl.yaml
            "--runtime-endpoint",
            self.endpoint,
            "--image-endpoint",
            self.endpoint,
            "--timeout",
            CRICTL_TIMEOUT,
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)

    def _run(self, *command: str) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, f"{' '.join(command)}: exit {done.returncode}: {done.stderr}"
        return done.stdout

    def _wait(self, what: str, check: Any) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not check():
            if not self.running:
                raise AssertionError(f"{self.flavour} exited while waiting for {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.flavour}: no {what} after {START_SECONDS:g} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def _wait_for_cri(self) -> None:
        def ready() -> bool:
            done = self._crictl("info")
            if done.returncode != 0:
                return False
            conditions = json.loads(done.stdout)["status"]["conditions"]
            return any(c["type"] == "RuntimeReady" and c["status"] for c in conditions)

        self._wait("CRI answer", ready)

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _sweep(self) -> None:
        """Removes what a stop through CRI did not: containers (runc kills them and removes their
        cgroups), shims (their command line names our socket), mounts under root, and the network
        namespaces named by the bundles left in the state dir."""
        bundles = sorted((self.root / "run" / "io.containerd.runtime.v2.task").glob("*/*/config.json"))
        netns_paths = {
            namespace["path"]
            for bundle in bundles
            for namespace in json.loads(bundle.read_text())["linux"].get("namespaces", [])
            if namespace["type"] == "network" and namespace.get("path")
        }
        runc_root = self.root / "runc"
        for namespace in sorted(runc_root.iterdir()) if runc_root.is_dir() else []:
            for container in sorted(namespace.iterdir()):
                subprocess.run(
                    [str(RUNC), "--root", str(namespace), "delete", "--force", container.name],
                    capture_output=True,
                    check=False,
                )
        shims = [pid for pid in _pids() if str(self.socket) in _cmdline(pid)]
        for pid in shims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_SECONDS
        while any(Path(f"/proc/{pid}").exists() for pid in shims) and time.monotonic() < deadline:
            time.sleep(0.05)
        for mount in sorted(_mounts_under(self.root), key=len, reverse=True):
            subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)
        for path in sorted(netns_paths):
            if os.path.exists(path):
                subprocess.run(["umount", "--lazy", path], capture_output=True, check=False)
                with contextlib.suppress(OSError):
                    os.unlink(path)


def _share_netns_folder() -> None:
    """Make /var/run/netns the shared mount iproute2 and pyroute2 make of it on their first namespace.

    containerd mounts its sandboxes' namespaces there without that step; a later first `ip netns add`
    would then bind the folder over itself, hiding those mounts, and StopPodSandbox would fail for ever
    (EBUSY). A throwaway namespace has pyroute2 do the step first.
    """
    name = f"mpy-share-{os.getpid()}"
    netns.create(name)
    netns.remove(name)


@contextmanager
def running(flavour: str, root: Path, cni_conf_dir: Path, cni_bin_dirs: list[Path]) -> Iterator[Containerd]:
    """A started containerd, stopped (pods removed, nothing left) on leaving."""
    containerd = Containerd(flavour, root, cni_conf_dir, list(cni_bin_dirs))
    try:
        yield containerd.start()
    finally:
        containerd.stop()


# the pause image ---------------------------------------------------------------------------------


def pause_archive() -> Path:
    """The pause image as an OCI archive, built once per pause.c into the cache."""
    target = CACHE / f"pause-{_PAUSE_KEY}" / "pause.tar"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        binary = Path(work) / "pause"
        done = subprocess.run(
            [
                "musl-gcc",
                "-static",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-o",
                str(binary),
                str(PAUSE_SOURCE),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"musl-gcc failed on {PAUSE_SOURCE}:\n{done.stderr}"
        partial = Path(work) / "pause.tar"
        partial.write_bytes(oci_archive(binary.read_bytes(), PAUSE_IMAGE))
        partial.replace(target)  # atomic: a concurrent builder writes the same bytes
    return target


def oci_archive(pause: bytes, reference: str) -> bytes:
    """An OCI image layout in a tar: one layer holding /pause, run as the entrypoint, named `reference`."""
    blobs: dict[str, bytes] = {}

    def blob(media_type: str, data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    layer = _tar({"pause": (pause, 0o755)})
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    image_config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": ["/pause"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": blob("application/vnd.oci.image.config.v1+json", _json(image_config)),
        "layers": [blob("application/vnd.oci.image.layer.v1.tar", layer)],
    }
    entry = blob("application/vnd.oci.image.manifest.v1+json", _json(manifest))
    entry["platform"] = {"architecture": arch, "os": "linux"}
    entry["annotations"] = {"org.opencontainers.image.ref.name": reference}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry]}
    files = {
        "oci-layout": (_json({"imageLayoutVersion": "1.0.0"}), 0o644),
        "index.json": (_json(index), 0o644),
        **{f"blobs/sha256/{digest}": (data, 0o644) for digest, data in blobs.items()},
    }
    return _tar(files)


def _tar(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    """A reproducible tar (no times, no owners) of `files`: name -> (content, mode)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


# helpers -----------------------------------------------------------------------------------------


def _toml(table: Mapping[str, Any], name: tuple[str, ...] = ()) -> str:
    """TOML for nested dicts of strings, numbers, booleans and string lists (keys always quoted)."""
    lines = [f"[{'.'.join(name)}]"] if name else []
    lines += [
        f"{json.dumps(key)} = {json.dumps(value)}"
        for key, value in table.items()
        if not isinstance(value, dict)
    ]
    text = "\n".join(lines) + "\n"
    for key, value in table.items():
        if isinstance(value, dict):
            text += _toml(value, (*name, json.dumps(key)))
    return text


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return ""


def _mounts_under(root: Path) -> list[str]:
    """Mount points below `root` (octal escapes of /proc/self/mountinfo decoded)."""
    prefix = f"{root}/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix):
            found.append(point)
    return found
