"""A container runtime in miniature: runs `.venv/bin/multus` as containerd does, and checks what is left.

`Runtime` holds one test's world: a cluster network (bridge + host-local) in a conf dir of its own, the
multus cache folder, the host-local data folder, the test's Kubernetes namespace, and one or more pod
sandboxes (a network namespace, a container ID and a pod object). `leftovers()` lists everything an
attachment can leave behind, so a test asserts `rt.leftovers() == []` after a DEL or a failed ADD.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import random
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from multus.netns import Link, interfaces
from tests.conftest import netns_path, unique_name

REPO = Path(__file__).resolve().parents[3]
MULTUS = REPO / ".venv" / "bin" / "multus"
FAKE_PLUGINS = REPO / "tests" / "fakeplugins"
OWN_FAKE_PLUGINS = Path(__file__).resolve().parent / "fakes"
RESULTS_DIR = Path("/var/lib/cni/results")
NAD_API = ("k8s.cni.cncf.io", "v1")
NAD_PLURAL = "network-attachment-definitions"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
HOLD = "multus-py.io/test-hold"  # a finalizer of the tests' own: a deleted pod stays, terminating
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
CLUSTER_NETWORK = "mpy-cluster"

# Each test's subnets are /24s of 10.2xx.0.0/16: a second octet per run, a counter for the third.
_SECOND_OCTET = random.Random().randrange(200, 230)  # noqa: S311 - not a secret
_subnet_counter = itertools.count(1)


def free_host_port() -> int:
    """A host port for a port mapping, unlikely to be in use by a concurrent run."""
    return random.randrange(20000, 30000)  # noqa: S311 - not a secret


def next_subnet() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"10.{_SECOND_OCTET}.{next(_subnet_counter) % 256}.0/24")


@dataclass
class Reply:
    """What one invocation printed and returned."""

    status: int
    stdout: str
    stderr: str

    @property
    def parsed(self) -> Any:
        """stdout as JSON; None when the plugin printed nothing."""
        return json.loads(self.stdout) if self.stdout.strip() else None

    def ok(self) -> Any:
        assert self.status == 0, f"exit {self.status}: {self.stdout} {self.stderr}"
        self._no_traceback()
        return self.parsed

    def error(self, code: int | None) -> dict[str, Any]:
        """The CNI error printed, after checking it is one, with `code` (None: any), on a non-zero exit."""
        assert self.status != 0, f"expected a failure, got exit 0: {self.stdout}"
        self._no_traceback()
        body = self.parsed
        assert isinstance(body, dict), self.stdout
        assert set(body) <= {"cniVersion", "code", "msg", "details"}, body
        assert body["msg"], body
        assert isinstance(body.get("code"), int), body
        assert code is None or body["code"] == code, body
        return body

    def _no_traceback(self) -> None:
        assert "Traceback" not in self.stdout + self.stderr, self.stderr
        assert '"traceback"' not in self.stderr, self.stderr


@dataclass
class Sandbox:
    """One pod sandbox: the pod object, its network namespace, the infra container's ID."""

    pod_namespace: str
    pod_name: str
    pod_uid: str
    netns_name: str
    container_id: str = field(default_factory=lambda: f"mpy{uuid.uuid4().hex[:20]}")

    @property
    def netns(self) -> str:
        return netns_path(self.netns_name)


@dataclass
class BridgeNet:
    """A bridge + host-local network config with a bridge and a /24 of its own."""

    config: dict[str, Any]
    subnet: ipaddress.IPv4Network
    bridge: str

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)


class Runtime:
    node_name = "node-a"  # the spec.nodeName of the pods made

    def __init__(
        self,
        *,
        api: client.ApiClient,
        kubeconfig: Path,
        cni_bin: Path,
        root: Path,
        namespace: str,
        netns_name: str,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.kubeconfig = kubeconfig
        self.cni_bin = cni_bin
        self.root = root
        self.namespace = namespace
        self.conf_dir = root / "conf"
        self.cni_dir = root / "multus"
        self.ipam_dir = root / "ipam"
        self.conf_dir.mkdir()
        self.bridges: list[str] = []
        self.own_netns: list[str] = []
        self.own_namespaces: list[str] = []
        self.sandboxes: list[Sandbox] = []
        self.held: list[Sandbox] = []
        self.cluster = self.bridge_net(CLUSTER_NETWORK)
        self.write_conf("10-cluster.conflist", self.cluster.config)
        self._first_netns = netns_name
        self._sandbox: Sandbox | None = None

    # configs --------------------------------------------------------------------------------------

    def bridge_net(
        self, name: str, *, after: list[dict[str, Any]] | None = None, default_route: bool = True
    ) -> BridgeNet:
        """`bridge` (+ `after` plugins) with host-local; with `default_route`, host-local returns a
        default route via the bridge's gateway, as a cluster network does."""
        subnet, bridge = next_subnet(), unique_name("mpy")
        self.bridges.append(bridge)
        ipam: dict[str, Any] = {
            "type": "host-local",
            "dataDir": str(self.ipam_dir),
            "ranges": [[{"subnet": str(subnet)}]],
        }
        net = BridgeNet({}, subnet, bridge)
        if default_route:
            ipam["routes"] = [{"dst": "0.0.0.0/0", "gw": net.gateway}]
        plugins = [{"type": "bridge", "bridge": bridge, "isGateway": True, "ipam": ipam}, *(after or [])]
        net.config = {"cniVersion": "1.1.0", "name": name, "plugins": plugins}
        return net

    def paused_net(self, name: str) -> tuple[BridgeNet, Path, Path]:
        """`bridge_net` followed by fake-pause: the network, the file that appears once the list has
        reached the pause, and the file whose creation lets it go on."""
        started, release = self.root / f"{name}-started", self.root / f"{name}-release"
        pause = {"type": "fake-pause", "startedFile": str(started), "releaseFile": str(release)}
        return self.bridge_net(name, default_route=False, after=[pause]), started, release

    def sleeping_net(self, name: str, seconds: float) -> tuple[BridgeNet, Path]:
        """`bridge_net` followed by fake-sleep for `seconds`: the network, and the file that appears once
        the list has reached the sleep."""
        started = self.root / f"{name}-started"
        sleep = {"type": "fake-sleep", "sleepSeconds": seconds, "startedFile": str(started)}
        return self.bridge_net(name, default_route=False, after=[sleep]), started

    def dual_stack_net(self, name: str, *, default_route: bool) -> tuple[BridgeNet, ipaddress.IPv6Network]:
        """Like `bridge_net`, with an IPv6 /64 beside the IPv4 /24 (and default routes of both families)."""
        net = self.bridge_net(name, default_route=default_route)
        v4 = net.subnet.network_address.packed
        subnet6 = ipaddress.IPv6Network(f"fd00:10:{v4[1]}:{v4[2]}::/64")
        ipam = net.config["plugins"][0]["ipam"]
        ipam["ranges"].append([{"subnet": str(subnet6)}])
        if default_route:
            ipam["routes"].append({"dst": "::/0", "gw": str(subnet6.network_address + 1)})
        return net, subnet6

    def write_conf(self, file_name: str, config: dict[str, Any]) -> Path:
        path = self.conf_dir / file_name
        path.write_text(json.dumps(config))
        return path

    def multus_config(self, **overrides: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "cniVersion": "1.1.0",
            "name": "multus-cni-network",
            "type": "multus",
            "kubeconfig": str(self.kubeconfig),
            "clusterNetwork": CLUSTER_NETWORK,
            "confDir": str(self.conf_dir),
            "cniDir": str(self.cni_dir),
            "binDir": str(self.cni_bin),
            "apiTimeouts": {"requestSeconds": 5, "retries": 1, "backoffSeconds": 0.1},
        }
        config.update(overrides)
        return {key: value for key, value in config.items() if value is not None}

    def dead_kubeconfig(self) -> Path:
        """A copy of the kubeconfig whose server is a port nobody listens on."""
        kubeconfig = json.loads(self.kubeconfig.read_text())
        kubeconfig["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
        path = self.root / "dead-kubeconfig"
        path.write_text(json.dumps(kubeconfig))
        return path

    # Kubernetes objects ---------------------------------------------------------------------------

    def nad(
        self,
        name: str,
        config: dict[str, Any] | str | None,
        *,
        namespace: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        spec = {} if config is None else {"config": config if isinstance(config, str) else json.dumps(config)}
        body = {
            "apiVersion": "/".join(NAD_API),
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "annotations": dict(annotations or {})},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(*NAD_API, namespace or self.namespace, NAD_PLURAL, body)

    def delete_nad(self, name: str, namespace: str | None = None) -> None:
        self.custom.delete_namespaced_custom_object(*NAD_API, namespace or self.namespace, NAD_PLURAL, name)

    def make_namespace(self) -> str:
        name = unique_name("t-")
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        self.own_namespaces.append(name)
        return name

    def pod(
        self,
        networks: str | list[dict[str, Any]] | None = None,
        *,
        annotations: Mapping[str, str] | None = None,
        namespace: str | None = None,
        own_netns: bool = False,
    ) -> Sandbox:
        """A pod (just data: no kubelet runs it) and a sandbox for it; the first one uses the test's
        netns unless `own_netns`, later ones get a netns of their own (which a test may remove)."""
        name, uid = self.pod_object(networks, annotations=annotations, namespace=namespace)
        sandbox = Sandbox(namespace or self.namespace, name, uid, self._next_netns(own_netns))
        self.sandboxes.append(sandbox)
        self._sandbox = self._sandbox or sandbox
        return sandbox

    def pod_object(
        self,
        networks: str | list[dict[str, Any]] | None = None,
        *,
        annotations: Mapping[str, str] | None = None,
        namespace: str | None = None,
    ) -> tuple[str, str]:
        """A pod object with `networks` annotated, under a new name: its name and UID."""
        merged = dict(annotations or {})
        if networks is not None:
            merged[NETWORKS] = networks if isinstance(networks, str) else json.dumps(networks)
        name = unique_name("pod-")
        return name, self.create_pod_object(namespace or self.namespace, name, merged)

    def create_pod_object(self, namespace: str, name: str, annotations: Mapping[str, str]) -> str:
        """Create the pod object on `node_name`; its UID."""
        created = self.core.create_namespaced_pod(
            namespace,
            client.V1Pod(
                metadata=client.V1ObjectMeta(name=name, annotations=dict(annotations)),
                spec=client.V1PodSpec(
                    node_name=self.node_name, containers=[client.V1Container(name="c", image="pause")]
                ),
            ),
        )
        assert created.metadata is not None
        return str(created.metadata.uid)

    def delete_pod_object(self, sandbox: Sandbox | None = None) -> None:
        box = sandbox or self.sandbox
        self.core.delete_namespaced_pod(box.pod_name, box.pod_namespace, grace_period_seconds=0)

    def delete_pod_held(self, sandbox: Sandbox | None = None) -> None:
        """Delete the pod object, which then stays, terminating (as while a kubelet stops its sandbox),
        until the test's cleanup lets it go."""
        box = sandbox or self.sandbox
        self.core.patch_namespaced_pod(box.pod_name, box.pod_namespace, {"metadata": {"finalizers": [HOLD]}})
        self.held.append(box)
        self.delete_pod_object(box)

    def _next_netns(self, own: bool) -> str:
        if not self.sandboxes and not own:
            return self._first_netns
        name = unique_name("mt-")
        netns.create(name)
        self.own_netns.append(name)
        with IPRoute(netns=name, flags=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        return name

    @property
    def sandbox(self) -> Sandbox:
        assert self._sandbox is not None, "make a pod first"
        return self._sandbox

    def read_pod(self, sandbox: Sandbox | None = None) -> client.V1Pod:
        box = sandbox or self.sandbox
        return self.core.read_namespaced_pod(box.pod_name, box.pod_namespace)

    def resource_version(self, sandbox: Sandbox | None = None) -> str:
        """The pod's resourceVersion: it changes with every write to the pod."""
        metadata = self.read_pod(sandbox).metadata
        assert metadata is not None
        return str(metadata.resource_version)

    def network_status(self, sandbox: Sandbox | None = None) -> list[dict[str, Any]] | None:
        metadata = self.read_pod(sandbox).metadata
        assert metadata is not None
        annotations = metadata.annotations or {}
        value = annotations.get(NETWORK_STATUS)
        return None if value is None else json.loads(value)

    def events(self, sandbox: Sandbox | None = None) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the pod's Events, sorted: their timestamps have only seconds."""
        box = sandbox or self.sandbox
        found = self.core.list_namespaced_event(
            box.pod_namespace, field_selector=f"involvedObject.name={box.pod_name}"
        ).items
        return sorted((str(event.type), str(event.reason), str(event.message)) for event in found)

    # invoking the plugin --------------------------------------------------------------------------

    def start(
        self,
        command: str,
        *,
        config: Mapping[str, Any] | None = None,
        stdin: bytes | None = None,
        sandbox: Sandbox | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> subprocess.Popen[bytes]:
        """One invocation as containerd makes it, started; `env` overrides variables (None removes one)."""
        box = sandbox or self.sandbox
        pod_args = [
            f"K8S_POD_NAMESPACE={box.pod_namespace}",
            f"K8S_POD_NAME={box.pod_name}",
            f"K8S_POD_INFRA_CONTAINER_ID={box.container_id}",
            f"K8S_POD_UID={box.pod_uid}",
        ]
        # containerd has no fixed order; seeded so a failure replays the same way.
        random.Random(f"{box.container_id}{command}").shuffle(pod_args)  # noqa: S311 - not a secret
        variables: dict[str, str | None] = {
            **os.environ,
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": box.container_id,
            "CNI_NETNS": box.netns,
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": ";".join(["IgnoreUnknown=1", *pod_args]),
            "CNI_PATH": os.pathsep.join(map(str, (self.cni_bin, FAKE_PLUGINS, OWN_FAKE_PLUGINS))),
            **(env or {}),
        }
        with tempfile.TemporaryFile() as body:
            body.write(stdin if stdin is not None else json.dumps(config or self.multus_config()).encode())
            body.seek(0)
            return subprocess.Popen(
                [str(MULTUS)],
                stdin=body,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={key: value for key, value in variables.items() if value is not None},
            )

    def run(self, command: str, **kwargs: Any) -> Reply:
        """One invocation, to its end."""
        process = self.start(command, **kwargs)
        stdout, stderr = process.communicate(timeout=120)
        return Reply(process.returncode, stdout.decode(), stderr.decode())

    def add(self, sandbox: Sandbox | None = None, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.run("ADD", sandbox=sandbox, **kwargs).ok()
        return result

    def delete(self, sandbox: Sandbox | None = None, **kwargs: Any) -> None:
        assert self.run("DEL", sandbox=sandbox, **kwargs).ok() is None

    def check(self, sandbox: Sandbox | None = None, **kwargs: Any) -> None:
        assert self.run("CHECK", sandbox=sandbox, **kwargs).ok() is None

    # what is there --------------------------------------------------------------------------------

    def links(self, sandbox: Sandbox | None = None) -> dict[str, Link]:
        """The sandbox's interfaces other than `lo`, by name; none once the netns is gone."""
        path = (sandbox or self.sandbox).netns
        if not os.path.exists(path):
            return {}
        present = interfaces(path)
        return {name: iface for name, iface in present.items() if name != "lo"}

    def cache_file(self, sandbox: Sandbox | None = None) -> Path:
        return self.cni_dir / (sandbox or self.sandbox).container_id

    def result_cache_files(self, sandbox: Sandbox | None = None) -> list[Path]:
        container_id = (sandbox or self.sandbox).container_id
        if not RESULTS_DIR.is_dir():
            return []
        return sorted(path for path in RESULTS_DIR.iterdir() if f"-{container_id}-" in path.name)

    def ipam_allocations(self, sandbox: Sandbox | None = None) -> list[Path]:
        """host-local's leases (files named after the address, holding the container ID) of the sandbox."""
        container_id = (sandbox or self.sandbox).container_id
        if not self.ipam_dir.is_dir():
            return []
        return sorted(
            path
            for path in self.ipam_dir.rglob("*")
            if path.is_file() and _is_ip(path.name) and path.read_text().startswith(container_id)
        )

    def bridge_ports(self) -> list[str]:
        """Host-side veth ends still attached to this test's bridges."""
        with IPRoute() as ipr:
            bridges = {link["index"]: link.get("IFLA_IFNAME") for link in ipr.get_links()}
            ours = {index for index, name in bridges.items() if name in self.bridges}
            return [
                f"{link.get('IFLA_IFNAME')} on {bridges[link.get('IFLA_MASTER')]}"
                for link in ipr.get_links()
                if link.get("IFLA_MASTER") in ours
            ]

    def leftovers(self, sandbox: Sandbox | None = None, *, keep_links: tuple[str, ...] = ()) -> list[str]:
        """Everything of the sandbox's attachments still present; [] when all is clean.

        Host-side bridge ports count only with a single sandbox: with several, whose port it is cannot
        be told, and the netns check already covers both ends of a veth pair.
        """
        box = sandbox or self.sandbox
        found = [
            f"link {name} {iface.addresses} in the netns"
            for name, iface in self.links(box).items()
            if name not in keep_links
        ]
        if len(self.sandboxes) == 1:
            found += [f"host port {port}" for port in self.bridge_ports()]
        if self.cache_file(box).exists():
            found.append(f"attachment cache {self.cache_file(box)}")
        found += [f"result cache {path}" for path in self.result_cache_files(box)]
        found += [f"IPAM allocation {path}" for path in self.ipam_allocations(box)]
        found += [f"iptables rule {rule}" for rule in nat_rules(box.container_id)]
        return found

    # teardown -------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Undo whatever a failed test left: DEL what is cached, then remove bridges and namespaces."""
        for box in self.sandboxes:
            if self.cache_file(box).exists() or self.result_cache_files(box):
                with contextlib.suppress(Exception):
                    self.run("DEL", sandbox=box, config=self.multus_config(delegateTimeoutSeconds=2))
            for path in self.result_cache_files(box):
                path.unlink(missing_ok=True)
        for box in self.held:
            with contextlib.suppress(client.ApiException):
                self.core.patch_namespaced_pod(
                    box.pod_name, box.pod_namespace, {"metadata": {"finalizers": None}}
                )
        with IPRoute() as ipr:
            for bridge in self.bridges:
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", ifname=bridge)
        for name in self.own_netns:
            with contextlib.suppress(OSError):
                netns.remove(name)
        for name in self.own_namespaces:
            with contextlib.suppress(client.ApiException):
                self.core.delete_namespace(name)


def answers_in_version(rt: Runtime, version: str) -> None:
    """Everything `rt`'s plugin answers to a config of `version` is in that version: ADD's result
    (converted: `ips[].version` before 1.0.0 only), VERSION, and errors, those found before the config
    is read included. CHECK and DEL succeed, and leave nothing."""
    config = rt.multus_config(cniVersion=version)
    box = rt.pod()
    lost = rt.pod("no-such-network", own_netns=True)

    result = rt.add(box, config=config)
    answers = {
        "VERSION": rt.run("VERSION", config=config).ok(),
        "missing NAD": rt.run("ADD", sandbox=lost, config=config).error(103),
        "bad environment": rt.run("ADD", sandbox=lost, config=config, env={"CNI_IFNAME": "x" * 16}).error(4),
        "bad config": rt.run("ADD", sandbox=lost, config={**config, "logLevel": "loud"}).error(7),
    }

    assert result["cniVersion"] == version
    assert [ip["address"] for ip in result["ips"]] == rt.links(box)["eth0"].addresses
    assert [("version" in ip) for ip in result["ips"]] == [version.startswith("0.")]
    versions = {what: answer["cniVersion"] for what, answer in answers.items()}
    assert versions == dict.fromkeys(answers, version), answers
    assert answers["VERSION"]["supportedVersions"] == [
        "0.1.0",
        "0.2.0",
        "0.3.0",
        "0.3.1",
        "0.4.0",
        "1.0.0",
        "1.1.0",
    ]
    rt.check(box, config=config)
    rt.delete(box, config=config)
    rt.delete(lost, config=config)
    assert rt.leftovers(box) == []
    assert rt.leftovers(lost) == []


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{condition} still false after {timeout} s"
        time.sleep(0.05)


def address_in(iface: Link, net: BridgeNet) -> str:
    """The interface's one address, checked to lie in `net`'s subnet."""
    assert len(iface.addresses) == 1, iface
    assert ipaddress.ip_interface(iface.addresses[0]).network == net.subnet, (iface, net.subnet)
    return iface.addresses[0]


def nat_rules(container_id: str) -> list[str]:
    """iptables nat rules mentioning the container (portmap tags its rules with the container ID)."""
    saved = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=False)
    return [line for line in saved.stdout.splitlines() if container_id in line]


def netns_routes(sandbox: Sandbox, version: int = 4) -> list[tuple[str, str | None, str]]:
    """Routes of the sandbox's main table as (destination/len, gateway, interface)."""
    unspecified, family = ("0.0.0.0", socket.AF_INET) if version == 4 else ("::", socket.AF_INET6)  # noqa: S104
    with IPRoute(netns=sandbox.netns_name, flags=0) as ipr:
        names = {link["index"]: link.get("IFLA_IFNAME") for link in ipr.get_links()}
        return sorted(
            (
                f"{route.get('RTA_DST') or unspecified}/{route['dst_len']}",
                route.get("RTA_GATEWAY"),
                names.get(route.get("RTA_OIF"), "?"),
            )
            for route in ipr.get_routes(family=family, table=254)
        )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
