"""The commands' flow without root: ADD, its undo, DEL and the recovery of lost records, driven with
the file-backed cluster view, the recording and failing fake plugins, and an in-memory namespace."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from multus.cni.errors import CNIError
from multus.k8s.status import NETWORK_STATUS_ANNOTATION
from multus.netns import Link
from multus.orchestrator import run_command
from tests.unit.orchestrator.node import Node, recording


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path, {"blue": recording(tmp_path / "calls.jsonl", "net1", "192.168.1.7/24")}, "blue")


@pytest.fixture
def failing_node(tmp_path: Path) -> Node:
    return Node(tmp_path, {"blue": {"type": "fake-fail", "failOn": ["ADD"]}}, "blue")


def test_add_attaches_every_network_and_del_removes_them_in_reverse(node: Node) -> None:
    reply = node.run("ADD")

    assert reply is not None
    assert [ip["address"] for ip in reply["ips"]] == ["10.0.0.5/24"]
    assert node.plugin_calls() == [("ADD", "eth0"), ("ADD", "net1")]
    status = json.loads(node.view.network_status("shop", "web") or "[]")
    assert [(entry["name"], entry["interface"], entry["ips"]) for entry in status] == [
        ("cluster", "eth0", ["10.0.0.5"]),
        ("shop/blue", "net1", ["192.168.1.7"]),
    ]
    assert node.events() == [("Normal", "AddedInterface")] * 2
    assert node.files_left()  # the record and both cached results

    assert node.run("DEL") is None
    assert node.plugin_calls()[2:] == [("DEL", "net1"), ("DEL", "eth0")]
    assert node.files_left() == []


def test_a_failed_add_undoes_the_attachments_it_made(failing_node: Node) -> None:
    with pytest.raises(CNIError, match="failed on purpose"):
        failing_node.run("ADD")

    assert failing_node.plugin_calls() == [("ADD", "eth0"), ("DEL", "eth0")]
    assert failing_node.files_left() == []
    assert failing_node.events() == [
        ("Warning", "FailedAddingInterfaces"),
        ("Warning", "AttachmentsRolledBack"),
    ]
    assert failing_node.view.events[-1]["message"] == (
        "rolled back after the failed ADD: eth0 (cluster), net1 (shop/blue)"
    )
    assert failing_node.view.network_status("shop", "web") is None


def test_replying_first_defers_the_bookkeeping_and_the_report(node: Node) -> None:
    scope = node.scope("ADD", replies_first=True)

    asyncio.run(run_command(scope, node.parts(scope)))

    assert node.view.network_status("shop", "web") is None
    bookkeeping, reports = scope.take_bookkeeping(), scope.take_reports()
    assert bookkeeping
    assert len(reports) == 1
    for step in bookkeeping:
        step()

    async def report() -> None:
        await reports[0]

    asyncio.run(report())
    assert NETWORK_STATUS_ANNOTATION in (node.view.pods[("shop", "web")]["metadata"]["annotations"])
    node.run("DEL")
    assert node.files_left() == []


def test_del_recovers_a_lost_record_from_the_result_cache(node: Node) -> None:
    node.run("ADD")
    for record in (node.root / "records").rglob("*"):
        if record.is_file():
            record.unlink()

    node.run("DEL")

    assert sorted(node.plugin_calls()[2:]) == [("DEL", "eth0"), ("DEL", "net1")]
    assert node.files_left() == []


def test_del_rebuilds_from_the_pod_when_record_and_cache_are_lost(node: Node) -> None:
    node.run("ADD")
    for path in node.files_left():
        (node.root / path).unlink()
    node.namespace.links = {name: Link(name, None, 1500) for name in ("lo", "eth0", "net1")}

    node.run("DEL")

    assert node.plugin_calls()[2:] == [("DEL", "net1"), ("DEL", "eth0")]
    assert ("Warning", "AttachmentsRebuilt") in node.events()
    assert node.files_left() == []


def test_the_runtimes_second_del_runs_no_delegate(node: Node) -> None:
    node.run("ADD")
    node.run("DEL")
    calls = node.plugin_calls()

    node.run("DEL")

    assert node.plugin_calls() == calls
    assert node.files_left() == []
