"""Every bad input ends in a CNI error JSON that names the problem, a non-zero exit, no traceback, no
network-status, and nothing left behind; a failed ADD undoes its attachments in reverse order. The
runtime's DEL after a failed ADD succeeds too."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from tests.e2e.meta.runtime import DEFAULT_NETWORK, NETWORKS, Reply, Runtime, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def assert_clean_failure(
    rt: Runtime, reply: Reply, code: int, *fragments: str, keep: tuple[str, ...] = ()
) -> None:
    error = reply.error(code)
    for fragment in fragments:
        assert fragment in error["msg"], error
    assert rt.network_status() is None
    assert rt.leftovers(keep_links=keep) == []
    rt.delete()  # the runtime's DEL after a failed ADD
    assert rt.leftovers(keep_links=keep) == []


# (annotations, multus config overrides, code, fragments of the message); "{ns}" is the pod's namespace,
# "{other}" a second namespace holding a copy of NAD `blue`.
ANNOTATION_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], int, tuple[str, ...]]] = {
    "comma-form-empty-item": ({NETWORKS: "blue,,blue"}, {}, 102, (NETWORKS, "element 1 is empty")),
    "comma-form-two-slashes": ({NETWORKS: "a/b/blue"}, {}, 102, (NETWORKS, "more than one '/'")),
    "json-form-not-json": ({NETWORKS: '[{"name": "blue"'}, {}, 102, (NETWORKS,)),
    "json-form-bad-field": ({NETWORKS: '[{"name": "blue", "ips": "10.0.0.1"}]'}, {}, 102, (NETWORKS, "ips")),
    "default-network-two-entries": (
        {DEFAULT_NETWORK: "blue,blue"},
        {},
        102,
        (DEFAULT_NETWORK, "exactly one"),
    ),
    "nad-missing": ({NETWORKS: "absent"}, {}, 103, ("{ns}/absent", "not found")),
    "nad-config-not-json": ({NETWORKS: "not-json"}, {}, 7, ("{ns}/not-json", "spec.config")),
    "nad-config-no-type": ({NETWORKS: "no-type"}, {}, 7, ("{ns}/no-type", "neither 'type'")),
    "nad-config-bad-version": ({NETWORKS: "blue,bad-version"}, {}, 7, ("{ns}/bad-version", "banana")),
    "nad-config-bad-name": ({NETWORKS: "blue,bad-name"}, {}, 7, ("{ns}/bad-name", "not a/name")),
    "nad-elsewhere-under-isolation": (
        {NETWORKS: "{other}/blue"},
        {"namespaceIsolation": True},
        104,
        ("isolation", "{other}/blue"),
    ),
    "interface-name-twice": ({NETWORKS: "blue@same,blue@same"}, {}, 105, ("'same'", "both")),
    "two-ecmp-default-routes": (
        {NETWORKS: json.dumps([{"name": "blue", "default-route": ["{gw}"]}] * 2)},
        {},
        102,
        ("default-route", "at most one"),
    ),
    "default-route-gateway-unreachable": (
        {NETWORKS: '[{"name": "blue", "default-route": ["192.0.2.1"]}]'},
        {},
        5,
        ("default route via 192.0.2.1 on net1",),
    ),
    "capability-not-declared": (
        {NETWORKS: '[{"name": "blue", "portMappings": [{"hostPort": 20080, "containerPort": 80}]}]'},
        {},
        2,
        ("portMappings", "capabilities"),
    ),
    "delegate-binary-missing": (
        {NETWORKS: "blue,no-binary"},
        {},
        50,
        ("{ns}/no-binary", '"mpy-no-such-plugin" not found'),
    ),
    "ipam-binary-missing": (
        {NETWORKS: "blue,no-ipam"},
        {},
        50,
        ("{ns}/no-ipam", '"mpy-no-such-ipam" not found'),
    ),
}


@pytest.mark.parametrize("case", ANNOTATION_CASES)
def test_bad_selection_fails_cleanly(rt: Runtime, case: str) -> None:
    annotations, overrides, code, fragments = ANNOTATION_CASES[case]
    other = rt.make_namespace()
    blue = rt.bridge_net("blue", default_route=False)
    for namespace in (rt.namespace, other):
        rt.nad("blue", blue.config, namespace=namespace)
    rt.nad("not-json", "{not json")
    rt.nad("no-type", json.dumps({"cniVersion": "1.1.0", "bridge": "x"}))
    rt.nad("no-binary", {"cniVersion": "1.1.0", "type": "mpy-no-such-plugin"})
    rt.nad("no-ipam", {"cniVersion": "1.1.0", "type": "bridge", "ipam": {"type": "mpy-no-such-ipam"}})
    rt.nad("bad-version", {**blue.config, "cniVersion": "banana"})
    rt.nad("bad-name", {**blue.config, "name": "not a/name"})

    def fill(text: str) -> str:
        return text.replace("{ns}", rt.namespace).replace("{other}", other).replace("{gw}", blue.gateway)

    rt.pod(annotations={key: fill(value) for key, value in annotations.items()})
    reply = rt.run("ADD", config=rt.multus_config(**overrides))

    assert_clean_failure(rt, reply, code, *(fill(fragment) for fragment in fragments))


def test_missing_nad_is_reported_as_a_warning_event(rt: Runtime) -> None:
    rt.pod("absent")

    assert_clean_failure(rt, rt.run("ADD"), 103, f"{rt.namespace}/absent")

    assert [(kind, reason) for kind, reason, _ in rt.events()] == [("Warning", "NoNetworkFound")]


def test_interface_name_already_in_the_netns_fails_cleanly(rt: Runtime) -> None:
    blue = rt.bridge_net("blue", default_route=False)
    rt.nad("blue", blue.config)
    box = rt.pod("blue")
    with IPRoute(netns=box.netns_name, flags=0) as ipr:
        ipr.link("add", ifname="net1", kind="veth", peer={"ifname": "net1-peer"})

    reply = rt.run("ADD")

    assert_clean_failure(rt, reply, 105, "'net1'", "already exists", keep=("net1", "net1-peer"))


def test_third_of_three_delegates_failing_undoes_the_others_in_reverse(rt: Runtime) -> None:
    record = rt.root / "record.jsonl"
    recorder = {"type": "fake-record", "recordFile": str(record)}
    rt.cluster.config["plugins"].append(recorder)
    rt.write_conf("10-cluster.conflist", rt.cluster.config)
    blue = rt.bridge_net("blue", default_route=False, after=[recorder])
    rt.nad("blue", blue.config)
    failing = [{**recorder, "result": {"cniVersion": "1.1.0"}}, {"type": "fake-fail", "failOn": ["ADD"]}]
    rt.nad("failing", {"cniVersion": "1.1.0", "plugins": failing})
    rt.pod("blue,failing")

    reply = rt.run("ADD")

    error = reply.error(111)  # the delegate's own code
    assert "fake-fail" in error["msg"]
    assert "failing" in error["msg"]
    assert "failed on purpose" in error["msg"]
    assert recorded_runs(record) == [
        ("ADD", "eth0"),
        ("ADD", "net1"),
        ("ADD", "net2"),
        ("DEL", "net2"),
        ("DEL", "net1"),
        ("DEL", "eth0"),
    ]
    assert ("Warning", "FailedAddingInterfaces") in [(kind, reason) for kind, reason, _ in rt.events()]
    assert (rt.ipam_dir / "blue").is_dir()  # addresses were taken, then released
    assert_clean_failure(rt, reply, 111)


def recorded_runs(record: Path) -> list[tuple[str, str]]:
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    return [(line["command"], line["env"]["CNI_IFNAME"]) for line in lines]


def test_api_server_unreachable_during_add_fails_with_106(rt: Runtime) -> None:
    rt.pod()

    reply = rt.run("ADD", config=rt.multus_config(kubeconfig=str(rt.dead_kubeconfig())))

    assert_clean_failure(rt, reply, 106, f"pod {rt.namespace}/{rt.sandbox.pod_name}")


def test_pod_missing_from_the_api_fails_with_unknown_container(rt: Runtime) -> None:
    rt.pod()
    rt.delete_pod_object()

    reply = rt.run("ADD")

    reply.error(3)
    assert rt.leftovers() == []
    rt.delete()
    assert rt.leftovers() == []


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"CNI_NETNS": None}, "CNI_NETNS is required"),
        ({"CNI_IFNAME": "eth0/x"}, "CNI_IFNAME"),
        ({"CNI_IFNAME": "an-interface-name-too-long"}, "CNI_IFNAME"),
        ({"CNI_CONTAINERID": "-leading-dash"}, "CNI_CONTAINERID"),
        ({"CNI_ARGS": "IgnoreUnknown=1;no-equals-sign"}, "CNI_ARGS"),
        ({"CNI_COMMAND": "JUMP"}, "CNI_COMMAND"),
    ],
)
def test_bad_cni_environment_fails_with_code_4(
    rt: Runtime, variables: dict[str, str | None], fragment: str
) -> None:
    rt.pod()

    error = rt.run("ADD", env=variables).error(4)

    assert fragment in error["msg"]
    assert rt.leftovers() == []


def test_netns_that_does_not_exist_fails_cleanly(rt: Runtime) -> None:
    rt.pod()

    error = rt.run("ADD", env={"CNI_NETNS": "/var/run/netns/mpy-no-such-netns"}).error(5)

    assert "/var/run/netns/mpy-no-such-netns" in error["msg"]
    assert rt.leftovers() == []


@pytest.mark.timeout(60)  # an open() blocked on the FIFO never returns: the timeout is the failure
def test_netns_that_is_a_fifo_is_refused_without_blocking_and_its_del_succeeds(
    rt: Runtime, tmp_path: Path
) -> None:
    rt.pod()
    fifo = tmp_path / "netns-fifo"
    os.mkfifo(fifo)

    error = rt.run("ADD", env={"CNI_NETNS": str(fifo)}).error(4)

    assert f"CNI_NETNS: {fifo} is not a network namespace" in error["msg"]
    rt.delete(env={"CNI_NETNS": str(fifo)})  # the runtime's DEL after a failed ADD: nothing to undo
    assert rt.leftovers() == []


@pytest.mark.parametrize(
    ("stdin", "code", "fragment"),
    [
        (b'{"cniVersion": "1.1.0", "name": ', 6, "not valid JSON"),
        (b"[1, 2]", 7, "JSON object"),
        # The rest: a complete config with one key spoiled, so only that key can be the reason.
        ({"delegateTimeoutSeconds": -1}, 7, "delegateTimeoutSeconds"),
        ({"apiTimeouts": {"retries": -1}}, 7, "apiTimeouts.retries"),
        ({"logLevel": "loud"}, 7, "logLevel"),
        ({"cniVersion": "banana"}, 7, "cniVersion 'banana'"),
        ({"cniVersion": "9.9.9"}, 1, "cniVersion '9.9.9' is not supported"),
    ],
)
def test_bad_stdin_config_fails_with_a_named_problem(
    rt: Runtime, stdin: bytes | dict[str, Any], code: int, fragment: str
) -> None:
    rt.pod()
    body = stdin if isinstance(stdin, bytes) else json.dumps(rt.multus_config(**stdin)).encode()

    error = rt.run("ADD", stdin=body).error(code)

    assert fragment in error["msg"]
    assert rt.leftovers() == []


def test_readiness_file_that_never_appears_fails_with_try_again_later(rt: Runtime) -> None:
    rt.pod()
    indicator = rt.root / "ready"
    config = rt.multus_config(readinessindicatorfile=str(indicator), readinessTimeoutSeconds=0.3)

    assert_clean_failure(rt, rt.run("ADD", config=config), 11, str(indicator))


def test_hung_delegate_is_killed_after_delegate_timeout_seconds(rt: Runtime) -> None:
    pid_file = rt.root / "hang.pid"
    rt.nad("hangs", {"cniVersion": "1.1.0", "type": "fake-hang", "pidFile": str(pid_file)})
    rt.pod("hangs")
    config = rt.multus_config(delegateTimeoutSeconds=1)

    error = rt.run("ADD", config=config).error(101)

    assert "network 'hangs'" in error["msg"]
    assert "did not finish within 1 s" in error["msg"]
    processes = [Path(f"/proc/{pid}") for pid in pid_file.read_text().split()]  # the plugin, its helper
    wait_for(lambda: not any(process.exists() for process in processes), timeout=10)
    assert "eth0" not in rt.links()  # the cluster network was undone
    # The hung attachment's own DEL (part of the undo) timed out as well: it stays on record, so the
    # runtime's DEL reports it rather than pretending it is gone.
    record = json.loads(rt.cache_file().read_text())
    assert [entry["ifname"] for entry in record["attachments"]] == ["net1"]
    rt.run("DEL", config=config).error(101)


@pytest.mark.parametrize("kubeconfig", ["missing", "garbage"])
def test_unusable_kubeconfig_fails_add_with_invalid_config(rt: Runtime, kubeconfig: str) -> None:
    rt.pod()
    path = rt.root / "unusable-kubeconfig"
    if kubeconfig == "garbage":
        path.write_text("{not: [yaml")

    error = rt.run("ADD", config=rt.multus_config(kubeconfig=str(path))).error(7)

    assert str(path) in error["msg"]
    assert rt.leftovers() == []
