"""The bad-input corpus: every case enumerated from tables of mutations (no randomness), each with the
names its error message must carry.

A case is one request that must fail with a CNI error naming what is wrong, whichever path carries it:
the in-process plugin (`thin`) or the native shim to the daemon (`thick`). What it changes:
- `networks` / `default_network`: the pod's annotations (a pod per case);
- `nad`: the config of a NetworkAttachmentDefinition the pod's annotation names;
- `env`: CNI variables (None removes one);
- `config`: keys of the multus config on stdin, or `stdin`, bytes replacing it (thin only: the shim
  needs a readable `socketDir` to reach the daemon at all).
`RAW` cases are bytes written to the daemon's socket, each with the HTTP status it must get.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
GOOD = "good"  # a NAD (bridge + host-local) every pod may name; the case's own breaks something else


@dataclass(frozen=True)
class Case:
    id: str
    fields: tuple[str, ...]  # each must appear in the error's msg
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    nad: dict[str, Any] | str | None = field(default=None, hash=False)  # spec.config of the case's NAD
    env: dict[str, str | None] = field(default_factory=dict, hash=False)
    config: dict[str, Any] = field(default_factory=dict, hash=False)  # merged over the multus config
    stdin: bytes | None = None
    thick: bool = True  # whether the shim can carry it to the daemon
    del_succeeds: bool = True  # whether the runtime's DEL that follows must succeed


@dataclass(frozen=True)
class RawCase:
    id: str
    data: bytes
    status: int
    fields: tuple[str, ...]
    half_close: bool = False  # end the sending side after the data (a request cut short)


# annotations --------------------------------------------------------------------------------------

_COMMA_FORMS: list[tuple[str, tuple[str, ...]]] = [
    (f"{GOOD},,{GOOD}", ("element 1", "empty")),
    (f"{GOOD},", ("element 1", "empty")),
    (f",{GOOD}", ("element 0", "empty")),
    (f"ns/{GOOD}/x", ("element 0", "'/'")),
    (f"{GOOD}@a@b", ("element 0", "'@'")),
    (f"{GOOD}@", ("interface name",)),
    (f"/{GOOD}", ("namespace",)),
    ("ns/", ("network name",)),
    ("GOOD", ("network name",)),
    ("-bad", ("network name",)),
    ("bad-", ("network name",)),
    ("a_b", ("network name",)),
    ("\u00e9t\u00e9", ("network name",)),
    ("a" * 64, ("network name", "64 characters")),
    ("a" * 300, ("network name", "300 characters")),
    (f"{'n' * 64}/{GOOD}", ("namespace",)),
    (f"{GOOD}@{'x' * 16}", ("interface name", "16 bytes")),
    (f"{GOOD}@a:b", ("interface name",)),
    (f"{GOOD}@a b", ("interface name",)),
    (f"{GOOD}@.", ("interface name",)),
    (f"{GOOD}@..", ("interface name",)),
    (f"{GOOD}@\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", ("interface name", "16 bytes")),
    (f"{GOOD}@et\u00a0h0", ("interface name",)),
    (f"{GOOD}@net\x01", ("interface name",)),
    ("x/y/z@a@b", ("element 0",)),
]

_JSON_ELEMENT_KEYS: list[tuple[str, object, tuple[str, ...]]] = [
    ("name", 5, ('"name"',)),
    ("name", "", ('"name"',)),
    ("name", None, ('"name"',)),
    ("name", "A", ('"name"',)),
    ("name", "a" * 64, ('"name"',)),
    ("name", ["good"], ('"name"',)),
    ("name", "ns/good", ('"name"',)),
    ("namespace", 5, ('"namespace"',)),
    ("namespace", "A", ('"namespace"',)),
    ("namespace", "a/b", ('"namespace"',)),
    ("interface", 5, ('"interface"',)),
    ("interface", "a/b", ('"interface"',)),
    ("interface", "x" * 16, ('"interface"',)),
    ("interface", "..", ('"interface"',)),
    ("interface", "a b", ('"interface"',)),
    ("interfaceRequest", "a:b", ('"interfaceRequest"',)),
    ("ips", "10.1.1.1", ('"ips"',)),
    ("ips", [5], ('"ips[0]"',)),
    ("ips", ["bogus"], ('"ips[0]"',)),
    ("ips", ["10.1.1.1/33"], ('"ips[0]"',)),
    ("ips", ["fe80::1%eth0"], ('"ips[0]"',)),
    ("ips", ["010.1.1.1"], ('"ips[0]"',)),
    ("ips", ["10.1.1.1", "x"], ('"ips[1]"',)),
    ("mac", "zz", ('"mac"',)),
    ("mac", 5, ('"mac"',)),
    ("mac", "00:11:22:33:44", ('"mac"',)),
    ("mac", "00:11:22:33:44:55:66", ('"mac"',)),
    ("infiniband-guid", "x", ('"infiniband-guid"',)),
    ("portMappings", {}, ('"portMappings"',)),
    ("portMappings", [{}], ('"portMappings[0].hostPort"',)),
    ("portMappings", [{"hostPort": 0, "containerPort": 80}], ('"portMappings[0].hostPort"',)),
    ("portMappings", [{"hostPort": 70000, "containerPort": 80}], ('"portMappings[0].hostPort"',)),
    ("portMappings", [{"hostPort": "80", "containerPort": 80}], ('"portMappings[0].hostPort"',)),
    ("portMappings", [{"hostPort": 80, "containerPort": 80.5}], ('"portMappings[0].containerPort"',)),
    (
        "portMappings",
        [{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}],
        ('"portMappings[0].protocol"',),
    ),
    ("portMappings", [{"hostPort": 80, "containerPort": 80, "hostIP": "x"}], ('"portMappings[0].hostIP"',)),
    ("bandwidth", [], ('"bandwidth"',)),
    ("bandwidth", {"ingressRate": -1}, ('"bandwidth.ingressRate"',)),
    ("bandwidth", {"ingressRate": "1"}, ('"bandwidth.ingressRate"',)),
    ("bandwidth", {"egressBurst": 2**64}, ('"bandwidth.egressBurst"',)),
    ("cni-args", [], ('"cni-args"',)),
    ("cni-args", "x", ('"cni-args"',)),
    ("default-route", "10.1.1.1", ('"default-route"',)),
    ("default-route", ["x"], ('"default-route[0]"',)),
    ("default-route", ["10.1.1.1", "10.1.1.2"], ('"default-route"', "IPv4")),
    ("ipam-claim-reference", 5, ('"ipam-claim-reference"',)),
    ("deviceID", 5, ('"deviceID"',)),
]

_JSON_FORMS: list[tuple[str, tuple[str, ...]]] = [
    ("[", ("not valid JSON",)),
    ('[{"name": "good"}', ("not valid JSON",)),
    ("{}", ("list of objects",)),
    ('"good"', ("list of objects",)),
    ("[1]", ("element 0",)),
    ("[null]", ("element 0",)),
    ("[[]]", ("element 0",)),
    ("[{}]", ('"name"',)),
    ('[{"name": "good"}, 5]', ("element 1",)),
    ('[{"name": "good", "name": "good"}]', ("twice",)),
    ('[{"name": "good", "ips": [NaN]}]', ("NaN",)),
    ("[" * 100 + "]" * 100, ("nested",)),
    (
        json.dumps(
            [{"name": GOOD, "default-route": ["10.1.1.1"]}, {"name": GOOD, "default-route": ["10.1.1.2"]}]
        ),
        ('"default-route"', "elements 0"),
    ),
]

_DEFAULT_NETWORK_FORMS: list[tuple[str, tuple[str, ...]]] = [
    (f"{GOOD},{GOOD}", ("exactly one",)),
    (json.dumps([{"name": GOOD}, {"name": GOOD}]), ("exactly one",)),
    ("GOOD", ("network name",)),
    ("[", ("not valid JSON",)),
    ("{}", ("list of objects",)),
    ("[{}]", ('"name"',)),
    (f"{GOOD}@a/b", ("namespace 'good@a'",)),
    (f"{GOOD},", ("element 1",)),
    ('[{"name": 5}]', ('"name"',)),
    ('[{"name": "good", "ips": ["x"]}]', ('"ips[0]"',)),
]


def annotation_cases() -> list[Case]:
    cases = [
        Case(f"networks/comma/{index}", (NETWORKS, *names), annotations={NETWORKS: value})
        for index, (value, names) in enumerate(_COMMA_FORMS)
    ]
    for index, (key, value, names) in enumerate(_JSON_ELEMENT_KEYS):
        element = {"name": GOOD, key: value}
        cases.append(
            Case(
                f"networks/json-key/{index}-{key}",
                (NETWORKS, *names),
                annotations={NETWORKS: json.dumps([element])},
            )
        )
    cases += [
        Case(f"networks/json/{index}", (NETWORKS, *names), annotations={NETWORKS: value})
        for index, (value, names) in enumerate(_JSON_FORMS)
    ]
    cases += [
        Case(f"default-network/{index}", (DEFAULT_NETWORK, *names), annotations={DEFAULT_NETWORK: value})
        for index, (value, names) in enumerate(_DEFAULT_NETWORK_FORMS)
    ]
    return cases


# NetworkAttachmentDefinition configs --------------------------------------------------------------


def good_config(subnet: str, data_dir: str) -> dict[str, Any]:
    """A bridge + host-local list: what every NAD case starts from."""
    return {
        "cniVersion": "1.0.0",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "mpyhostile0",
                "ipam": {"type": "host-local", "dataDir": data_dir, "ranges": [[{"subnet": subnet}]]},
            }
        ],
    }


# (what to change, the names the error must carry); `~` in a path is the first plugin.
_NAD_TEXTS: list[tuple[str, tuple[str, ...]]] = [
    ("{", ("spec.config", "not valid JSON")),
    ("[]", ("spec.config", "JSON object")),
    ('"x"', ("spec.config", "JSON object")),
    ("{}", ("spec.config", "'type'", "'plugins'")),
    ('{"type": "bridge", "plugins": []}', ("spec.config", "'type' and 'plugins'")),
    ('{"plugins": "x"}', ("spec.config", "'plugins'")),
    ('{"plugins": []}', ("spec.config", "'plugins'")),
    ('{"plugins": [5]}', ("spec.config", "plugins[0]")),
    ('{"plugins": [{}]}', ("spec.config", "plugins[0].type")),
    ('{"plugins": [{"type": 5}]}', ("spec.config", "plugins[0].type")),
    ('{"type": ""}', ("spec.config", "'type'")),
    ('{"type": "bridge", "type": "bridge"}', ("spec.config", "twice")),
    ('{"type": "bridge", "x": NaN}', ("spec.config", "NaN")),
    (
        '{"type": "bridge", "name": "' + "a" * 250 + '"}',
        ("network name", "250 characters", "CNI_CONTAINERID"),
    ),
]

_NAD_TOP: list[tuple[str, object, tuple[str, ...]]] = [
    ("name", 5, ("name",)),
    ("name", "-bad", ("name",)),
    ("name", "a/b", ("name",)),
    ("name", "a" * 254, ("name", "254 characters")),
    ("name", "a" * 250, ("network name", "250 characters", "CNI_CONTAINERID")),
    ("cniVersion", "x", ("cniVersion",)),
    ("cniVersion", 5, ("cniVersion",)),
    ("cniVersion", "9.9.9", ("9.9.9",)),
    ("cniVersions", "1.0.0", ("cniVersions",)),
    ("disableCheck", "maybe", ("disableCheck",)),
    ("disableGC", 5, ("disableGC",)),
    ("plugins", {}, ("plugins",)),
]

_NAD_PLUGIN: list[tuple[str, object, tuple[str, ...]]] = [
    ("type", "../../bin/sh", ("plugins[0].type",)),
    ("type", "a/b", ("plugins[0].type",)),
    ("type", "no-such-plugin", ("no-such-plugin",)),
    ("capabilities", {"ips": "yes"}, ("plugins[0].capabilities.ips",)),
    ("capabilities", [], ("capabilities",)),
    ("dns", {"nameservers": "x"}, ("plugins[0].dns.nameservers",)),
    ("DNS", {"nameservers": "x"}, ("plugins[0].DNS.nameservers",)),
    ("runtimeConfig", [], ("plugins[0].runtimeConfig",)),
    ("args", [], ("plugins[0].args",)),
    ("prevResult", [], ("plugins[0].prevResult",)),
    ("prevresult", "x", ("plugins[0].prevresult",)),
    ("ipam", "host-local", ("plugins[0].ipam",)),
    ("ipam", [], ("plugins[0].ipam",)),
    ("ipam", {"type": 5}, ("plugins[0].ipam.type",)),
    ("IPAM", "host-local", ("plugins[0].IPAM",)),
    ("mtu", "1500", ("plugins[0].mtu",)),
    ("vlan", 5000, ("plugins[0].vlan",)),
    ("vlanTrunk", [None], ("plugins[0].vlanTrunk[0]",)),
    ("vlanTrunk", [{"minID": 9, "maxID": 3}], ("plugins[0].vlanTrunk[0]",)),
    ("isGateway", "yes", ("plugins[0].isGateway",)),
    ("args", {"cni": {"ips": ["bogus"]}}, ("plugins[0].args.cni.ips[0]",)),
    ("args", {"cni": {"ips": [None]}}, ("plugins[0].args.cni.ips[0]",)),
    ("runtimeConfig", {"ips": ["x"]}, ("plugins[0].runtimeConfig.ips[0]",)),
    (
        "runtimeConfig",
        {"ipRanges": [[{"subnet": "bogus"}]]},
        ("plugins[0].runtimeConfig.ipRanges[0][0].subnet",),
    ),
]

_NAD_IPAM: list[tuple[str, object, tuple[str, ...]]] = [
    ("ranges", [[{"subnet": "bogus"}]], ("ipam.ranges[0][0].subnet",)),
    ("ranges", [[{"subnet": None}]], ("ipam.ranges[0][0].subnet",)),
    ("ranges", [[{"subnet": ""}]], ("ipam.ranges[0][0].subnet",)),
    ("ranges", [[{"subnet": 10}]], ("ipam.ranges[0][0].subnet",)),
    ("ranges", [[{"subnet": "10.9.0.0/31"}]], ("ipam.ranges[0][0].subnet", "too small")),
    ("ranges", [[{"subnet": "10.9.0.1/24"}]], ("ipam.ranges[0][0].subnet", "host bits")),
    ("ranges", [[{"subnet": "::ffff:10.9.0.0/120"}]], ("ipam.ranges[0][0].subnet",)),
    ("ranges", [[{"subnet": "fe80::%eth0/64"}]], ("ipam.ranges[0][0].subnet",)),
    ("ranges", [[{"subnet": "10.9.0.0/24", "gateway": "10.1.1.1"}]], ("ipam.ranges[0][0].gateway",)),
    ("ranges", [[{"subnet": "10.9.0.0/24", "gateway": "x"}]], ("ipam.ranges[0][0].gateway",)),
    ("ranges", [[{"subnet": "10.9.0.0/24", "rangeStart": "10.9.1.1"}]], ("ipam.ranges[0][0].rangeStart",)),
    ("ranges", [[{"subnet": "10.9.0.0/24", "rangeEnd": "fd00::1"}]], ("ipam.ranges[0][0].rangeEnd",)),
    (
        "ranges",
        [[{"subnet": "10.9.0.0/24", "rangeStart": "10.9.0.100", "rangeEnd": "10.9.0.50"}]],
        ("ipam.ranges[0][0]", "rangeStart"),
    ),
    ("ranges", [[{"subnet": "10.9.0.0/24"}, {"subnet": "fd00::/64"}]], ("ipam.ranges[0]", "IPv4 and IPv6")),
    ("ranges", [[{"subnet": "10.9.0.0/24"}], [{"subnet": "10.9.0.0/16"}]], ("ipam.ranges[1][0]", "overlaps")),
    ("ranges", [[]], ("ipam.ranges[0]", "empty")),
    ("ranges", [None], ("ipam.ranges[0]", "empty")),
    ("ranges", [[None]], ("ipam.ranges[0][0]", "subnet")),
    ("ranges", "10.9.0.0/24", ("ipam.ranges",)),
    ("ranges", None, ("ipam", "ranges")),
    ("RANGES", [[{"SUBNET": "bogus"}]], ("ipam.RANGES[0][0].SUBNET",)),
    ("ranges", [[{"\u017fubnet": "bogus"}]], ("ipam.ranges[0][0].\u017fubnet",)),
    ("routes", [{"dst": "bogus"}], ("ipam.routes[0].dst",)),
    ("routes", [{"dst": None}], ("ipam.routes[0].dst",)),
    ("routes", [{"dst": "0.0.0.0/0", "gw": "x"}], ("ipam.routes[0].gw",)),
    ("routes", [{"dst": "0.0.0.0/0", "mtu": 1.5}], ("ipam.routes[0].mtu",)),
    ("routes", [{"dst": "0.0.0.0/0", "table": "5"}], ("ipam.routes[0].table",)),
    ("routes", [{"dst": "0.0.0.0/0", "priority": 2**63}], ("ipam.routes[0].priority",)),
    ("routes", {"dst": "0.0.0.0/0"}, ("ipam.routes",)),
    ("dataDir", 5, ("ipam.dataDir",)),
    ("resolvConf", [], ("ipam.resolvConf",)),
    ("name", 5, ("ipam.name",)),
    ("subnet", "bogus", ("ipam.subnet",)),
    ("subnet", None, ("ipam.subnet",)),
    ("type", 5, ("ipam.type",)),
]

_NAD_STATIC: list[tuple[object, tuple[str, ...]]] = [
    ([{"address": "10.9.0.5"}], ("ipam.addresses[0].address",)),
    ([{}], ("ipam.addresses[0].address",)),
    ([{"address": 5}], ("ipam.addresses[0].address",)),
    ([{"address": "10.9.0.5/24", "gateway": "x"}], ("ipam.addresses[0].gateway",)),
    ([{"Address": "10.9.0.5/24"}], ("ipam.addresses[0].Address",)),
    ("10.9.0.5/24", ("ipam.addresses",)),
]


def nad_cases(subnet: str, data_dir: str) -> list[Case]:
    def case(name: str, config: dict[str, Any] | str, names: tuple[str, ...]) -> Case:
        return Case(f"nad/{name}", names, nad=config)

    cases = [case(f"text/{index}", text, names) for index, (text, names) in enumerate(_NAD_TEXTS)]
    for index, (key, value, names) in enumerate(_NAD_TOP):
        cases.append(case(f"top/{index}-{key}", {**good_config(subnet, data_dir), key: value}, names))
    for index, (key, value, names) in enumerate(_NAD_PLUGIN):
        config = good_config(subnet, data_dir)
        config["plugins"][0][key] = value
        cases.append(case(f"plugin/{index}-{key}", config, names))
    for index, (key, value, names) in enumerate(_NAD_IPAM):
        config = good_config(subnet, data_dir)
        ipam = config["plugins"][0]["ipam"]
        if key.lower() == "ranges":
            del ipam["ranges"]
        ipam[key] = value
        listed = tuple(f"plugins[0].{name}" if name.startswith("ipam.") else name for name in names)
        cases.append(case(f"ipam/{index}-{key}", config, listed))
        # The same change in a single config (no `plugins`): the error names the field as written.
        single = {"cniVersion": "1.0.0", **config["plugins"][0]}
        cases.append(case(f"ipam-single/{index}-{key}", single, names))
    for index, (value, names) in enumerate(_NAD_STATIC):
        config = good_config(subnet, data_dir)
        config["plugins"][0]["ipam"] = {"type": "static", "addresses": value}
        cases.append(case(f"static/{index}", config, tuple(f"plugins[0].{name}" for name in names)))
    return cases


# the CNI environment ------------------------------------------------------------------------------

_ENV: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("CNI_COMMAND", None, ("CNI_COMMAND",)),
    ("CNI_COMMAND", "", ("CNI_COMMAND",)),
    ("CNI_COMMAND", "add", ("CNI_COMMAND",)),
    ("CNI_COMMAND", "DELETE", ("CNI_COMMAND",)),
    ("CNI_COMMAND", "ADD ", ("CNI_COMMAND",)),
    ("CNI_COMMAND", "X" * 5000, ("CNI_COMMAND",)),
    ("CNI_CONTAINERID", None, ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "", ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "-a", ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", ".a", ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "a b", ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "a/b", ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "../../etc/passwd", ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "\u00e4bc", ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "c" * 129, ("CNI_CONTAINERID", "129 characters")),
    ("CNI_CONTAINERID", "c" * 243, ("CNI_CONTAINERID", "243 characters")),
    ("CNI_CONTAINERID", "c" * 100_000, ("CNI_CONTAINERID",)),
    ("CNI_CONTAINERID", "a\nb", ("CNI_CONTAINERID",)),
    ("CNI_NETNS", None, ("CNI_NETNS",)),
    ("CNI_NETNS", "", ("CNI_NETNS",)),
    ("CNI_NETNS", "relative/netns", ("CNI_NETNS", "absolute")),
    ("CNI_NETNS", "/nonexistent/netns", ("network namespace /nonexistent/netns",)),
    ("CNI_NETNS", "/etc/hostname", ("CNI_NETNS",)),
    ("CNI_NETNS", "/dev/null", ("CNI_NETNS",)),
    ("CNI_NETNS", "/tmp", ("CNI_NETNS",)),
    ("CNI_NETNS", "/var/run/netns/" + "n" * 300, ("CNI_NETNS",)),
    ("CNI_NETNS", "/" + "n/" * 2100, ("CNI_NETNS",)),
    ("CNI_IFNAME", None, ("CNI_IFNAME",)),
    ("CNI_IFNAME", "", ("CNI_IFNAME",)),
    ("CNI_IFNAME", ".", ("CNI_IFNAME",)),
    ("CNI_IFNAME", "..", ("CNI_IFNAME",)),
    ("CNI_IFNAME", "a" * 16, ("CNI_IFNAME", "16 bytes")),
    ("CNI_IFNAME", "\u00e9" * 8, ("CNI_IFNAME", "16 bytes")),
    ("CNI_IFNAME", "a/b", ("CNI_IFNAME",)),
    ("CNI_IFNAME", "a:b", ("CNI_IFNAME",)),
    ("CNI_IFNAME", "a b", ("CNI_IFNAME",)),
    ("CNI_IFNAME", "eth0\n", ("CNI_IFNAME",)),
    ("CNI_IFNAME", "eth\u00a0", ("CNI_IFNAME",)),
    ("CNI_IFNAME", "x" * 100_000, ("CNI_IFNAME",)),
    ("CNI_ARGS", "a=b=c;;", ("CNI_ARGS", "'a=b=c'")),
    ("CNI_ARGS", "a", ("CNI_ARGS",)),
    ("CNI_ARGS", "=x", ("CNI_ARGS",)),
    ("CNI_ARGS", ";", ("CNI_ARGS",)),
    ("CNI_ARGS", "IgnoreUnknown=1;", ("CNI_ARGS",)),
    ("CNI_ARGS", "IgnoreUnknown=1;;K8S_POD_NAME=x", ("CNI_ARGS",)),
    ("CNI_ARGS", "IgnoreUnknown=1;IP=bogus", ("CNI_ARGS IP",)),
    ("CNI_ARGS", "IgnoreUnknown=1;IP=10.1.1.5/24,10.1.1.6/24", ("CNI_ARGS IP", "host-local")),
    ("CNI_ARGS", "x" * 100_000, ("CNI_ARGS",)),
]


def env_cases() -> list[Case]:
    """The variable changed, on a pod naming `good` (so an accepted request would attach something)."""
    return [
        Case(
            f"env/{index}-{name}",
            names,
            annotations={NETWORKS: GOOD},
            env={name: value},
            # A DEL of a container ID no ADD accepts has nothing to delete; the daemon still refuses it.
            del_succeeds=name != "CNI_COMMAND",
        )
        for index, (name, value, names) in enumerate(_ENV)
    ] + [
        Case(
            "env/CNI_PATH-without-plugins",
            ("CNI_PATH", "binDir", "bridge"),
            annotations={NETWORKS: GOOD},
            env={"CNI_PATH": "/nonexistent"},
            config={"binDir": "/nonexistent-bin"},
        ),
        Case(
            "env/K8S_POD_NAME-unknown",
            ("pod", "not found"),
            env={"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=no-such-pod"},
        ),
    ]


# the multus config on stdin -----------------------------------------------------------------------

_CONFIG: list[tuple[str, object, tuple[str, ...]]] = [
    ("cniVersion", 5, ("cniVersion",)),
    ("cniVersion", "x", ("cniVersion",)),
    ("cniVersion", "9.9.9", ("9.9.9",)),
    ("name", 5, ("name",)),
    ("kubeconfig", 5, ("kubeconfig",)),
    ("clusterNetwork", 5, ("clusterNetwork",)),
    ("clusterNetwork", "no-such-network", ("no-such-network",)),
    ("clusterNetwork", None, ("clusterNetwork", "delegates")),
    ("confDir", 5, ("confDir",)),
    ("cniDir", 5, ("cniDir",)),
    ("binDir", [], ("binDir",)),
    ("delegates", "x", ("delegates",)),
    ("delegates", [5], ("delegates",)),
    ("defaultNetworks", "x", ("defaultNetworks",)),
    ("defaultNetworks", [5], ("defaultNetworks",)),
    ("defaultNetworks", ["no-such-network"], ("no-such-network",)),
    ("multusNamespace", 5, ("multusNamespace",)),
    ("systemNamespaces", "x", ("systemNamespaces",)),
    ("namespaceIsolation", "yes", ("namespaceIsolation",)),
    ("globalNamespaces", 5, ("globalNamespaces",)),
    ("readinessindicatorfile", 5, ("readinessindicatorfile",)),
    ("readinessTimeoutSeconds", -1, ("readinessTimeoutSeconds",)),
    ("readinessTimeoutSeconds", "x", ("readinessTimeoutSeconds",)),
    ("logLevel", "loud", ("logLevel",)),
    ("logLevel", 5, ("logLevel",)),
    ("logToStderr", "yes", ("logToStderr",)),
    ("delegateTimeoutSeconds", 0, ("delegateTimeoutSeconds",)),
    ("delegateTimeoutSeconds", "x", ("delegateTimeoutSeconds",)),
    ("apiTimeouts", "x", ("apiTimeouts",)),
    ("apiTimeouts", {"requestSeconds": 0}, ("apiTimeouts", "requestSeconds")),
    ("apiTimeouts", {"retries": -1}, ("apiTimeouts", "retries")),
    ("apiTimeouts", {"bogus": 1}, ("apiTimeouts", "bogus")),
    ("deviceCheckpointFile", 5, ("deviceCheckpointFile",)),
    ("clusterFolder", 5, ("clusterFolder",)),
]

# Undecodable text: the msg names the stdin config, the details say why (not checked here).
_STDIN: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"\xff\xfe{}",
    b"\xef\xbb\xbf{}",
    b'{"cniVersion": NaN}',
    b'{"cniVersion": "1.0.0", "cniVersion": "1.0.0"}',
    b"[" * 10_000 + b"]" * 10_000,
]


def config_cases() -> list[Case]:
    cases = [
        Case(
            f"config/{index}-{key}",
            names,
            annotations={NETWORKS: GOOD},
            config={key: value},
            del_succeeds=False,
        )
        for index, (key, value, names) in enumerate(_CONFIG)
    ]
    cases += [
        Case(
            f"stdin/{index}",
            ("stdin",),
            annotations={NETWORKS: GOOD},
            stdin=data,
            thick=False,
            del_succeeds=False,
        )
        for index, data in enumerate(_STDIN)
    ]
    return cases


# raw requests to the daemon's socket --------------------------------------------------------------

_VERSION_STDIN = base64.b64encode(json.dumps({"cniVersion": "1.0.0", "name": "x"}).encode()).decode()


def _post(body: bytes, path: str = "/cni") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _wire(env: object, config: object = _VERSION_STDIN, **more: object) -> bytes:
    return json.dumps({"env": env, "config": config, **more}).encode()


_ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "mpyraw1",
    "CNI_NETNS": "/var/run/netns/none",
    "CNI_IFNAME": "eth0",
}

_RAW: list[tuple[str, bytes, int, tuple[str, ...]]] = [
    ("tls-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, ("not HTTP",)),
    ("binary", b"\x00\x01\x02\x03\r\n\r\n", 400, ("request line",)),
    ("garbage-line", b"GARBAGE\r\n\r\n", 400, ("request line",)),
    ("lowercase-method", b"post /cni HTTP/1.1\r\nHost: x\r\n\r\n", 400, ("request line",)),
    ("no-slash", b"POST cni HTTP/1.1\r\nHost: x\r\n\r\n", 400, ("request line",)),
    ("http2", b"POST /cni HTTP/2.0\r\nHost: x\r\n\r\n", 400, ("request line",)),
    ("long-method", b"A" * 40 + b" /cni HTTP/1.1\r\n\r\n", 400, ("request line",)),
    ("long-method-unended", b"A" * 40 + b" /cni HTTP/1.1\r\n", 400, ("not HTTP",)),
    ("no-host", b"POST /cni HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400, ("Host",)),
    ("header-no-colon", b"POST /cni HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n", 400, ("header line",)),
    ("header-bad-name", b"POST /cni HTTP/1.1\r\nHost: x\r\nbad name: 1\r\n\r\n", 400, ("header line",)),
    ("header-control", b"POST /cni HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, ("control character",)),
    (
        "length-text",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        400,
        ("Content-Length",),
    ),
    (
        "length-negative",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        400,
        ("Content-Length",),
    ),
    (
        "length-two",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
        ("Content-Length",),
    ),
    (
        "length-digits",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 30 + b"\r\n\r\n",
        400,
        ("Content-Length",),
    ),
    (
        "length-and-chunked",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
        ("Transfer-Encoding",),
    ),
    (
        "gzip",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        ("Transfer-Encoding",),
    ),
    ("too-large", b"POST /cni HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\n\r\n", 400, ("bytes",)),
    (
        "head-too-large",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
        400,
        ("larger than",),
    ),
    (
        "chunk-size",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        ("chunk size",),
    ),
    (
        "chunk-no-crlf",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
        400,
        ("CRLF",),
    ),
    ("no-such-path", _post(b"{}", "/nothing"), 404, ("/nothing",)),
    ("wrong-method", b"GET /cni HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, ("POST",)),
    ("body-not-json", _post(b"{"), 400, ("body",)),
    ("body-list", _post(b"[]"), 400, ("body",)),
    ("body-empty", _post(b""), 400, ("body",)),
    ("body-no-env", _post(json.dumps({"config": _VERSION_STDIN}).encode()), 400, ("env",)),
    ("body-no-config", _post(json.dumps({"env": _ADD_ENV}).encode()), 400, ("config",)),
    ("env-list", _post(_wire([])), 400, ("env",)),
    ("env-number-value", _post(_wire({**_ADD_ENV, "CNI_IFNAME": 5})), 400, ("CNI_IFNAME",)),
    ("env-null-value", _post(_wire({**_ADD_ENV, "CNI_NETNS": None})), 400, ("CNI_NETNS",)),
    ("config-not-base64", _post(_wire(_ADD_ENV, "!!!")), 400, ("config", "base64")),
    ("config-number", _post(_wire(_ADD_ENV, 5)), 400, ("config",)),
    ("config-garbage", _post(_wire(_ADD_ENV, base64.b64encode(b"{").decode())), 400, ("JSON",)),
    (
        "netns-nul",
        _post(_wire({**_ADD_ENV, "CNI_NETNS": "/var/run/netns/x\u0000y"})),
        400,
        ("CNI_NETNS", "NUL"),
    ),
    ("path-nul", _post(_wire({**_ADD_ENV, "CNI_PATH": "/opt/cni/bin\u0000"})), 400, ("CNI_PATH", "NUL")),
    ("args-nul", _post(_wire({**_ADD_ENV, "CNI_ARGS": "A=\u0000"})), 400, ("CNI_ARGS",)),
    ("ifname-nul", _post(_wire({**_ADD_ENV, "CNI_IFNAME": "e\u0000"})), 400, ("CNI_IFNAME",)),
    (
        "containerid-traversal",
        _post(_wire({**_ADD_ENV, "CNI_CONTAINERID": "../../x"})),
        400,
        ("CNI_CONTAINERID",),
    ),
    ("command-nul", _post(_wire({**_ADD_ENV, "CNI_COMMAND": "ADD\u0000"})), 400, ("CNI_COMMAND",)),
    ("command-missing", _post(_wire({"CNI_CONTAINERID": "x"})), 400, ("CNI_COMMAND",)),
    ("args-bad-pair", _post(_wire({**_ADD_ENV, "CNI_ARGS": "a=b=c;;"})), 400, ("CNI_ARGS",)),
    ("attributes-list", _post(_wire(_ADD_ENV, interfaceAttributes=[])), 400, ("interfaceAttributes",)),
    ("delegate-no-env", _post(json.dumps({"config": _VERSION_STDIN}).encode(), "/delegate"), 400, ("env",)),
    (
        "delegate-bad-config",
        _post(
            _wire(_ADD_ENV, base64.b64encode(b'{"name": "x", "type": "bridge", "ipam": "x"}').decode()),
            "/delegate",
        ),
        400,
        ("ipam",),
    ),
    (
        "delegate-bad-ipam",
        _post(
            _wire(
                _ADD_ENV,
                base64.b64encode(
                    json.dumps(
                        {
                            "cniVersion": "1.0.0",
                            "name": "x",
                            "type": "bridge",
                            "ipam": {"type": "host-local", "ranges": [[{"subnet": "bogus"}]]},
                        }
                    ).encode()
                ).decode(),
            ),
            "/delegate",
        ),
        400,
        ("ipam.ranges[0][0].subnet",),
    ),
    ("delegate-version", _post(_wire({"CNI_COMMAND": "VERSION"}), "/delegate"), 400, ("VERSION",)),
]


def raw_cases() -> list[RawCase]:
    cut_short = RawCase(
        "raw/truncated-body",
        b"POST /cni HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}",
        400,
        ("middle of a request",),
        half_close=True,
    )
    return [RawCase(f"raw/{name}", data, status, names) for name, data, status, names in _RAW] + [cut_short]
